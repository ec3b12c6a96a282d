"""Relays a ConverseStream event stream frame for frame.

From the first ``toolUse`` block start, frames are held until ``messageStop``; the calls are then decided,
and the held frames replayed unchanged, or replaced by a text block with the refusal and
``stopReason: "end_turn"``. ``metadata`` (usage) follows ``messageStop`` and always passes.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from ..exchange import Exchange, Response, Usage
from ..streaming.eventstream import EventMessage, EventStreamDecoder, encode_event, encode_exception
from .base import StreamRelay
from .held import HeldCalls


def _payload(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class BedrockStreamRelay(StreamRelay):
    def __init__(self, exchange: Exchange, decide: Any):
        super().__init__()
        self.response = exchange.response = Response(model=exchange.model)
        self._decide = decide
        self._text: list[str] = []
        self._held = HeldCalls()

    def make_decoder(self) -> Any:
        return EventStreamDecoder()

    def feed(self, message: EventMessage) -> Iterable[bytes]:
        if message.message_type != "event":
            self._held.drop()  # an exception frame ends the stream; undecided calls go with it
            return [message.raw]
        try:
            data = json.loads(message.payload) if message.payload else {}
        except ValueError:
            data = {}
        kind = message.event_type
        if kind == "contentBlockStart":
            use = (data.get("start") or {}).get("toolUse")
            if isinstance(use, dict):
                self._held.start(data.get("contentBlockIndex", 0), use.get("toolUseId"), use.get("name", ""))
        elif kind == "contentBlockDelta":
            delta = data.get("delta") or {}
            if "text" in delta and not self._held.holding:
                self._text.append(str(delta["text"]))
            elif isinstance(delta.get("toolUse"), dict):
                self._held.add_arguments(data.get("contentBlockIndex", 0), delta["toolUse"].get("input", ""))
        elif kind == "messageStop":
            self.response.finish_reason = data.get("stopReason")
            if self._held.holding:
                return self._settle(message, data)
        elif kind == "metadata":
            usage = data.get("usage") or {}
            self.response.usage = Usage(usage.get("inputTokens"), usage.get("outputTokens"))
        if self._held.holding:
            self._held.hold(message.raw)
            return []
        return [message.raw]

    def finish(self) -> Iterable[bytes]:
        out = self._settle(None, None) if self._held.holding else []
        self.response.text = "".join(self._text)
        return out

    def error_bytes(self, message: str) -> bytes:
        return encode_exception("internalServerException", message)

    def _settle(self, stop: EventMessage | None, data: dict[str, Any] | None) -> list[bytes]:
        index = self._held.first_key
        held, calls = self._held.take()
        refusal = self._decide(calls) if calls else None
        if refusal is None:
            self.response.tool_calls += calls
            return held + ([stop.raw] if stop else [])
        self._text.append(refusal)
        self.response.finish_reason = "end_turn"
        out = [encode_event("contentBlockDelta", _payload({"contentBlockIndex": index, "delta": {"text": refusal}})),
               encode_event("contentBlockStop", _payload({"contentBlockIndex": index}))]
        if data is not None:
            out.append(encode_event("messageStop", _payload({**data, "stopReason": "end_turn"})))
        return out
