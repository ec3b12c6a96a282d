"""Relays a ConverseStream event stream frame for frame, reading each frame as botocore does.

botocore's rules (``eventstream.EventStreamMessage.to_response_dict``, ``parsers.BaseEventStreamParser``): a
frame whose ``:message-type`` is ``exception`` or ``error`` raises in the client; every other frame (the header
missing or odd included) is an event named by its ``:event-type``, and a name the output shape does not hold
yields nothing. So exception frames end the stream (nothing after one is relayed: a client that catches the
error and iterates again would read on), events the table says botocore skips pass and move nothing, and the
events the client acts on are read with botocore's union rule (one non-null member). Anything the relay cannot
read exactly as the client will (a union member the table does not hold, a block index that is not an
integer, arguments for a block that is not the one open tool-use block, a second start at one index, content
after ``messageStop``) cuts the stream with an error frame.

From the first ``toolUse`` block start, frames are held until ``messageStop``; the calls are then decided,
with what the provider's own tools (``server_tool_use``) returned in this answer (their ``toolResult`` blocks,
web citations) in the context, and the held frames replayed unchanged, or replaced by a text block with the
refusal and ``stopReason: "end_turn"``. ``metadata`` (usage) follows ``messageStop`` and always passes.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..exchange import Exchange, Usage
from ..streaming.eventstream import EventMessage, EventStreamDecoder, encode_event, encode_exception
from ..strict_json import loads_strict
from .bedrock_content import (FAMILY, SERVER_TOOL_USE, TABLE, citation_refusal, cited_result, member, tool_result,
                              web_citations)
from .held import HoldingRelay
from .shapes import Reading, refused_reason
from .wire import CallNames, compact_json


def _payload(value: Any) -> bytes:
    return compact_json(value).encode()


def event_data(message: EventMessage) -> dict[str, Any]:
    """An event's payload as botocore reads it, or ValueError where botocore would read it otherwise or fail
    (not UTF-8 JSON, not an object, a repeated key)."""
    if not message.payload:
        return {}
    data = loads_strict(message.payload.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("an event payload that is not a JSON object")
    return data


def _index(data: dict[str, Any]) -> int:
    index = data.get("contentBlockIndex")
    if not isinstance(index, int) or isinstance(index, bool):
        raise ValueError(f"contentBlockIndex {index!r} is not an integer")
    return index


class BedrockStreamRelay(HoldingRelay):
    refused_finish_reason = "end_turn"

    framing = "eventstream"

    def __init__(self, exchange: Exchange, decide: Any):
        super().__init__(exchange, decide)
        self._started: set[int] = set()
        self._open_call: int | None = None  # the tool-use block arguments may go to
        self._stopped = False  # messageStop came: the answer is over
        self._closed = False  # an exception frame came: the client raised, nothing more is relayed
        self._server_calls = CallNames()
        self._server_names: list[str] = []
        self._server_results: dict[Any, dict[str, Any]] = {}

    def make_decoder(self) -> Any:
        return EventStreamDecoder()

    def feed(self, message: EventMessage) -> Iterable[bytes]:
        if self._closed:
            return []
        if message.is_exception:
            self.held.drop()  # the stream ends here; undecided calls go with it
            self._closed = self.ended = True
            return [message.raw]
        kind = message.event_type
        if TABLE.event(kind) is not Reading.READ:
            return self.pass_or_hold(message.raw)  # botocore yields nothing the client acts on
        data = event_data(message)
        if self._stopped and kind != "metadata" or self.ended:
            raise ValueError(f"a {kind} event after the end of the message")
        if kind == "contentBlockStart":
            self._start(_index(data), data.get("start"))
        elif kind == "contentBlockDelta":
            self._delta(_index(data), data.get("delta"))
        elif kind == "contentBlockStop":
            index = _index(data)
            if index == self._open_call:
                self._open_call = None
            if index in self._server_results:
                self._add_result(index)
        elif kind == "messageStop":
            self._stopped = True
            self.response.finish_reason = data.get("stopReason")
            for unfinished in list(self._server_results):
                self._add_result(unfinished)
            if self.held.holding:
                return self.settle(message.raw, data)
        elif kind == "metadata":
            self.ended = True  # metadata (usage) follows messageStop and ends the stream
            usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
            self.response.usage = Usage(usage.get("inputTokens"), usage.get("outputTokens"))
        return self.pass_or_hold(message.raw)

    def _start(self, index: int, start: Any) -> None:
        kind, value = member(start)
        if TABLE.in_answer("start", kind) is Reading.REFUSED or not isinstance(value, dict):
            raise ValueError(refused_reason(FAMILY, "block start", kind))
        if index in self._started:
            raise ValueError(f"a second start of content block {index}")
        self._started.add(index)
        if kind == "toolUse":
            call_id, name = value.get("toolUseId"), value.get("name")
            if self._open_call is not None or not isinstance(name, str) or not isinstance(call_id, (str, type(None))):
                raise ValueError("a tool-use start the client would read differently")
            server = value.get("type") == SERVER_TOOL_USE  # the provider's own tool: it ran already
            if server:
                self._server_calls.add(call_id, name)
                self._server_names.append(name)
            self._open_call = index
            self.held.start(index, call_id, name, server=server)
        elif kind == "toolResult":
            self._server_results[index] = {**value, "content": []}

    def _delta(self, index: int, delta: Any) -> None:
        kind, value = member(delta)
        if TABLE.in_answer("delta", kind) is Reading.REFUSED:
            raise ValueError(refused_reason(FAMILY, "block delta", kind))
        if kind == "text":
            (self.held.add_text if self.held.holding else self.text.append)(str(value))
        elif kind == "toolUse":
            fragment = value.get("input") if isinstance(value, dict) else None
            if index != self._open_call or not isinstance(fragment, str):
                # a client could add them to any call (by index, or to the last one started): never relayed
                raise ValueError("tool-use arguments outside the one open tool-use block")
            self.held.add_arguments(index, fragment)
        elif kind == "toolResult":
            if not isinstance(value, list):
                raise ValueError("a toolResult delta that is not a list")
            self._server_results.setdefault(index, {"content": []})["content"] += value
        elif kind == "citation":
            refusal = citation_refusal(value)
            if refusal:
                raise ValueError(refusal)
            if isinstance(value, dict) and web_citations(value):
                name = self._server_names[0] if self._server_names else None
                self.held.add_result(cited_result(web_citations(value), server_name=name))

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
