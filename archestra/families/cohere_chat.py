"""The Cohere v2 chat upstream codec (``COHERE``): the Model Router's requests to Cohere ``/v2/chat`` and the
answers, streams and errors back (provider-wire-formats.md section 4).

The request writer is ``cohere_chat_request`` (with :data:`DROPPED_FIELDS` and :data:`CLAMPED_FIELDS`), the answer reader
``cohere_chat_answer`` and the stream reader ``cohere_chat_stream``; this module puts them behind the
:class:`~.codec.UpstreamCodec` interface and reads error answers.

Cohere answers carry no model id: ``ChatAnswer.model`` / ``StreamStart.model`` are empty, for the router to
fill in with the model it asked for.
"""
from __future__ import annotations

import json
from typing import Any

from .cohere_chat_answer import read_answer
from .cohere_chat_request import CLAMPED_FIELDS, DROPPED_FIELDS, write_request
from .cohere_chat_stream import CohereStreamReader
from .neutral import ChatAnswer, ChatRequest, UpstreamError

__all__ = ["CLAMPED_FIELDS", "COHERE", "CohereChat", "DROPPED_FIELDS"]

#: Cohere's statuses (``cohere/v2/raw_client.py``: 498 invalid token, 499 client closed) -> neutral error kinds.
_KINDS = {400: "invalid_request", 422: "invalid_request", 401: "authentication", 498: "authentication",
          402: "permission", 403: "permission", 404: "not_found", 429: "rate_limit", 503: "overloaded"}
_MAX_MESSAGE = 2000  # a non-JSON error body is quoted, cut to this many characters


class CohereChat:
    name = "cohere_chat"

    def write_request(self, request: ChatRequest) -> dict[str, Any]:
        return write_request(request)

    def path(self, model: str, stream: bool) -> tuple[str, str]:
        """Streamed or not, Cohere takes one path (``"stream"`` is in the body); the Cohere provider's route
        table serves ``v2/chat`` as its chat route."""
        return "v2/chat", ""

    def read_answer(self, body: dict[str, Any]) -> ChatAnswer:
        return read_answer(body)

    def stream_reader(self) -> CohereStreamReader:
        return CohereStreamReader()

    def read_error(self, status: int, body: bytes) -> UpstreamError:
        """Cohere's error body is ``{"id": ..., "message": ...}``; anything else is quoted as text."""
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        message = data.get("message") if isinstance(data, dict) else None
        if not isinstance(message, str) or not message:
            message = body.decode("utf-8", "replace").strip()[:_MAX_MESSAGE] or f"Cohere answered {status}"
        return UpstreamError(status, message, _KINDS.get(status, "api_error"))


COHERE = CohereChat()
