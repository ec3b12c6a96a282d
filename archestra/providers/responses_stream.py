"""Relays an OpenAI Responses SSE stream (``event: <type>`` + ``data: {"type": ..., "sequence_number": ...}``).

Events pass byte for byte until the first event of a call the proxy decides (an ``output_item.added`` /
``done`` whose item is a client call, an MCP approval request or an unknown type, or a call's argument /
input / command fragment). From there every event is held until the terminal event (``response.completed``,
``response.incomplete``, ``response.failed``) or the end of the stream; then all calls of the answer are
decided, with the hosted results (web search, MCP...) that came before them, under every reading a client may
make: the item of ``output_item.done``, the ``output_item.added`` item with its argument fragments, the
``*.done`` event's arguments, and the terminal event's ``output`` (what the SDKs return).

* Allowed: the held events and the terminal event are replayed unchanged.
* Refused: the held events of call items are dropped; the refusal message item's events take the place of
  the first call; the other held items are replayed with their ``output_index`` renumbered; every replayed
  event gets the next ``sequence_number``; the terminal event's ``response.output`` becomes exactly the items
  the client received (the openai SDK's ``responses.stream`` helper checks that), and the stream ends there.

Only the events the family's table reads (``responses_table.TABLE``: items, call fragments, lifecycle and
terminal events) move the bookkeeping; the others, and event types the table does not hold (the openai SDK
hands those to the application as they are and accumulates nothing from them), are relayed in their place.

The client's view is kept per ``output_index`` as it received it, so a terminal event can be rewritten to it
whenever the client's stream differs from the upstream's (a refusal, or held calls dropped at an ``error``
event: undecided calls never pass).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from ..exchange import Exchange, ToolCall, ToolResult, Usage
from ..streaming.event_template import EventTemplate, one_event
from ..streaming.sse import SSEEvent, encode_event
from ..strict_json import loads_strict
from .relay import StreamRelay
from .responses_items import COMPACTED, answer_calls, answer_segments, compaction_of, kind_of, refusal_item
from .responses_table import TABLE
from .shapes import Reading
from .wire import compact_json

Decide = Callable[[list[ToolCall], list[ToolResult]], "str | None"]

TERMINAL = ("response.completed", "response.incomplete", "response.failed")
#: Most of a streamed answer: these events, one after the other, differing in these values only.
_TEXT_DELTA = "response.output_text.delta"
_ADDED, _DONE = "response.output_item.added", "response.output_item.done"
#: Fragment events of calls: type -> the item field they build.
_FRAGMENTS = {"response.function_call_arguments.delta": "arguments", "response.custom_tool_call_input.delta": "input"}
_FINISHED = {"response.function_call_arguments.done": "arguments", "response.custom_tool_call_input.done": "input"}
#: The field of a call item its fragments build.
_FIELD = {"function_call": "arguments", "custom_tool_call": "input"}
_CALL_EVENTS = ("response.function_call_arguments.", "response.custom_tool_call_input.",
                "response.shell_call_command.")


class _Item:
    """One output item as the upstream streamed it (every ``added`` / ``done`` item at its index: an upstream
    may announce two items at one index, and clients that act on ``output_item.done`` act on each)."""

    __slots__ = ("added", "done", "pieces", "finished")

    def __init__(self) -> None:
        self.added: list[dict[str, Any]] = []
        self.done: list[dict[str, Any]] = []
        self.pieces: list[str] = []
        self.finished: Any = None

    def readings(self) -> list[dict[str, Any]]:
        """The item as clients may build it (several versions only for calls)."""
        if not self.done and not self.added:
            return []
        base = (self.done or self.added)[-1]
        found = [base, *self.done]
        if kind_of(base, answer=True) == "call":
            key = _FIELD.get(str(base.get("type")))
            if key and self.pieces:
                found.append({**base, key: "".join(self.pieces)})
            if key and self.finished is not None:
                found.append({**base, key: self.finished})
        for added in self.added:
            if added.get("name") != base.get("name") or added.get("type") != base.get("type"):
                # A client building the item from the added event keeps what it announced (the SDKs hand the
                # added item to the application before a done event of another type is seen).
                key = _FIELD.get(str(added.get("type")))
                found.append({**added, key: "".join(self.pieces)} if key else added)
        distinct: list[dict[str, Any]] = []
        for item in found:
            if item not in distinct:
                distinct.append(item)
        return distinct


class ResponsesStreamRelay(StreamRelay):
    def __init__(self, exchange: Exchange, decide: Decide) -> None:
        super().__init__(exchange)
        self._decide = decide
        self._state = exchange.state  # compaction items in the answer are left there for the response chain
        self._items: dict[int, _Item] = {}           # by upstream output_index
        self._extra: list[dict[str, Any]] = []       # call items carried by lifecycle events' ``output``
        self._held: list[tuple[bytes, dict[str, Any] | None]] | None = None
        self._client: dict[int, dict[str, Any]] = {}  # by client output_index: the item as the client has it
        self._seq = -1                                # the last sequence_number the client got
        self._rewritten = False                       # the client's stream differs from the upstream's
        self._closed = False                          # a refusal ended the answer
        #: The last text delta that passed, as a template: a delta that is it with another text, sequence number
        #: and padding is taken in without being read whole (``_took``).
        self._template: EventTemplate | None = None

    # -- StreamRelay ---------------------------------------------------------------------------
    def last_template(self) -> EventTemplate | None:
        return self._template if self._template_applies() else None

    def take_like_last(self, template: EventTemplate, chunk: bytes) -> bytes | None:
        # A text delta like the last one: not decoded as SSE either.
        values = template.match(chunk)
        if values is None:
            return None
        self._took(template, values)
        return chunk

    def feed(self, event: SSEEvent) -> Iterable[bytes]:
        if self._closed:
            return []
        if self._template is not None and self._template_applies():
            values = self._template.match(event.raw)
            if values is not None:
                self._took(self._template, values)
                return [event.raw]
        data = self._json(event)
        if data is None:
            return self._pass_or_hold(event.raw, None)
        kind = data.get("type")
        # Only the events the client's parser acts on move the bookkeeping (table: ``READ``); the others, and
        # event types the table does not hold (the openai SDK skips those too), are relayed in their place.
        starts = self._track(kind, data) if TABLE.event(kind) is Reading.READ else False
        if kind in TERMINAL:
            return self._end(event.raw, data)
        if kind == "error" and self._held is not None:
            self._drop_held()  # the answer ends here: calls not yet decided never pass
        elif starts and self._held is None:
            self._held = []
        out = self._pass_or_hold(event.raw, data)
        if kind == _TEXT_DELTA and out:
            self._template = _text_delta_template(event.raw, data)
        return out

    def _template_applies(self) -> bool:
        return self._held is None and not self._closed and not self.ended

    def _took(self, template: EventTemplate, values: list[Any]) -> None:
        """What ``_saw`` does with a text delta like the template (the table reads nothing else of it)."""
        for name, value in zip(template.names, values):
            if name == "sequence_number":
                self._seq = value
            elif name == "delta":
                self.text.append(value)

    def finish(self) -> Iterable[bytes]:
        out: list[bytes] = []
        if not self.ended and not self._closed:
            out = self._settle()  # a stream cut short: what it read is still judged, held calls decided
        self.sync_view()
        return out

    def error_bytes(self, message: str) -> bytes:
        self._seq += 1
        error = {"type": "error", "code": "upstream_error", "message": message, "param": None,
                 "sequence_number": self._seq}
        return encode_event(compact_json(error), "error")

    # -- reading events ----------------------------------------------------------------------------
    def _json(self, event: SSEEvent) -> dict[str, Any] | None:
        if event.data is None or not event.data.strip():
            return None
        data = loads_strict(event.data)  # ValueError: the stream ends with an error event, nothing undecided passes
        if not isinstance(data, dict):
            raise ValueError("a stream event that is not a JSON object")
        return data

    def _track(self, kind: Any, data: dict[str, Any]) -> bool:
        """Record what the event tells about the answer; True when it carries call material."""
        response = data.get("response")
        if isinstance(response, dict):
            self._view(response)
            output = response.get("output")
            if kind not in TERMINAL and isinstance(output, list):
                calls = [item for item in output if kind_of(item, answer=True) == "call"]
                self._extra += [item for item in calls if item not in self._extra]
                return bool(calls)
        if kind in (_ADDED, _DONE):
            item = data.get("item")
            if not isinstance(item, dict):
                raise ValueError(f"{kind} without an item object")
            state = self._item(data.get("output_index"))
            (state.added if kind == _ADDED else state.done).append(item)
            compacted = compaction_of(item) if kind == _DONE else None
            if compacted:
                self._state.setdefault(COMPACTED, []).append(compacted)
            return kind_of(item, answer=True) == "call"
        if kind in _FRAGMENTS:
            delta = data.get("delta")
            self._item(data.get("output_index")).pieces.append(delta if isinstance(delta, str)
                                                               else "" if delta is None else compact_json(delta))
        elif kind in _FINISHED:
            self._item(data.get("output_index")).finished = data.get(_FINISHED[kind])
        return isinstance(kind, str) and kind.startswith(_CALL_EVENTS)

    def _item(self, index: Any) -> _Item:
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError(f"an output_index that is not a whole number: {index!r}")
        return self._items.setdefault(index, _Item())

    def _view(self, response: dict[str, Any]) -> None:
        if isinstance(response.get("model"), str):
            self.response.model = response["model"]
        if isinstance(response.get("id"), str):
            self.response.id = response["id"]
        if isinstance(response.get("status"), str):
            self.response.finish_reason = response["status"]
        usage = response.get("usage")
        if isinstance(usage, dict):
            self.response.usage = Usage(usage.get("input_tokens"), usage.get("output_tokens"))

    # -- what the client gets ------------------------------------------------------------------------
    def _pass_or_hold(self, raw: bytes, data: dict[str, Any] | None) -> list[bytes]:
        if self._held is not None:
            self._held.append((raw, data))
            return []
        if data is not None:
            self._saw(data)
        return [raw]

    def _saw(self, data: dict[str, Any]) -> None:
        """Keep the client's view: its last sequence number, its items, the answer text."""
        seq = data.get("sequence_number")
        if isinstance(seq, int) and not isinstance(seq, bool):
            self._seq = seq
        kind = data.get("type")
        if kind in (_ADDED, _DONE) and isinstance(data.get("output_index"), int):
            self._client[data["output_index"]] = data["item"]
        elif kind == "response.output_text.delta" and isinstance(data.get("delta"), str):
            self.text.append(data["delta"])

    def _send(self, data: dict[str, Any]) -> bytes:
        """A rebuilt event: the next sequence number, in the client's view."""
        self._seq += 1
        data = {**data, "sequence_number": self._seq}
        self._saw(data)
        return encode_event(compact_json(data), str(data.get("type")))

    # -- deciding ----------------------------------------------------------------------------------
    def _end(self, raw: bytes, data: dict[str, Any]) -> list[bytes]:
        self.ended = True
        found = data.get("response")
        response: dict[str, Any] = found if isinstance(found, dict) else {}
        out = self._settle(response.get("output"))
        final = response.get("output")
        if self._closed or self._rewritten:
            final = [self._client[index] for index in sorted(self._client)]
            out.append(self._send({**data, "response": {**response, "output": final}}))
        else:
            out += self._pass_or_hold(raw, data)
        self.response.tool_calls = [] if self._closed else answer_calls(
            final if isinstance(final, list) else [self._client[i] for i in sorted(self._client)])
        return out

    def _settle(self, final: Any = None) -> list[bytes]:
        """Decide the answer's calls (the readings of every item, and ``final``: the terminal ``output``):
        replay what was held, or replace the calls with the refusal."""
        refusal = None
        for calls, results in answer_segments(self._readings(final)):
            refusal = self._decide(calls, results)
            if refusal is not None:
                break
        if refusal is None:
            held, self._held = self._held or [], None
            return [piece for raw, data in held for piece in self._pass_or_hold(raw, data)]
        return self._refuse(refusal)

    def _readings(self, final: Any) -> list[dict[str, Any]]:
        final = final if isinstance(final, list) else []
        items: list[dict[str, Any]] = []
        for position in sorted(set(self._items) | set(range(len(final)))):
            found = self._items[position].readings() if position in self._items else []
            if position < len(final) and isinstance(final[position], dict) and final[position] not in found:
                found.append(final[position])
            items += found
        return items + [item for item in self._extra if item not in items]

    def _refuse(self, refusal: str) -> list[bytes]:
        held, self._held = self._held or [], None
        self._rewritten = self._closed = True
        calls = self._call_positions()
        places: dict[int, int] = {}
        following = max(self._client, default=-1) + 1
        out: list[bytes] = []
        placed = False
        for raw, data in held:
            if data is None:
                out.append(raw)
                continue
            index = data.get("output_index")
            if index in calls:
                if not placed:
                    out += self._refusal_events(following, refusal)
                    following, placed = following + 1, True
                continue
            if isinstance(index, int) and index not in self._client and index not in places:
                places[index], following = following, following + 1
            rebuilt = {**data, "output_index": places.get(index, index)} if isinstance(index, int) else data
            if isinstance(rebuilt.get("response"), dict) and rebuilt.get("type") not in TERMINAL:
                rebuilt = {**rebuilt, "response": {**rebuilt["response"], "output": []}}
            out.append(self._send(rebuilt))
        if not placed:
            out += self._refusal_events(following, refusal)
        return out

    def _call_positions(self) -> set[int]:
        return {index for index, item in self._items.items()
                if any(kind_of(reading, answer=True) == "call" for reading in item.readings())}

    def _drop_held(self) -> None:
        for index in self._call_positions():
            del self._items[index]
        self._held, self._rewritten = None, True

    def _refusal_events(self, index: int, text: str) -> list[bytes]:
        item = refusal_item(text)
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        where = {"item_id": item["id"], "output_index": index}
        events = [
            {"type": _ADDED, "output_index": index, "item": {**item, "status": "in_progress", "content": []}},
            {"type": "response.content_part.added", **where, "content_index": 0, "part": part},
            {"type": "response.output_text.delta", **where, "content_index": 0, "delta": text, "logprobs": []},
            {"type": "response.output_text.done", **where, "content_index": 0, "text": text, "logprobs": []},
            {"type": "response.content_part.done", **where, "content_index": 0, "part": {**part, "text": text}},
            {"type": _DONE, "output_index": index, "item": item},
        ]
        return [self._send(event) for event in events]


def _text_delta_template(raw: bytes, data: dict[str, Any]) -> EventTemplate | None:
    """A text delta that passed, cut at its text, sequence number and padding, when it is one ``event:`` line and
    one ``data:`` line and says nothing else the relay reads (no ``response``)."""
    if not one_event(raw, _TEXT_DELTA.encode()) or "response" in data or not isinstance(data.get("delta"), str):
        return None
    seq = data.get("sequence_number")
    if not isinstance(seq, int) or isinstance(seq, bool):
        return None
    padding = ("obfuscation",) if isinstance(data.get("obfuscation"), str) else ()
    return EventTemplate.of(raw, strings=("delta", *padding), numbers=("sequence_number",))
