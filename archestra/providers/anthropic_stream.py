"""Relays an Anthropic Messages SSE stream, keeping every ``event:`` line and event type (ping, error).

From the first tool call block on (``tool_use``, and the ``server_tool_use`` / ``mcp_tool_use`` calls the
provider ran), events are held until ``message_delta`` (which carries the stop reason): the calls are then
decided, and the held events replayed byte for byte, or replaced by one text block with the refusal and
``stop_reason: "end_turn"``.

Blocks are tracked as the SDK accumulates them: each ``content_block_start`` appends one block, and a delta
applies to the block at its ``index`` in that list. A call's arguments are its ``input_json_delta``
fragments, or the ``input`` of its start event when no fragment has any text (what the SDK keeps). Server
result blocks (web search, web fetch, MCP, code execution...) are recorded as they pass, so the calls after
them are decided with them in context.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from ..exchange import Usage
from ..streaming.sse import SSEEvent, encode_event
from .anthropic_blocks import CALL_TYPES, Names, blocks, call_name, is_server_result, server_result
from .base import compact_json
from .held import HoldingRelay


class AnthropicStreamRelay(HoldingRelay):
    refused_finish_reason = "end_turn"

    def __init__(self, exchange: Any, decide: Any):
        super().__init__(exchange, decide)
        self._kinds: list[Any] = []  # the answer's content blocks so far, by position
        self._names = Names()

    def feed(self, event: SSEEvent) -> Iterable[bytes]:
        data = self._json(event) or {}
        kind = data.get("type") or event.event
        message = data.get("message")
        if kind == "message_start" and isinstance(message, dict) and blocks(message.get("content")):
            return self._unpack(event, data)
        if kind == "content_block_start":
            self._start(data.get("content_block") or {})
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            index = data.get("index")
            if delta.get("type") == "text_delta" and self._kind(index) == "text":
                (self.held.add_text if self.held.holding else self.text.append)(str(delta.get("text", "")))
            elif delta.get("type") == "input_json_delta" and self._kind(index) in CALL_TYPES:
                self.held.add_arguments(index, delta.get("partial_json", ""))
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

    def _unpack(self, event: SSEEvent, data: dict[str, Any]) -> list[bytes]:
        """A ``message_start`` whose message already has content (the SDK keeps it, calls included): sent
        as an empty ``message_start`` and one start/stop pair per block, so every call is decided."""
        message = data["message"]
        out = self.pass_or_hold(encode_event(compact_json({**data, "message": {**message, "content": []}}),
                                             event.event))
        for index, block in enumerate(message["content"]):
            for name, value in (("content_block_start", {"type": "content_block_start", "index": index,
                                                         "content_block": block}),
                                ("content_block_stop", {"type": "content_block_stop", "index": index})):
                text = compact_json(value)
                out += self.feed(SSEEvent(encode_event(text, name), name, text))
        return out

    def _start(self, block: Any) -> None:
        position = len(self._kinds)
        kind = block.get("type") if isinstance(block, dict) else None
        self._kinds.append(kind)
        if kind in CALL_TYPES:
            self._names.add(block)
            self.held.start(position, block.get("id"), call_name(block), initial=block.get("input"),
                            server=kind != "tool_use")
        elif is_server_result(kind):
            self.held.add_result(server_result(block, self._names, ("server", position)))

    def _kind(self, index: Any) -> Any:
        return self._kinds[index] if isinstance(index, int) and 0 <= index < len(self._kinds) else None

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
        message = data.get("message")
        if data.get("type") == "message_start" and isinstance(message, dict):
            usage = message["usage"] if isinstance(message.get("usage"), dict) else {}
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
