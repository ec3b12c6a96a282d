"""How the proxy reads Ollama's native API (``/api/chat``, ``/api/generate``; provider-wire-formats.md section 11):
its declared table, and the reading of an answer (a whole answer, or one NDJSON line of a stream: both have the
same shape) that the family and its stream relay share.

Places: ``chat:`` / ``generate:`` are the top-level keys of a request or an answer of each endpoint, ``role:`` and
``field:`` a chat message's role and keys, ``tool:`` a declared tool's type, ``tool_call:`` / ``function:`` the
keys of an answer's tool call entry and of its ``function``. A tool call's ``arguments`` is a JSON object, and a
call arrives whole in one answer or line.
"""
from __future__ import annotations

from typing import Any

from ..exchange import ToolCall, Usage
from .chat_context import empty
from .shapes import FamilyTable, Reading, refused_reason, unseen_reason
from .wire import compact_json, parse_arguments

FAMILY = "Ollama native API"
_I, _C, _R, _U, _O = Reading.INERT, Reading.CALL, Reading.RESULT, Reading.UNSEEN, Reading.OPAQUE
#: Request keys both endpoints take: knobs and formats, no content.
_KNOBS = ("model", "stream", "format", "options", "keep_alive", "think", "truncate", "shift", "logprobs",
          "top_logprobs")
#: Answer keys both endpoints send besides their content: metadata, durations and token counts.
_META = ("model", "created_at", "done", "done_reason", "total_duration", "load_duration", "prompt_eval_count",
         "prompt_eval_duration", "eval_count", "eval_duration", "logprobs", "remote_model", "remote_host")

TABLE = FamilyTable(
    FAMILY,
    request={
        **{f"{endpoint}:{key}": _O for endpoint in ("chat", "generate") for key in _KNOBS},
        "chat:messages": _I, "chat:tools": _I,
        "generate:prompt": _I, "generate:suffix": _I, "generate:system": _I, "generate:images": _I,
        "generate:raw": _O, "generate:context": _U, "generate:template": _U,
        "generate:width": _O, "generate:height": _O, "generate:steps": _O,
        "role:system": _I, "role:user": _I, "role:assistant": _I, "role:tool": _R,
        "field:role": _O, "field:content": _I, "field:thinking": _I, "field:images": _I, "field:tool_calls": _C,
        "field:tool_name": _O, "field:tool_call_id": _O,
        "tool:function": _I,
    },
    answer={
        **{f"{endpoint}:{key}": _O for endpoint in ("chat", "generate") for key in _META},
        "chat:message": _I,
        "generate:response": _I, "generate:thinking": _I, "generate:context": _O, "generate:image": _I,
        "generate:completed": _O, "generate:total": _O,
        "field:role": _O, "field:content": _I, "field:thinking": _I, "field:tool_calls": _C,
        "tool_call:function": _C, "tool_call:id": _O, "tool_call:type": _O,
        "function:name": _O, "function:arguments": _C, "function:index": _O,
    },
    events={"event:line": Reading.READ, "event:done": Reading.READ, "event:error": Reading.READ},
    unknown_event=Reading.REFUSED,
    notes={
        "chat:messages": "read by the `role:` and `field:` rows; a request key not listed is unseen context when "
                         "its value holds text (a number or a boolean carries none)",
        "role:tool": "tied to a call by its `tool_call_id` when it names a pending call, else by `tool_name`: "
                     "two pending calls of that name make it ambiguous (no tool's trust)",
        "field:images": "inline base64 images", "generate:images": "inline base64 images",
        "generate:context": "in a request, the token ids of an earlier answer (the proxy cannot read them); "
                            "in an answer, those ids",
        "generate:template": "a prompt template the model's prompt is built from, outside the messages hooks read",
        "generate:image": "an image-generation model's output image (base64)",
        "tool_call:id": "other keys of a tool call, or of its `function`, are refused",
        "event:line": "an NDJSON line (`done: false`); its keys are read by the `chat:` / `generate:` rows, and "
                      "one not listed cuts the stream",
        "event:done": "the last line (`done: true`): the token counts `prompt_eval_count` / `eval_count`",
        "event:error": "`{\"error\": ...}`: the upstream's error mid-stream, relayed (the client raises it)",
    },
)
TABLES = [TABLE]


def refused_keys(endpoint: str, data: dict[str, Any]) -> list[str]:
    """The keys of an answer (or stream line) of ``endpoint`` the table does not hold, that carry something."""
    known = TABLE.place("answer", endpoint)
    return [key for key, value in data.items() if key not in known and not empty(value)]


def unseen_keys(endpoint: str, body: dict[str, Any]) -> list[str]:
    """``Exchange.unseen_context`` entries for the request keys the proxy cannot read: those the table reads as
    unseen, and those it does not hold whose value holds text (a number or a boolean carries no content)."""
    known = TABLE.place("request", endpoint)
    return [unseen_reason(FAMILY, "request field", key) for key, value in body.items()
            if (known[key] is Reading.UNSEEN and not empty(value) if key in known else _holds_text(value))]


def _holds_text(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return bool(value)
    if depth > 32:
        return True
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(_holds_text(item, depth + 1) for item in items)


def answer_calls(message: Any) -> list[ToolCall]:
    """The calls of an answer's ``message``, and a refused call for each message key, tool call key or
    ``function`` key the table does not hold."""
    if not isinstance(message, dict):
        raise TypeError("an answer's message is not an object")
    refused = [("message field", key) for key, value in message.items()
               if TABLE.in_answer("field", key) is Reading.REFUSED and not empty(value)]
    raw_calls = message.get("tool_calls")
    if raw_calls is not None and not isinstance(raw_calls, list):
        raise TypeError("tool_calls is not an array")
    calls = [tool_call(raw) for raw in raw_calls or ()]
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        refused.append(("content", type(content).__name__))
    return calls + [ToolCall(None, str(key), message, compact_json(message),
                             refuse=refused_reason(FAMILY, where, key)) for where, key in refused]


def tool_call(raw: Any) -> ToolCall:
    """One tool call entry, ``{"id"?, "function": {"index"?, "name", "arguments": {...}}}``: refused (``refuse``)
    when it holds a key the table does not hold."""
    if not isinstance(raw, dict) or not isinstance(raw.get("function"), dict):
        shown = compact_json(raw)
        return ToolCall(None, "", raw, shown, refuse=refused_reason(FAMILY, "tool call", type(raw).__name__))
    function = raw["function"]
    call_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    name = function.get("name")
    arguments, text = parse_arguments(function.get("arguments", {}))
    unknown = [("tool call field", key) for key, value in raw.items()
               if TABLE.in_answer("tool_call", key) is Reading.REFUSED and not empty(value)]
    unknown += [("tool call function field", key) for key, value in function.items()
                if TABLE.in_answer("function", key) is Reading.REFUSED and not empty(value)]
    if not isinstance(name, str):
        unknown.append(("tool call name", type(name).__name__))
    refuse = refused_reason(FAMILY, *unknown[0]) if unknown else None
    return ToolCall(call_id, name if isinstance(name, str) else "", arguments, text, refuse=refuse)


def usage(data: dict[str, Any]) -> Usage:
    """The token counts of an answer (or of a stream's last line)."""
    return Usage(_count(data.get("prompt_eval_count")), _count(data.get("eval_count")))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
