"""A Cohere v2 chat stream read into neutral events (provider-wire-formats.md section 4.2; the SDK's event union
``cohere/v2/types/v2chat_stream_response.py``).

Cohere frames events as SSE ``event: <type>`` + ``data: {"type": <type>, ...}``; the SDK dispatches on the
``type`` inside the data, so this reader does too (and refuses an event whose name says otherwise). ``index``
counts the answer's content blocks and tool calls together (a call after a text block has index 1): neutral
tool calls are numbered from 0 on their own. ``tool-plan-delta`` is reasoning, citations are checked and left
out: see ``cohere_chat_answer``. A ``message-end`` carrying ``error`` is a :class:`StreamError`.
"""
from __future__ import annotations

from typing import Any

from ..streaming import StreamFormatError
from ..streaming.sse import SSEDecoder, SSEEvent
from ..strict_json import loads_plain
from .cohere_chat_answer import check_citation, finish_reason, function_of, string_field, usage
from .neutral import (ReasoningDelta, StreamEnd, StreamError, StreamEvent, StreamStart, TextDelta,
                      ToolCallDelta, ToolCallStart, Untranslatable)


class CohereStreamReader:
    """Feed the upstream body's chunks, get neutral events; fails closed on anything it does not know."""

    framing = "sse"

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._content: dict[int, str] = {}  # content block index -> "text" / "thinking"
        self._calls: dict[int, int] = {}  # Cohere index of a tool call -> neutral call index
        self._ended = False

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        try:
            events = self._sse.feed(chunk)
        except StreamFormatError as error:
            raise Untranslatable("stream", str(error)) from error
        return [out for event in events for out in self._event(event)]

    def finish(self) -> list[StreamEvent]:
        out = [new for event in self._sse.flush() for new in self._event(event)]
        if not self._ended:
            out.append(StreamError("the Cohere stream ended before its message-end event"))
        return out

    def _event(self, event: SSEEvent) -> list[StreamEvent]:
        if event.data is None or event.is_done:
            return []  # a comment, a stray blank line, or the optional [DONE] the SDK tolerates
        try:
            data = loads_plain(event.data)
        except ValueError as error:
            raise Untranslatable("stream.data", "an event whose data is not JSON") from error
        kind = data.get("type") if isinstance(data, dict) else None
        if event.event is not None and event.event != kind:
            raise Untranslatable(f"event.{event.event}", f"an event named {event.event!r} whose data is {kind!r}")
        if self._ended:
            raise Untranslatable(f"event.{kind}", "an event after message-end")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise Untranslatable(f"event.{kind}", "a Cohere stream event this reader does not know")
        return handler(self, data)

    # -- handlers, one per event type ------------------------------------------------------------------------
    def _message_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        message = _delta_message(data)
        unknown = set(message) - {"role", "content", "tool_plan", "tool_calls", "citations"}
        if unknown or message.get("content") or message.get("tool_calls") or message.get("citations"):
            # the SDK would hand such parts over whole: nothing a real message-start carries
            raise Untranslatable("message-start.message", "a message-start that already carries answer parts")
        out: list[StreamEvent] = [StreamStart(id=string_field(data.get("id"), "message-start.id"), model="")]
        if message.get("tool_plan"):
            out.append(ReasoningDelta(string_field(message["tool_plan"], "message-start.tool_plan")))
        return out

    def _content_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        content = _delta_message(data).get("content")
        kind = content.get("type") if isinstance(content, dict) else None
        if kind not in ("text", "thinking"):
            raise Untranslatable(f"content.{kind}", "a Cohere content type this reader does not know")
        self._content[_index(data)] = kind
        return self._content_delta(data)

    def _content_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        kind = self._content.get(_index(data))
        content = _delta_message(data).get("content")
        if kind is None or not isinstance(content, dict) or set(content) - {"type", "text", "thinking"}:
            raise Untranslatable("content-delta", "a content delta outside a started text or thinking block")
        other = "thinking" if kind == "text" else "text"
        if content.get(other):
            raise Untranslatable(f"content-delta.{other}", f"{other} inside a {kind} block")
        piece = content.get(kind) or ""
        if not isinstance(piece, str):
            raise Untranslatable(f"content-delta.{kind}", "expected a string")
        if not piece:
            return []
        return [TextDelta(piece) if kind == "text" else ReasoningDelta(piece)]

    def _content_end(self, data: dict[str, Any]) -> list[StreamEvent]:
        if self._content.pop(_index(data), None) is None:
            raise Untranslatable("content-end", "the end of a content block that never started")
        return []

    def _tool_plan_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        plan = _delta_message(data).get("tool_plan")
        return [ReasoningDelta(string_field(plan, "tool-plan-delta.tool_plan"))] if plan else []

    def _tool_call_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        call = _delta_message(data).get("tool_calls")
        function = function_of(call, "tool-call-start")
        index = _index(data)
        if index in self._calls:
            raise Untranslatable("tool-call-start", f"a second tool call at index {index}")
        self._calls[index] = len(self._calls)
        out: list[StreamEvent] = [ToolCallStart(self._calls[index], string_field(call.get("id"), "tool_calls.id"),
                                                string_field(function.get("name"), "tool_calls.function.name"))]
        return out + self._arguments(index, function)

    def _tool_call_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        call = _delta_message(data).get("tool_calls")
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or set(call) != {"function"} or set(function) - {"arguments"}:
            raise Untranslatable("tool-call-delta", "a tool call delta other than an arguments fragment")
        return self._arguments(_index(data), function)

    def _arguments(self, index: int, function: dict[str, Any]) -> list[StreamEvent]:
        if index not in self._calls:
            raise Untranslatable("tool-call-delta", f"arguments for a call at index {index} that never started")
        fragment = function.get("arguments") or ""
        if not isinstance(fragment, str):
            raise Untranslatable("tool_calls.function.arguments", "expected a string")
        return [ToolCallDelta(self._calls[index], fragment)] if fragment else []

    def _tool_call_end(self, data: dict[str, Any]) -> list[StreamEvent]:
        if _index(data) not in self._calls:
            raise Untranslatable("tool-call-end", "the end of a tool call that never started")
        return []

    def _citation_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        check_citation(_delta_message(data).get("citations"))
        return []

    def _ignore(self, data: dict[str, Any]) -> list[StreamEvent]:
        """``citation-end`` closes what citation-start checked; ``debug`` holds the prompt as the model saw it,
        nothing of the answer."""
        return []

    def _message_end(self, data: dict[str, Any]) -> list[StreamEvent]:
        self._ended = True
        delta = data.get("delta") if isinstance(data.get("delta"), dict) else {}
        if delta.get("error"):
            return [StreamError(str(delta["error"]))]
        return [StreamEnd(finish_reason(delta.get("finish_reason")), usage(delta.get("usage")))]


_HANDLERS = {
    "message-start": CohereStreamReader._message_start, "content-start": CohereStreamReader._content_start,
    "content-delta": CohereStreamReader._content_delta, "content-end": CohereStreamReader._content_end,
    "tool-plan-delta": CohereStreamReader._tool_plan_delta, "tool-call-start": CohereStreamReader._tool_call_start,
    "tool-call-delta": CohereStreamReader._tool_call_delta, "tool-call-end": CohereStreamReader._tool_call_end,
    "citation-start": CohereStreamReader._citation_start, "citation-end": CohereStreamReader._ignore,
    "debug": CohereStreamReader._ignore, "message-end": CohereStreamReader._message_end,
}


def _delta_message(data: dict[str, Any]) -> dict[str, Any]:
    delta = data.get("delta")
    message = delta.get("message") if isinstance(delta, dict) else None
    return message if isinstance(message, dict) else {}


def _index(data: dict[str, Any]) -> int:
    index = data.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool):
        raise Untranslatable(f"{data.get('type')}.index", "expected an integer")
    return index

