"""Gemini's JSON, read and written under either field spelling (lowerCamel or snake_case)."""
from __future__ import annotations

import json
import re
from typing import Any

from ..exchange import Response, ToolCall, Usage
from .content import parts_text, set_parts_text  # noqa: F401  (re-exported for gemini.py)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` under its lowerCamel or snake_case spelling."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(name)
    return value if value is not None else obj.get(_snake(name))


def key_of(obj: dict[str, Any], name: str) -> str:
    """The spelling of ``name`` the client used (lowerCamel when absent)."""
    return _snake(name) if _snake(name) in obj and name not in obj else name


def function_calls(parts: Any) -> list[ToolCall]:
    calls = []
    for part in parts or ():
        call = field(part, "functionCall")
        if isinstance(call, dict):
            args = call.get("args") or {}
            calls.append(ToolCall(call.get("id"), str(call.get("name", "")), args, json.dumps(args)))
    return calls


def response_view(data: dict[str, Any]) -> Response:
    candidates = data.get("candidates") or []
    first = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    parts = (field(first, "content") or {}).get("parts")
    usage = field(data, "usageMetadata") or {}
    output = field(usage, "candidatesTokenCount")
    thoughts = field(usage, "thoughtsTokenCount")
    if output is not None and thoughts:
        output += thoughts
    return Response(text=parts_text(parts) or "", tool_calls=function_calls(parts),
                    finish_reason=field(first, "finishReason"),
                    usage=Usage(field(usage, "promptTokenCount"), output), model=field(data, "modelVersion"))


def refuse_candidate(candidate: dict[str, Any], text: str) -> None:
    candidate[key_of(candidate, "content")] = {"role": "model", "parts": [{"text": text}]}
    candidate[key_of(candidate, "finishReason")] = "STOP"
    candidate.pop("finishMessage", None)
    candidate.pop("finish_message", None)
