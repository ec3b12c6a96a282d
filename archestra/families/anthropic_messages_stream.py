"""Neutral stream events written as an Anthropic Messages stream (SSE with ``event:`` names, which the anthropic
SDK dispatches on), for clients of the Anthropic front."""
from __future__ import annotations

import json
from typing import Any

from ..streaming.sse import encode_event
from .anthropic_messages_answer import TYPE_OF_KIND, message_id, stop_reason, usage_fields
from .neutral import (ChatRequest, ReasoningDelta, StreamEnd, StreamError, StreamEvent, StreamStart, TextDelta,
                      ToolCallDelta, ToolCallStart, Untranslatable)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return encode_event(json.dumps({"type": name, **data}, separators=(",", ":"), ensure_ascii=False), name)


def error_event(message: str, kind: str = "api_error") -> bytes:
    """A mid-stream error: the anthropic SDK raises it as an APIStatusError carrying this body."""
    return _event("error", {"error": {"type": TYPE_OF_KIND.get(kind, "api_error"), "message": message}})


class AnthropicStreamWriter:
    """Neutral events -> the Messages stream: one content block open at a time, indexes from 0. Reasoning is
    held back until it is signed (Anthropic clients send thinking back only with a signature, and the API
    refuses unsigned thinking); reasoning that never gets a signature is not shown."""

    def __init__(self, request: ChatRequest) -> None:
        self._model = request.model
        self._started = self._ended = False
        self._index = -1  # the open block's index
        self._open: str | None = None  # its type
        self._calls: dict[int, int] = {}  # neutral call index -> block index
        self._thinking = ""  # unsigned reasoning held back

    def write(self, event: StreamEvent) -> bytes:
        if self._ended:
            return b""
        if isinstance(event, StreamStart):
            return b"" if self._started else self._start(message_id(event.id), event.model or self._model)
        out = b"" if self._started else self._start(message_id(None), self._model)
        if isinstance(event, TextDelta) and event.text:
            self._thinking = ""  # the reasoning before was never signed: not shown
            out += self._block("text", {"type": "text", "text": ""})
            out += self._delta({"type": "text_delta", "text": event.text})
        elif isinstance(event, ReasoningDelta):
            out += self._reasoning(event)
        elif isinstance(event, ToolCallStart):
            self._thinking = ""
            out += self._block("tool_use", {"type": "tool_use", "id": event.id, "name": event.name, "input": {}})
            self._calls[event.index] = self._index
        elif isinstance(event, ToolCallDelta) and event.arguments:
            if self._calls.get(event.index) != self._index or self._open != "tool_use":
                raise Untranslatable("stream", f"arguments of tool call {event.index} after its block ended")
            out += self._delta({"type": "input_json_delta", "partial_json": event.arguments})
        elif isinstance(event, StreamEnd):
            out += self._end(event)
        elif isinstance(event, StreamError):
            self._ended = True
            out += error_event(event.message)
        return out

    def finish(self) -> bytes:
        return b""

    def _start(self, answer_id: str, model: str) -> bytes:
        self._started = True
        return _event("message_start", {"message": {
            "id": answer_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}})

    def _block(self, kind: str, start: dict[str, Any]) -> bytes:
        if self._open == kind and kind != "tool_use":
            return b""
        out = self._close()
        self._index += 1
        self._open = kind
        return out + _event("content_block_start", {"index": self._index, "content_block": start})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return _event("content_block_delta", {"index": self._index, "delta": delta})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return _event("content_block_stop", {"index": self._index})

    def _reasoning(self, event: ReasoningDelta) -> bytes:
        if self._open != "thinking":
            self._thinking += event.text
            if not event.signature:
                return b""
            held, self._thinking = self._thinking, ""
            out = self._block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            out += self._delta({"type": "thinking_delta", "thinking": held}) if held else b""
        else:
            out = self._delta({"type": "thinking_delta", "thinking": event.text}) if event.text else b""
        if event.signature:
            out += self._delta({"type": "signature_delta", "signature": event.signature})
        return out

    def _end(self, event: StreamEnd) -> bytes:
        self._ended = True
        if event.finish_reason == "error":
            return self._close() + error_event("the upstream model stopped with an error")
        usage = usage_fields(event.usage)
        if event.usage.input_tokens is None:
            del usage["input_tokens"]  # keeps what message_start said
        return self._close() + _event("message_delta", {
            "delta": {"stop_reason": stop_reason(event.finish_reason), "stop_sequence": None},
            "usage": usage}) + _event("message_stop", {})
