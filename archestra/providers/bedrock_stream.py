"""Relays a ConverseStream event stream frame for frame.

From the first ``toolUse`` block start (or argument delta), frames are held until ``messageStop``; the calls
are then decided, with what the provider's own tools (``server_tool_use``) returned in this answer (their
``toolResult`` blocks, web citations) in the context, and the held frames replayed unchanged, or replaced by
a text block with the refusal and ``stopReason: "end_turn"``. ``metadata`` (usage) follows ``messageStop``
and always passes.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from ..exchange import Exchange, Usage
from ..streaming.eventstream import EventMessage, EventStreamDecoder, encode_event, encode_exception
from .base import CallNames, compact_json
from .bedrock_content import SERVER_TOOL_USE, cited_result, tool_result, web_citations
from .held import HoldingRelay


def _payload(value: Any) -> bytes:
    return compact_json(value).encode()


class BedrockStreamRelay(HoldingRelay):
    refused_finish_reason = "end_turn"

    framing = "eventstream"

    def __init__(self, exchange: Exchange, decide: Any):
        super().__init__(exchange, decide)
        self._blocks: set[Any] = set()
        self._server_calls = CallNames()
        self._server_names: list[str] = []
        self._server_results: dict[Any, dict[str, Any]] = {}

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
        index = data.get("contentBlockIndex", 0)
        if kind == "contentBlockStart":
            start = data.get("start") or {}
            use, result = start.get("toolUse"), start.get("toolResult")
            if isinstance(use, dict):
                server = use.get("type") == SERVER_TOOL_USE  # the provider's own tool: it ran already
                if server:
                    self._server_calls.add(use.get("toolUseId"), str(use.get("name", "")))
                    self._server_names.append(str(use.get("name", "")))
                self._blocks.add(index)
                self.held.start(index, use.get("toolUseId"), use.get("name", ""), server=server)
            elif isinstance(result, dict):
                self._server_results[index] = {**result, "content": []}
        elif kind == "contentBlockDelta":
            delta = data.get("delta") or {}
            if "text" in delta and not self.held.holding:
                self.text.append(str(delta["text"]))
            elif isinstance(delta.get("toolUse"), dict):
                if index not in self._blocks:  # a client could add them to any call: never relayed
                    raise ValueError("tool-use arguments without their contentBlockStart")
                self.held.add_arguments(index, delta["toolUse"].get("input", ""))
            elif isinstance(delta.get("toolResult"), list):  # with or without its start: context either way
                self._server_results.setdefault(index, {"content": []})["content"] += delta["toolResult"]
            elif isinstance(delta.get("citation"), dict) and web_citations(delta["citation"]):
                name = self._server_names[0] if self._server_names else None
                self.held.add_result(cited_result(web_citations(delta["citation"]), server_name=name))
        elif kind == "contentBlockStop" and index in self._server_results:
            self._add_result(index)
        elif kind == "messageStop":
            self.response.finish_reason = data.get("stopReason")
            for unfinished in list(self._server_results):
                self._add_result(unfinished)
            if self.held.holding:
                return self.settle(message.raw, data)
        elif kind == "metadata":
            self.ended = True  # metadata (usage) follows messageStop and ends the stream
            usage = data.get("usage") or {}
            self.response.usage = Usage(usage.get("inputTokens"), usage.get("outputTokens"))
        return self.pass_or_hold(message.raw)

    def _add_result(self, index: Any) -> None:
        """A provider-executed tool's result, complete: context for the calls that come after it."""
        self.held.add_result(tool_result(self._server_results.pop(index), self._server_calls, True))

    def error_bytes(self, message: str) -> bytes:
        return encode_exception("internalServerException", message)

    def refusal_events(self, index: Any, refusal: str, end: dict[str, Any] | None) -> list[bytes]:
        out = [encode_event("contentBlockDelta", _payload({"contentBlockIndex": index, "delta": {"text": refusal}})),
               encode_event("contentBlockStop", _payload({"contentBlockIndex": index}))]
        if end is not None:
            out.append(encode_event("messageStop", _payload({**end, "stopReason": "end_turn"})))
        return out
