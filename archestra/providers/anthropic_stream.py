"""Relays an Anthropic Messages SSE stream, keeping every ``event:`` line and event type (ping, error).

From the first ``tool_use`` content block on, events are held until ``message_delta`` (which carries the
stop reason): the tool calls are then decided, and the held events replayed byte for byte, or replaced
by one text block with the refusal and ``stop_reason: "end_turn"``.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from ..exchange import Exchange, Response, ToolCall, Usage
from ..streaming.sse import SSEEvent, encode_event
from .base import StreamRelay
from .held import HeldCalls

Decide = Callable[[list[ToolCall]], "str | None"]
_TOOL_BLOCKS = ("tool_use", "server_tool_use", "mcp_tool_use")


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class AnthropicStreamRelay(StreamRelay):
    def __init__(self, exchange: Exchange, decide: Decide):
        super().__init__()
        self.response = exchange.response = Response(model=exchange.model)
        self._decide = decide
        self._text: list[str] = []
        self._held = HeldCalls()

    def feed(self, event: SSEEvent) -> Iterable[bytes]:
        data = self._json(event)
        kind = (data or {}).get("type") or event.event
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") in _TOOL_BLOCKS:
                self._held.start(data.get("index", 0), block.get("id"), block.get("name", ""))
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta" and not self._held.holding:
                self._text.append(delta.get("text", ""))
            elif delta.get("type") == "input_json_delta":
                self._held.add_arguments(data.get("index"), delta.get("partial_json", ""))
        elif kind == "message_delta":
            self.response.finish_reason = (data.get("delta") or {}).get("stop_reason")
            usage = data.get("usage") or {}
            if usage.get("output_tokens") is not None:
                self.response.usage.output_tokens = usage["output_tokens"]
            if self._held.holding:
                return self._settle(event, data)
        elif kind == "message_stop" and self._held.holding:
            return [*self._settle(None, None), event.raw]
        elif kind == "error":
            self._held.drop()  # the stream ends here; undecided calls are dropped
        if self._held.holding:
            self._held.hold(event.raw)
            return []
        return [event.raw]

    def finish(self) -> Iterable[bytes]:
        out = self._settle(None, None) if self._held.holding else []
        self.response.text = "".join(self._text)
        return out

    def error_bytes(self, message: str) -> bytes:
        return encode_event(_compact({"type": "error", "error": {"type": "api_error", "message": message}}),
                            "error")

    def _json(self, event: SSEEvent) -> dict[str, Any] | None:
        try:
            data = json.loads(event.data) if event.data else None
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        if data.get("type") == "message_start":
            message = data.get("message") or {}
            usage = message.get("usage") or {}
            self.response.model = message.get("model") or self.response.model
            self.response.usage = Usage(usage.get("input_tokens"), usage.get("output_tokens"))
        return data

    def _settle(self, delta_event: SSEEvent | None, delta: dict[str, Any] | None) -> list[bytes]:
        index = self._held.first_key
        held, calls = self._held.take()
        refusal = self._decide(calls) if calls else None
        if refusal is None:
            self.response.tool_calls += calls
            return held + ([delta_event.raw] if delta_event else [])
        self._text.append(refusal)
        self.response.finish_reason = "end_turn"
        out = [
            encode_event(_compact({"type": "content_block_start", "index": index,
                                   "content_block": {"type": "text", "text": ""}}), "content_block_start"),
            encode_event(_compact({"type": "content_block_delta", "index": index,
                                   "delta": {"type": "text_delta", "text": refusal}}), "content_block_delta"),
            encode_event(_compact({"type": "content_block_stop", "index": index}), "content_block_stop"),
        ]
        if delta is not None:
            rewritten = {**delta, "delta": {**(delta.get("delta") or {}), "stop_reason": "end_turn",
                                            "stop_sequence": None}}
            out.append(encode_event(_compact(rewritten), "message_delta"))
        return out
