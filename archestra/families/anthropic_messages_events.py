"""Anthropic stream events read into neutral events, from SSE (direct API, Vertex ``streamRawPredict``) or from
Bedrock's event stream (InvokeModelWithResponseStream: each ``chunk`` frame holds one event's JSON, base64).

Fail closed: an event, block or delta type not listed here raises :class:`Untranslatable` (a newer API's
event may carry content); ``ping`` is the one event skipped. A stream that ends without ``message_stop`` ends in
a :class:`StreamError`, never a quiet StreamEnd.

One thing is left out: a ``redacted_thinking`` block (reasoning Anthropic encrypted for safety reasons). Neutral
stream events have no encrypted reasoning, and it holds nothing any client can read or execute; a non-streamed
answer keeps it (``Reasoning.encrypted``).
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ..streaming.event_template import EventTemplate, one_event
from ..streaming.eventstream import EventMessage, EventStreamDecoder
from ..streaming.sse import SSEDecoder, SSEEvent
from ..strict_json import loads_plain
from .anthropic_messages_answer import direct_call, finish_reason, neutral_usage, read_usage
from .neutral import (FinishReason, ReasoningDelta, StreamEnd, StreamError, StreamEvent, StreamStart, TextDelta,
                      ToolCallDelta, ToolCallStart, Untranslatable, Usage)

#: The block types read, and the delta types each takes.
_DELTAS = {"text": {"text_delta"}, "tool_use": {"input_json_delta"},
           "thinking": {"thinking_delta", "signature_delta"}, "redacted_thinking": set()}


class AnthropicEvents:
    """The state of one answer's events: open blocks, which block is which tool call, the usage so far."""

    def __init__(self) -> None:
        self._blocks: dict[int, str] = {}  # block index -> its type
        self._calls: dict[int, int] = {}  # block index -> neutral call index
        self._usage = Usage()
        self._finish: FinishReason | None = None
        self.done = False

    def read(self, name: str, data: Any) -> list[StreamEvent]:
        if not isinstance(data, dict):
            raise Untranslatable(f"stream.{name}", "event data is not a JSON object")
        if self.done and name != "ping":
            raise Untranslatable(f"stream.{name}", "an event after message_stop")
        handler = _HANDLERS.get(name)
        if handler is None:
            raise Untranslatable(f"stream.{name}", "unknown Anthropic stream event")
        try:
            return handler(self, data)
        except (KeyError, TypeError):
            raise Untranslatable(f"stream.{name}", "a field the event must have is missing or of another type") \
                from None

    def _message_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        message = data.get("message") or {}
        read_usage(message.get("usage") or {}, self._usage)
        if message.get("content"):
            raise Untranslatable("stream.message_start.content", "content in message_start")
        return [StreamStart(message.get("id") or "", message.get("model") or "")]

    def _block_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        index, block = data.get("index"), data.get("content_block") or {}
        kind = block.get("type")
        if kind not in _DELTAS or not isinstance(index, int) or index in self._blocks:
            raise Untranslatable(f"stream.content_block_start.{kind}", "a block other families cannot take "
                                                                       "(a server tool's, or unknown)")
        self._blocks[index] = kind
        if kind == "text":
            if block.get("citations"):
                raise Untranslatable("stream.content_block_start.citations", "citations")
            return [TextDelta(block["text"])] if block.get("text") else []
        if kind == "tool_use":
            if not direct_call(block):
                raise Untranslatable("stream.content_block_start.caller", "a call from Anthropic's code execution")
            self._calls[index] = len(self._calls)
            out: list[StreamEvent] = [ToolCallStart(self._calls[index], block["id"], block["name"])]
            if block.get("input"):  # the whole input in the start event (no fragments follow)
                out.append(ToolCallDelta(self._calls[index], json.dumps(block["input"], ensure_ascii=False)))
            return out
        if kind == "thinking":
            return [ReasoningDelta(block.get("thinking") or "", block.get("signature") or None)] \
                if block.get("thinking") or block.get("signature") else []
        return []  # redacted_thinking: see the module docstring

    def _block_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        index, delta = data.get("index"), data.get("delta") or {}
        kind = delta.get("type")
        if kind not in _DELTAS.get(self._blocks.get(index, ""), set()):
            raise Untranslatable(f"stream.content_block_delta.{kind}", "a delta for no open block of its kind")
        if kind == "text_delta":
            return [TextDelta(delta["text"])] if delta["text"] else []
        if kind == "input_json_delta":
            fragment = delta["partial_json"]
            return [ToolCallDelta(self._calls[index], fragment)] if fragment else []
        if kind == "thinking_delta":
            return [ReasoningDelta(delta["thinking"])] if delta["thinking"] else []
        return [ReasoningDelta(signature=delta["signature"])]

    def _block_stop(self, data: dict[str, Any]) -> list[StreamEvent]:
        if data.get("index") not in self._blocks:
            raise Untranslatable("stream.content_block_stop", "stops a block that never started")
        return []

    def _message_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        self._finish = finish_reason((data.get("delta") or {}).get("stop_reason"))
        read_usage(data.get("usage") or {}, self._usage)
        return []

    def _message_stop(self, data: dict[str, Any]) -> list[StreamEvent]:
        if self._finish is None:
            raise Untranslatable("stream.message_stop", "no message_delta said why the model stopped")
        self.done = True
        return [StreamEnd(self._finish, neutral_usage(self._usage))]

    def _error(self, data: dict[str, Any]) -> list[StreamEvent]:
        self.done = True
        error = data.get("error") or {}
        return [StreamError(str(error.get("message") or error.get("type") or "upstream stream error"))]

    def unfinished(self) -> list[StreamEvent]:
        return [] if self.done else [StreamError("the upstream stream ended before message_stop")]


_HANDLERS = {"message_start": AnthropicEvents._message_start, "content_block_start": AnthropicEvents._block_start,
             "content_block_delta": AnthropicEvents._block_delta, "content_block_stop": AnthropicEvents._block_stop,
             "message_delta": AnthropicEvents._message_delta, "message_stop": AnthropicEvents._message_stop,
             "error": AnthropicEvents._error, "ping": lambda self, data: []}


class _Reader:
    """Feed bytes to the framing's decoder, read what it completes; at the end, what is left."""

    framing = ""

    def __init__(self, decoder: Any) -> None:
        self._decoder = decoder
        self._events = AnthropicEvents()

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        return self._read(self._decoder.feed(chunk))

    def finish(self) -> list[StreamEvent]:
        return self._read(self._decoder.flush()) + self._events.unfinished()

    def _read(self, frames: list[Any]) -> list[StreamEvent]:
        raise NotImplementedError


class AnthropicSSEReader(_Reader):
    """The direct API's and Vertex's stream: SSE events named by ``event:`` (as the SDK dispatches them).

    Most of a stream is one text delta after another: a delta that is the last one read with another text (the
    same block, the same bytes around the text: ``streaming/event_template.py``) is taken without being read
    whole. Its block is open and stays a text block (a block's type never changes), so only the answer's end
    stops it, as it stops every delta."""

    framing = "sse"

    def __init__(self) -> None:
        super().__init__(SSEDecoder())
        self._template: EventTemplate | None = None

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        template = self._template
        if template is not None and self._decoder.idle and not self._events.done:
            values = template.match(chunk)  # one whole event: nothing of another waits in the decoder
            if values is not None:
                return [TextDelta(values[0])] if values[0] else []
        return super().feed(chunk)

    def _read(self, frames: list[SSEEvent]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in frames:
            if event.data is None and event.event is None:
                continue  # a comment or stray blank lines
            if self._template is not None and not self._events.done:
                values = self._template.match(event.raw)
                if values is not None:
                    out += [TextDelta(values[0])] if values[0] else []
                    continue
            try:
                data = loads_plain(event.data or "")
            except ValueError:
                raise Untranslatable(f"stream.{event.event}", "event data is not JSON") from None
            out += self._events.read(event.event or str(data.get("type")), data)
            if event.event == "content_block_delta":
                self._template = _text_delta_template(event.raw, data) or self._template
        return out


def _text_delta_template(raw: bytes, data: dict[str, Any]) -> EventTemplate | None:
    """A text delta just read, cut at its text, when it is one ``event:`` and one ``data:`` line."""
    delta = data.get("delta")
    if not one_event(raw, b"content_block_delta"):
        return None
    if not isinstance(delta, dict) or delta.get("type") != "text_delta" or not isinstance(delta.get("text"), str):
        return None
    return EventTemplate.of(raw, strings=("text",))


class AnthropicEventStreamReader(_Reader):
    """Bedrock InvokeModelWithResponseStream: ``chunk`` frames whose ``bytes`` is one Anthropic event's JSON; an
    exception frame is the stream's error."""

    framing = "eventstream"

    def __init__(self) -> None:
        super().__init__(EventStreamDecoder())

    def _read(self, frames: list[EventMessage]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for message in frames:
            if self._events.done:
                raise Untranslatable("stream", "a frame after the answer ended")
            if message.is_exception:
                self._events.done = True
                kind = message.headers.get(":exception-type") or message.headers.get(":error-code") or "error"
                try:
                    text = json.loads(message.payload).get("message") if message.payload else None
                except (ValueError, AttributeError):
                    text = message.payload.decode("utf-8", "replace")
                out.append(StreamError(f"{kind}: {text or message.headers.get(':error-message') or ''}".rstrip()))
                continue
            if message.event_type != "chunk":
                raise Untranslatable(f"stream.{message.event_type}", "unknown Bedrock stream event")
            try:
                event = _json(base64.b64decode(_json(message.payload, "chunk")["bytes"], validate=True), "chunk")
            except (KeyError, TypeError, binascii.Error):
                raise Untranslatable("stream.chunk", "no base64 model event in the chunk") from None
            out += self._events.read(str(event.get("type")), event)
        return out


def _json(raw: bytes, where: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise Untranslatable(f"stream.{where}", "payload is not JSON") from None
    if not isinstance(value, dict):
        raise Untranslatable(f"stream.{where}", "payload is not a JSON object")
    return value
