"""Cohere Chat v2 (provider-wire-formats.md section 4).

Requests share OpenAI's shape (roles, ``tool_calls`` with JSON-string arguments, ``role: tool`` results,
``tools[].function``), so the request side is the OpenAI adapter's, read by Cohere's own table (``TABLE``);
answers and streams are Cohere's own. The request-level ``documents`` are results of the pseudo-tool
``documents``. The official SDK routes stream events by the ``type`` inside their data, and reads an event
without one as whichever event its shape fits (a tool call start included): such an event, and one of a type
the table does not hold, cuts the stream.
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Iterable

from ..exchange import ClientInfo, Exchange, ProfileInfo, Response, ToolCall, Usage
from ..proxy_error import ProxyError
from ..routing import Route
from ..streaming.sse import SSEEvent, encode_event
from ..strict_json import loads_plain
from .chat_completions import ChatCompletions
from .chat_context import empty
from .content import content_text
from .held import HoldingRelay
from .key_formats import UNDOCUMENTED
from .openai_calls import answer_calls, message_calls
from .openai_compat import OpenAICompatibleProvider
from .shapes import FamilyTable, Reading, refused_reason
from .wire import CallNames, compact_json

_I, _C, _R, _U, _O = Reading.INERT, Reading.CALL, Reading.RESULT, Reading.UNSEEN, Reading.OPAQUE
_FIELDS = {"field:role": _O, "field:content": _I, "field:tool_plan": _I, "field:tool_calls": _C,
           "field:citations": _I}
TABLE = FamilyTable(
    "Cohere v2 chat",
    request={
        "role:system": _I, "role:user": _I, "role:assistant": _I, "role:tool": _R,
        **_FIELDS, "field:tool_call_id": _O,
        "content:text": _I, "content:image_url": _I, "content:document": _I, "content:thinking": _I,
        "url:data": _I, "url:http": _U, "url:https": _U,
        "tool:function": _I,
        "request:documents": _R,
    },
    answer={
        **_FIELDS, "tool_call:function": _C, "call_field:id": _O, "call_field:type": _O,
        "content:text": _I, "content:thinking": _I,
        "start:role": _O, "start:content": _I, "start:tool_plan": _I, "start:citations": _I,
    },
    events={f"event:{name}": Reading.READ for name in (
        "message-start", "content-start", "content-delta", "content-end", "tool-plan-delta", "tool-call-start",
        "tool-call-delta", "tool-call-end", "citation-start", "citation-end", "message-end")}
    | {"event:debug": Reading.SKIPPED},
    unknown_event=Reading.REFUSED,
    notes={
        "role:tool": "tied to the one call its `tool_call_id` names; `document` parts are judged with it",
        "content:image_url": "its URL is read by the `url:` rows",
        "content:document": "a tool result's document: its `data` is text the model reads",
        "request:documents": "grounding documents: results of the pseudo-tool `documents`",
        "start:role": "fields of `message-start`: a call there (the SDK would hand it over) cuts the stream",
        "event:debug": "the prompt as the model saw it: no content of the answer",
    },
)
TABLES = [TABLE]


def _calls(raw_calls: Any) -> list[ToolCall]:
    return message_calls({"tool_calls": raw_calls}, TABLE)


def _usage(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    tokens = usage.get("tokens") or usage.get("billed_units") or {}
    return Usage(tokens.get("input_tokens"), tokens.get("output_tokens"))


def cohere_error(error: ProxyError) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "message": error.message}


class CohereChat(ChatCompletions):
    """Cohere v2 chat: chat completions' request side read by Cohere's table; its own answers and streams."""

    def __init__(self, provider: str = "cohere") -> None:
        # usage always comes in message-end: never asked for
        super().__init__(provider, chat_path="v2/chat", usage_on_request=False, table=TABLE, errors=cohere_error)

    def documents_written(self, content: str) -> list[Any]:
        return [content]  # a document may be a plain string

    def tool_result_text(self, content: Any) -> str:
        """Cohere tool results may hold ``document`` parts whose ``data`` is the result as JSON text."""
        if isinstance(content, list):
            pieces = []
            for part in content:
                if isinstance(part, dict) and part.get("type") == "document":
                    data = (part.get("document") or {}).get("data")
                    pieces.append(data if isinstance(data, str) else json.dumps(data))
                elif isinstance(part, dict) and part.get("type") == "text":
                    pieces.append(part.get("text", ""))
            return "\n".join(pieces)
        return super().tool_result_text(content)

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        exchange = super().parse_request(body, route, profile, client)
        names = CallNames()
        for raw in body["messages"]:
            for call in _calls(raw.get("tool_calls")):
                names.add(call.id, call.name)
        for message in exchange.messages:
            raw = body["messages"][message._ref] if isinstance(message._ref, int) else {}
            if raw.get("role") != "tool":
                continue
            for result in message.tool_results:
                # Tied to the one call its id names (never to a name the client writes next to it), and
                # judged whole: every document and text block of the content.
                result.name = names.name(raw.get("tool_call_id"))
                if isinstance(raw.get("content"), list):
                    result.document = raw["content"]
        return exchange

    def parse_response(self, data: Any, exchange: Exchange) -> Response:
        message = data.get("message") if isinstance(data.get("message"), dict) else {}
        return Response(text=content_text(message.get("content")) or "",
                        tool_calls=answer_calls(message, "field", TABLE),
                        finish_reason=data.get("finish_reason"), usage=_usage(data.get("usage")),
                        model=exchange.model if exchange else None)

    def tool_call_groups(self, data: Any) -> list[tuple[Any, list[ToolCall]]]:
        message = data.get("message") if isinstance(data.get("message"), dict) else {}
        calls = answer_calls(message, "field", TABLE)
        return [(None, calls)] if calls else []

    def refuse_response(self, data: dict[str, Any], key: Any, text: str) -> None:
        data["message"] = {"role": "assistant", "content": [{"type": "text", "text": text}], "citations": []}
        data["finish_reason"] = "COMPLETE"

    def stream_relay(self, exchange: Exchange, decide: Any) -> "CohereStreamRelay":
        return CohereStreamRelay(exchange, decide)


def _check(kind: str, message: Any) -> None:
    """Refuse (cut the stream at) an event part the table does not hold, before it could pass."""
    if not isinstance(message, dict):
        raise ValueError(f"a {kind} event whose message is not an object")
    if kind == "message-start":
        refused = [key for key, value in message.items() if not empty(value)
                   and TABLE.in_answer("start", key) is Reading.REFUSED]
        if refused:
            raise ValueError(refused_reason(TABLE.family, "message-start field", refused[0]))
    elif kind == "content-start":
        content = message.get("content")
        part = content.get("type") if isinstance(content, dict) else None
        if part is not None and TABLE.in_answer("content", part) is Reading.REFUSED:
            raise ValueError(refused_reason(TABLE.family, "content", part))
    elif kind == "tool-call-start":
        refused = [call.refuse for call in message_calls({"tool_calls": [message.get("tool_calls")]}, TABLE)
                   if call.refuse]
        if refused:
            raise ValueError(refused[0])


def _check_call(data: dict[str, Any], call: Any, function: Any) -> None:
    """A tool-call event whose fields the SDK would not read as given (it skips an event it cannot validate,
    so later arguments would land on another call) cuts the stream."""
    index = data.get("index")
    if not (index is None or type(index) is int) or not isinstance(call, dict) or not isinstance(function, dict):
        raise ValueError("a tool-call event the SDK would read otherwise")
    texts = [function.get("arguments")]
    if data.get("type") == "tool-call-start":
        texts += [call.get("id"), function.get("name"), call.get("type")]
    if not all(value is None or isinstance(value, str) for value in texts):
        raise ValueError("a tool-call event the SDK would read otherwise")


class CohereStreamRelay(HoldingRelay):
    """Holds ``tool-call-*`` events until ``message-end``; the SDK routes by the ``type`` in each data."""

    refused_finish_reason = "COMPLETE"

    def __init__(self, exchange: Exchange, decide: Any):
        super().__init__(exchange, decide)
        self._started: dict[Any, tuple[Any, str, bool]] = {}  # block index -> (id, name, start had arguments)
        self._last: Any = None  # the index of the last call started

    def feed(self, event: SSEEvent) -> Iterable[bytes]:
        try:
            data = loads_plain(event.data) if event.data and not event.is_done else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return self.pass_or_hold(event.raw)  # the SDK skips what is not a JSON object
        kind = data.get("type")
        reading = TABLE.event(kind)
        if reading is Reading.REFUSED:
            # The SDK reads an event without a type as whichever event its shape fits (a call start too).
            raise ValueError(f"a stream event the proxy does not read: {kind!r}")
        if reading is Reading.SKIPPED:
            return self.pass_or_hold(event.raw)
        message = ((data.get("delta") or {}).get("message") or {})
        _check(kind, message)
        if kind == "content-delta" and not self.held.holding:
            self.text.append((message.get("content") or {}).get("text", ""))
        elif kind in ("tool-call-start", "tool-call-delta"):
            call = message.get("tool_calls") or {}
            function = call.get("function") or {} if isinstance(call, dict) else None
            _check_call(data, call, function)
            index = data.get("index", 0)
            fragment = function.get("arguments") or ""
            if kind == "tool-call-start":
                self._started[index] = (call.get("id"), function.get("name") or "", bool(fragment))
                self._last = index
                self.held.start(index, call.get("id"), function.get("name") or "")
            elif index not in self._started:  # a client could add them to any call: never relayed
                raise ValueError("tool-call arguments without their tool-call-start")
            elif index != self._last:
                # Clients add arguments to the call of the event's index, or to the last call started (the
                # documented loop): with calls interleaved those differ.
                raise ValueError("tool-call arguments for a call other than the last one started")
            elif self._started[index][2] and fragment:
                # Arguments in the start event and in deltas: a client may join them or read the deltas
                # alone; both readings are decided.
                if ("deltas", index) not in self._started:
                    self._started[("deltas", index)] = self._started[index]
                    self.held.start(("deltas", index), *self._started[index][:2])
                self.held.add_arguments(("deltas", index), fragment)
            self.held.add_arguments(index, fragment)
        elif kind == "message-end":
            self.ended = True
            delta = data.get("delta") or {}
            self.response.finish_reason = delta.get("finish_reason")
            self.response.usage = _usage(delta.get("usage"))
            if self.held.holding:
                return self.settle(event.raw, data)
        return self.pass_or_hold(event.raw)

    def error_bytes(self, message: str) -> bytes:
        # What the SDK hands the application as the end of an answer that failed.
        return encode_event(compact_json({"type": "message-end", "delta": {"finish_reason": "ERROR",
                                                                            "error": message}}), "message-end")

    def refusal_events(self, index: Any, refusal: str, end: dict[str, Any] | None) -> list[bytes]:
        out = [
            encode_event(compact_json({"type": "content-start", "index": index, "delta": {"message": {
                "content": {"type": "text", "text": ""}}}}), "content-start"),
            encode_event(compact_json({"type": "content-delta", "index": index, "delta": {"message": {
                "content": {"text": refusal}}}}), "content-delta"),
            encode_event(compact_json({"type": "content-end", "index": index}), "content-end"),
        ]
        if end is not None:
            out.append(encode_event(compact_json({**end, "delta": {**(end.get("delta") or {}),
                                                                   "finish_reason": "COMPLETE"}}), "message-end"))
        return out


#: Cohere's routes are shaped like the OpenAI-compatible ones (one chat path, endpoints passed through).
COHERE = OpenAICompatibleProvider("cohere", key_format=UNDOCUMENTED, tracing_name="cohere", family=CohereChat(),
                                  passthrough_post=("v2/embed", "v1/embed"), passthrough_get=("v1/models",))
