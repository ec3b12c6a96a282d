"""Relays an Anthropic Messages SSE stream, keeping every ``event:`` line and event type (ping, error).

From the first ``tool_use`` content block on, events are held until ``message_delta`` (which carries the
stop reason): the tool calls are then decided, and the held events replayed byte for byte, or replaced
by one text block with the refusal and ``stop_reason: "end_turn"``.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from ..exchange import Usage
from ..streaming.sse import SSEEvent, encode_event
from .base import compact_json
from .held import HoldingRelay

_TOOL_BLOCKS = ("tool_use", "server_tool_use", "mcp_tool_use")


class AnthropicStreamRelay(HoldingRelay):
    refused_finish_reason = "end_turn"

    def feed(self, event: SSEEvent) -> Iterable[bytes]:
        data = self._json(event)
        kind = (data or {}).get("type") or event.event
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") in _TOOL_BLOCKS:
                self.held.start(data.get("index", 0), block.get("id"), block.get("name", ""))
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta" and not self.held.holding:
                self.text.append(delta.get("text", ""))
            elif delta.get("type") == "input_json_delta":
                self.held.add_arguments(data.get("index"), delta.get("partial_json", ""))
        elif kind == "message_delta":
            self.response.finish_reason = (data.get("delta") or {}).get("stop_reason")
            usage = data.get("usage") or {}
            if usage.get("output_tokens") is not None:
                self.response.usage.output_tokens = usage["output_tokens"]
            if self.held.holding:
                return self.settle(event.raw, data)
        elif kind == "message_stop":
            self.ended = True
            if self.held.holding:
                return [*self.settle(None, None), event.raw]
        elif kind == "error":
            self.held.drop()  # the stream ends here; undecided calls are dropped
        return self.pass_or_hold(event.raw)

    def error_bytes(self, message: str) -> bytes:
        return encode_event(compact_json({"type": "error", "error": {"type": "api_error", "message": message}}),
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

    def refusal_events(self, index: Any, refusal: str, end: dict[str, Any] | None) -> list[bytes]:
        out = [
            encode_event(compact_json({"type": "content_block_start", "index": index,
                                       "content_block": {"type": "text", "text": ""}}), "content_block_start"),
            encode_event(compact_json({"type": "content_block_delta", "index": index,
                                       "delta": {"type": "text_delta", "text": refusal}}), "content_block_delta"),
            encode_event(compact_json({"type": "content_block_stop", "index": index}), "content_block_stop"),
        ]
        if end is not None:
            rewritten = {**end, "delta": {**(end.get("delta") or {}), "stop_reason": "end_turn",
                                          "stop_sequence": None}}
            out.append(encode_event(compact_json(rewritten), "message_delta"))
        return out
