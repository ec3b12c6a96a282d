"""Google's error bodies (``google.rpc.Status`` as JSON, provider-wire-formats.md 3.6) in neutral terms."""
from __future__ import annotations

import json
from typing import Any

from .neutral import UpstreamError

#: google.rpc.Code names -> the neutral kinds.
_KINDS = {"INVALID_ARGUMENT": "invalid_request", "FAILED_PRECONDITION": "invalid_request",
          "OUT_OF_RANGE": "invalid_request", "UNAUTHENTICATED": "authentication", "PERMISSION_DENIED": "permission",
          "NOT_FOUND": "not_found", "RESOURCE_EXHAUSTED": "rate_limit", "UNAVAILABLE": "overloaded"}
_BY_STATUS = {400: "invalid_request", 401: "authentication", 403: "permission", 404: "not_found",
              429: "rate_limit", 503: "overloaded"}


def error_of(body: Any) -> dict[str, Any] | None:
    """The ``error`` object of ``{"error": {...}}``, or of a JSON list wrapping it (the streamed JSON array)."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return None


def error_message(body: Any) -> str | None:
    """The message of an error payload met mid-stream (with its status: a stream error has no kind), None for
    any other payload."""
    error = error_of(body)
    if error is None:
        return None
    status = error.get("status")
    return f"{status}: {_message(error)}" if isinstance(status, str) and status else _message(error)


def read_error(status: int, body: bytes) -> UpstreamError:
    try:
        error = error_of(json.loads(body))
    except ValueError:
        error = None
    if error is None:
        text = body.decode("utf-8", "replace").strip()[:500]
        return UpstreamError(status, text or f"HTTP {status}", _BY_STATUS.get(status, "api_error"))
    kind = _KINDS.get(str(error.get("status")), _BY_STATUS.get(status, "api_error"))
    return UpstreamError(status, _message(error), kind)


def _message(error: dict[str, Any]) -> str:
    message = error.get("message")
    return message if isinstance(message, str) and message else "Gemini reported an error"
