"""Relays an Anthropic Messages SSE stream, reading it exactly as the official clients read it.

The clients (see ``anthropic_events``) skip events without an ``event:`` line and ``ping`` events whatever
their data, raise at an ``error`` event, and act on every other named event by its data's ``type``. Their
message is ``message_start``'s message, its ``content`` included; each ``content_block_start`` appends one
block whatever its ``index`` says, and a delta or stop applies to the block at its ``index`` in that list.
The relay keeps the same list, so a skipped event never moves a block and a call's arguments land on the
block the client puts them on. Where the clients would read an event differently from each other or from
the relay, the stream is cut (:class:`UnreadEvent`, which the pipeline turns into ``error_bytes``): an event
whose name and type differ, an unknown event or delta type, an index that is not a position in the list
(Python counts negative indexes from the end, TypeScript also reads ``"1"`` and ``1.5``), a delta to a
block already stopped or decided (it would change a call after its decision), a stop for another block than
the last (TypeScript's ``contentBlock`` event hands over the last block, whatever the stop's index), a second
``message_start`` (one client ignores it, the other fails), an event acted on before ``message_start``, and
an ``mcp_tool_use`` block whose start event carries input that its fragments would replace (the beta
clients read its fragments, the others keep the start's input). After ``message_stop`` or an ``error``
event, and after a refusal, nothing more is relayed: the client's message is complete.

From the first call block on (``tool_use``, and the ``server_tool_use`` / ``mcp_tool_use`` calls the provider
ran), events are held until ``message_delta`` (which carries the stop reason): the calls are then decided and
the held events replayed byte for byte, or replaced by one text block with the refusal and ``stop_reason:
"end_turn"``. A call's arguments are its ``input_json_delta`` fragments, or the ``input`` of its start event
when it got no fragment (what the clients keep); arguments that are not one complete JSON object are refused
(clients parse partial JSON each their own way), and so is a start's input followed only by empty fragments
(Python keeps the start's input, TypeScript reads ``{}``). Server result blocks (web search, web fetch, MCP,
code execution...) are recorded as they pass, so the calls after them are decided with them in context.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..exchange import ToolCall, Usage
from ..streaming import StreamFormatError
from ..streaming.event_template import EventTemplate
from ..streaming.sse import SSEEvent, encode_event
from ..strict_json import loads_plain, loads_strict
from .anthropic_blocks import CALL_TYPES, Names, call_name, is_server_result, server_result, toolset_of
from .anthropic_events import reading
from .anthropic_table import TABLE
from .held import Decide, HoldingRelay
from .shapes import Reading
from .wire import compact_json

#: Call blocks whose ``input_json_delta`` fragments every client accumulates (not ``mcp_tool_use``: only the
#: beta message streams do).
_FRAGMENTS_READ_BY_ALL = ("tool_use", "server_tool_use")
_DISPUTED = ("The tool call's start event carries input and its input fragments are all empty: some clients keep "
             "the start's input, others read {}, so the proxy cannot decide what would run.")
_INCOMPLETE = ("The tool call's input is not one complete JSON object; clients read such input each their own "
               "way, so the proxy cannot decide what would run.")


class UnreadEvent(StreamFormatError):
    """An event the relay cannot read the way every client reads it: the stream is cut."""


class AnthropicStreamRelay(HoldingRelay):
    refused_finish_reason = "end_turn"

    def __init__(self, exchange: Any, decide: Decide):
        super().__init__(exchange, self._decide_read)
        self._policy = decide
        self._kinds: list[str] = []  # the client's content blocks so far, by position
        self._carried: set[int] = set()  # call blocks whose start event carried input
        self._fragmented: set[int] = set()  # call blocks that got input fragments, and those with text:
        self._texted: set[int] = set()  # where a start's input met only empty fragments, the clients disagree
        self._held_calls: list[int] = []  # the held calls' blocks, in the order they are decided
        self._asked = 0
        self._names = Names()
        self._closed: set[int] = set()  # blocks stopped: no delta may change them
        self._settled = 0  # blocks before this position were decided (and relayed): no delta may change them
        self._started = False
        self._over = False  # message_stop or error relayed: the client reads no further
        self._refused = False  # a refusal ended the client's message
        #: The last text delta passed (its data cut at the text) and its block: a delta that is it with another
        #: text is taken without being read whole while ``_text_fast`` is set (``_text_shortcut``).
        self._template: tuple[EventTemplate, int] | None = None
        self._text_fast: EventTemplate | None = None

    def feed(self, event: SSEEvent) -> Iterable[bytes]:
        fast = self._text_fast
        if fast is not None and event.event == "content_block_delta" and event.data is not None \
                and self.take_text(fast, event.data.encode()):
            return [event.raw]
        self._text_fast = None
        out = self._feed(event)
        self._text_fast = self._text_shortcut()
        return out

    def text_template(self) -> EventTemplate | None:
        """The template a text delta's data is now taken by (``take_text``), or None: every event is read whole.
        For an envelope around this stream (InvokeModel's chunk frames) that takes a frame without unwrapping it
        in full."""
        return self._text_fast

    def take_text(self, template: EventTemplate, data: bytes) -> bool:
        """A ``content_block_delta`` event whose data is ``template``'s with another text: taken in as reading it
        whole would (the client gets the event as it came); False: it must be read whole."""
        values = template.match(data)
        if values is None:
            return False
        self.text.append(values[0])
        return True

    def _text_shortcut(self) -> EventTemplate | None:
        """The template while a delta like it would be read as text and passed: its block is a text block still
        open and not yet settled, nothing is held, and the client's message goes on (none of that changes but
        by an event read in full)."""
        if self._template is None or self._over or self._refused or not self._started or self.held.holding:
            return None
        template, index = self._template
        if index in self._closed or not self._settled <= index < len(self._kinds) or self._kinds[index] != "text":
            return None
        return template

    def _feed(self, event: SSEEvent) -> Iterable[bytes]:
        if self._over:
            return []
        data = self._read(event)
        if data is None:  # an event the clients skip: relayed, moves nothing
            return self.pass_or_hold(event.raw)
        kind = data["type"]
        if kind == "error":
            self.held.drop()  # the client raises here: undecided calls never reach it
            self._over = True
            return [event.raw]
        if self._refused and kind != "message_stop":
            return []
        if kind == "message_start":
            return self._message_start(event, data)
        if not self._started:
            raise UnreadEvent(f"a {kind} event before message_start")
        if kind == "content_block_start":
            self._start(data.get("content_block"))
        elif kind == "content_block_delta":
            self._delta(self._position(data), data.get("delta"))
            if not self.held.holding and event.data is not None:
                self._template = _text_template(event.data, data) or self._template
        elif kind == "content_block_stop":
            self._closed.add(self._position(data, stop=True))
        elif kind == "message_delta":
            self.response.finish_reason = (data.get("delta") or {}).get("stop_reason")
            usage = data.get("usage") or {}
            if usage.get("output_tokens") is not None:
                self.response.usage.output_tokens = usage["output_tokens"]
            if usage.get("input_tokens"):  # cumulative, as the SDK reads it (the Model Router's streams say it here)
                self.response.usage.input_tokens = usage["input_tokens"]
            if self.held.holding:
                return self.settle(event.raw, data)
        elif kind == "message_stop":
            self.ended = self._over = True
            if self.held.holding:
                return [*self.settle(None, None), event.raw]
        return self.pass_or_hold(event.raw)

    def _read(self, event: SSEEvent) -> dict[str, Any] | None:
        """The data of an event the clients act on (its ``type`` checked), or None for one they skip."""
        name = event.event
        if name is None:
            return None
        if name == "":
            raise UnreadEvent("an event with an empty name (the Python SDK skips it, the TypeScript SDK reads it)")
        known = reading(f"event:{name}")
        if known is Reading.SKIPPED:
            return None
        if known is Reading.REFUSED:
            raise UnreadEvent(f"an event named {name[:40]!r} that the proxy does not know")
        if name == "error":
            return {"type": "error"}  # the clients raise whatever its data
        if not event.data:
            return None
        try:
            data = loads_plain(event.data)
        except ValueError:
            raise UnreadEvent(f"a {name} event whose data is not JSON") from None
        if not isinstance(data, dict) or data.get("type") != name:
            raise UnreadEvent(f"an event named {name} whose data is not of that type")
        return data

    def _message_start(self, event: SSEEvent, data: dict[str, Any]) -> list[bytes]:
        message = data.get("message")
        if self._started or not isinstance(message, dict) or not isinstance(message.get("content"), list):
            raise UnreadEvent("a second message_start, or one without a message and its content list")
        self._started = True
        usage = message["usage"] if isinstance(message.get("usage"), dict) else {}
        self.response.model = message.get("model") or self.response.model
        self.response.usage = Usage(usage.get("input_tokens"), usage.get("output_tokens"))
        if not message["content"]:
            return self.pass_or_hold(event.raw)
        # The clients keep the content of message_start, calls included: it is sent as an empty message_start
        # and one start/stop pair per block, so every call is decided.
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
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(kind, str):
            raise UnreadEvent("a content_block_start without a typed block")
        if TABLE.in_answer("content", kind) is Reading.REFUSED:
            raise UnreadEvent(f"a content block of type {kind!r} the proxy does not understand")
        position = len(self._kinds)
        self._kinds.append(kind)
        if kind in CALL_TYPES:
            self._names.add(block)
            initial = block.get("input")
            if initial not in (None, {}):
                self._carried.add(position)
            self._held_calls.append(position)
            self.held.start(position, block.get("id"), call_name(block), initial=initial,
                            server=kind != "tool_use", toolset=toolset_of(block))
        elif is_server_result(kind):
            self.held.add_result(server_result(block, self._names, ("server", position)))

    def _position(self, data: dict[str, Any], stop: bool = False) -> int:
        index, last = data.get("index"), len(self._kinds) - 1
        if (type(index) is not int or not self._settled <= index <= last or index in self._closed
                or (stop and index != last)):
            raise UnreadEvent(f"a {data['type']} event whose index is not a block still open"
                              f"{' and the last' if stop else ''}")
        return index

    def _delta(self, position: int, delta: Any) -> None:
        kind = delta.get("type") if isinstance(delta, dict) else None
        if not isinstance(kind, str) or reading(f"delta:{kind}") is Reading.REFUSED:
            raise UnreadEvent("a content_block_delta whose delta type the proxy does not know")
        block = self._kinds[position]
        if kind == "text_delta" and block == "text":
            (self.held.add_text if self.held.holding else self.text.append)(str(delta.get("text", "")))
        elif kind == "input_json_delta" and block in CALL_TYPES:
            fragment = delta.get("partial_json")
            if not isinstance(fragment, str) or (fragment and position in self._carried
                                                 and block not in _FRAGMENTS_READ_BY_ALL):
                raise UnreadEvent("input fragments the clients would read differently")
            self._fragmented.add(position)
            if fragment:
                self._texted.add(position)
            self.held.add_arguments(position, fragment)

    def settle(self, end_raw: bytes | None, end: dict[str, Any] | None) -> list[bytes]:
        try:
            return super().settle(end_raw, end)
        finally:
            self._held_calls, self._asked, self._settled = [], 0, len(self._kinds)

    def _decide_read(self, calls: list[ToolCall], results: Any = None) -> str | None:
        for call in calls:  # in the order their blocks started (HeldCalls keeps it)
            position = self._held_calls[self._asked]
            self._asked += 1
            if position in self._carried and position in self._fragmented and position not in self._texted:
                call.refuse = call.refuse or _DISPUTED
            call.refuse = call.refuse or (None if _complete_object(call.raw_arguments) else _INCOMPLETE)
        refusal = self._policy(calls, results) if results else self._policy(calls)
        self._refused = self._refused or refusal is not None
        return refusal

    def error_bytes(self, message: str) -> bytes:
        return encode_event(compact_json({"type": "error", "error": {"type": "api_error", "message": message}}),
                            "error")

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


def _text_template(text: str, data: dict[str, Any]) -> tuple[EventTemplate, int] | None:
    """A text delta's data cut at its text, with its block's index."""
    delta, index = data.get("delta"), data.get("index")
    if not isinstance(delta, dict) or delta.get("type") != "text_delta" or not isinstance(delta.get("text"), str) \
            or type(index) is not int:
        return None
    template = EventTemplate.of(text.encode(), strings=("text",))
    return (template, index) if template is not None else None


def _complete_object(raw: str | None) -> bool:
    """Whether a call's input is one JSON object every client reads alike (strict JSON, no repeated key)."""
    try:
        return isinstance(loads_strict(raw), dict) if raw else False
    except (ValueError, RecursionError):
        return False
