"""A Bedrock ConverseStream body (AWS event-stream frames, provider-wire-formats.md section 5.3) read into neutral
stream events.

The events (``ConverseStreamOutput`` in botocore's service-2.json): ``messageStart``, ``contentBlockStart`` (tool
uses only: text blocks start with their first delta), ``contentBlockDelta``, ``contentBlockStop``, ``messageStop``
(the stop reason), then ``metadata`` (usage). Exception frames (``:message-type`` ``exception`` or ``error``) are
the upstream's mid-stream errors. Neutral tool call indexes count the answer's calls from 0, whatever Converse's
``contentBlockIndex`` is.
"""
from __future__ import annotations

from typing import Any, Callable

from ..streaming.eventstream import EventMessage, EventStreamDecoder, EventStreamError
from ..strict_json import loads_plain
from .bedrock_converse_answer import (answer_id, client_tool_use, error_message, finish_reason, only_member,
                                      read_usage)
from .neutral import (FinishReason, ReasoningDelta, StreamEnd, StreamError, StreamEvent, StreamStart, TextDelta,
                      ToolCallDelta, ToolCallStart, Untranslatable)


def _payload(message: EventMessage, where: str) -> dict[str, Any]:
    try:
        payload = loads_plain(message.payload)
    except ValueError:
        raise Untranslatable(where, "the event's payload is not JSON") from None
    if not isinstance(payload, dict):
        raise Untranslatable(where, "the event's payload is not a JSON object")
    return payload


def _exception(message: EventMessage) -> StreamError:
    """botocore's reading of an exception frame: ``:exception-type`` + JSON ``message``, or the generic
    ``:error-code`` / ``:error-message`` headers."""
    if message.message_type == "error":
        return StreamError(f"{message.headers.get(':error-code')}: {message.headers.get(':error-message')}")
    text = error_message(message.payload) or message.payload.decode("utf-8", "replace")
    return StreamError(f"{message.headers.get(':exception-type')}: {text}")


class ConverseStreamReader:
    """Feed ConverseStream bytes, get neutral events (a new reader per answer)."""

    framing = "eventstream"

    def __init__(self) -> None:
        self._decoder = EventStreamDecoder()
        self._calls: dict[Any, int] = {}  # contentBlockIndex of a tool use -> its neutral call index
        self._finish: FinishReason | None = None
        self._started = False
        self._over = False
        self._handlers: dict[str, Callable[[dict[str, Any]], list[StreamEvent]]] = {
            "messageStart": self._message_start, "contentBlockStart": self._block_start,
            "contentBlockDelta": self._block_delta, "contentBlockStop": lambda payload: [],
            "messageStop": self._message_stop, "metadata": self._metadata}

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        if self._over:
            return []
        try:
            messages = self._decoder.feed(chunk)
        except EventStreamError as exc:
            return self._error(StreamError(f"corrupt event stream from Bedrock: {exc}"))
        out: list[StreamEvent] = []
        for message in messages:
            if self._over:
                break
            if message.is_exception:
                out += self._error(_exception(message))
                break
            handler = self._handlers.get(message.event_type or "")
            if handler is None:
                raise Untranslatable(f"event {message.event_type!r}", "a ConverseStream event the reader does not know")
            out += handler(_payload(message, f"event {message.event_type}"))
        return out

    def finish(self) -> list[StreamEvent]:
        if self._over:
            return []
        try:
            self._decoder.flush()
        except EventStreamError as exc:
            return self._error(StreamError(f"Bedrock's event stream broke off: {exc}"))
        if self._finish is None:
            return self._error(StreamError("Bedrock's event stream ended before messageStop"))
        self._over = True  # messageStop came, metadata (the usage) did not: the answer itself is complete
        return [StreamEnd(self._finish)]

    def _error(self, error: StreamError) -> list[StreamEvent]:
        self._over = True
        return [error]

    def _message_start(self, payload: dict[str, Any]) -> list[StreamEvent]:
        if payload.get("role") != "assistant":
            raise Untranslatable("messageStart.role", f"{payload.get('role')!r} instead of 'assistant'")
        if self._started:
            raise Untranslatable("messageStart", "a second message in one stream")
        self._started = True
        return [StreamStart(id=answer_id(), model="")]

    def _block_start(self, payload: dict[str, Any]) -> list[StreamEvent]:
        kind, value = only_member(payload.get("start"), "contentBlockStart.start")
        if kind != "toolUse":
            raise Untranslatable(f"contentBlockStart.start.{kind}", "a content block the neutral form has no place for")
        call_id, name = client_tool_use(value, "contentBlockStart.start.toolUse")
        block = payload.get("contentBlockIndex")
        if block in self._calls:
            raise Untranslatable("contentBlockStart.contentBlockIndex", f"block {block!r} started twice")
        self._calls[block] = len(self._calls)
        return [*self._before_content(), ToolCallStart(index=self._calls[block], id=call_id, name=name)]

    def _block_delta(self, payload: dict[str, Any]) -> list[StreamEvent]:
        kind, value = only_member(payload.get("delta"), "contentBlockDelta.delta")
        block = payload.get("contentBlockIndex")
        if kind == "text" and isinstance(value, str) and block not in self._calls:
            return [*self._before_content(), TextDelta(value)]
        if kind == "toolUse" and isinstance(value, dict) and isinstance(value.get("input"), str):
            if block not in self._calls:
                raise Untranslatable("contentBlockDelta.delta.toolUse", f"input for block {block!r}, not a tool use")
            return [ToolCallDelta(index=self._calls[block], arguments=value["input"])]
        if kind == "reasoningContent" and block not in self._calls:
            member, text = only_member(value, "contentBlockDelta.delta.reasoningContent")
            if member == "text" and isinstance(text, str):
                return [*self._before_content(), ReasoningDelta(text=text)]
            if member == "signature" and isinstance(text, str):
                return [*self._before_content(), ReasoningDelta(signature=text)]
            # redactedContent: a neutral ReasoningDelta has no place for encrypted reasoning
            raise Untranslatable(f"contentBlockDelta.delta.reasoningContent.{member}", "no neutral stream form")
        raise Untranslatable(f"contentBlockDelta.delta.{kind}", "a delta the neutral form has no place for")

    def _before_content(self) -> list[StreamEvent]:
        if self._finish is not None:
            raise Untranslatable("contentBlockDelta", "content after messageStop")
        return self._start_once()

    def _start_once(self) -> list[StreamEvent]:
        """The StreamStart a front needs first, even where Bedrock left out messageStart."""
        return [] if self._started else self._message_start({"role": "assistant"})

    def _message_stop(self, payload: dict[str, Any]) -> list[StreamEvent]:
        if self._finish is not None:
            raise Untranslatable("messageStop", "a second messageStop")
        self._finish = finish_reason(payload.get("stopReason"))
        return self._start_once()

    def _metadata(self, payload: dict[str, Any]) -> list[StreamEvent]:
        if self._finish is None:
            return self._error(StreamError("Bedrock sent the stream's metadata before messageStop"))
        self._over = True
        return [StreamEnd(self._finish, read_usage(payload.get("usage")))]
