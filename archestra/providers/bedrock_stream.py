"""Relays a ConverseStream event stream frame for frame.

From the first ``toolUse`` block start, frames are held until ``messageStop``; the calls are then decided,
and the held frames replayed unchanged, or replaced by a text block with the refusal and
``stopReason: "end_turn"``. ``metadata`` (usage) follows ``messageStop`` and always passes.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from ..exchange import Usage
from ..streaming.eventstream import EventMessage, EventStreamDecoder, encode_event, encode_exception
from .base import compact_json
from .held import HoldingRelay


def _payload(value: Any) -> bytes:
    return compact_json(value).encode()


class BedrockStreamRelay(HoldingRelay):
    refused_finish_reason = "end_turn"

    framing = "eventstream"

    def make_decoder(self) -> Any:
        return EventStreamDecoder()

    def feed(self, message: EventMessage) -> Iterable[bytes]:
        if message.message_type != "event":
            self.held.drop()  # an exception frame ends the stream; undecided calls go with it
            return [message.raw]
        try:
            data = json.loads(message.payload) if message.payload else {}
        except ValueError:
            data = {}
        kind = message.event_type
        if kind == "contentBlockStart":
            use = (data.get("start") or {}).get("toolUse")
            if isinstance(use, dict):
                self.held.start(data.get("contentBlockIndex", 0), use.get("toolUseId"), use.get("name", ""))
        elif kind == "contentBlockDelta":
            delta = data.get("delta") or {}
            if "text" in delta and not self.held.holding:
                self.text.append(str(delta["text"]))
            elif isinstance(delta.get("toolUse"), dict):
                self.held.add_arguments(data.get("contentBlockIndex", 0), delta["toolUse"].get("input", ""))
        elif kind == "messageStop":
            self.response.finish_reason = data.get("stopReason")
            if self.held.holding:
                return self.settle(message.raw, data)
        elif kind == "metadata":
            self.ended = True  # metadata (usage) follows messageStop and ends the stream
            usage = data.get("usage") or {}
            self.response.usage = Usage(usage.get("inputTokens"), usage.get("outputTokens"))
        return self.pass_or_hold(message.raw)

    def error_bytes(self, message: str) -> bytes:
        return encode_exception("internalServerException", message)

    def refusal_events(self, index: Any, refusal: str, end: dict[str, Any] | None) -> list[bytes]:
        out = [encode_event("contentBlockDelta", _payload({"contentBlockIndex": index, "delta": {"text": refusal}})),
               encode_event("contentBlockStop", _payload({"contentBlockIndex": index}))]
        if end is not None:
            out.append(encode_event("messageStop", _payload({**end, "stopReason": "end_turn"})))
        return out
