"""Tool-call hold-back for stream relays: raw events held from the first tool call until the decision."""
from __future__ import annotations

from typing import Any, Callable, Iterable

from ..exchange import Exchange, ToolCall, ToolResult
from .base import StreamRelay, parse_arguments

Decide = Callable[..., "str | None"]  # (calls[, results]) -> the refusal text, or None


class HeldCalls:
    """Raw events held since the first tool call, and the calls' pieces accumulated by block key."""

    def __init__(self) -> None:
        self.events: list[bytes] | None = None
        self.first_key: Any = None
        self._calls: dict[Any, dict[str, Any]] = {}

    @property
    def holding(self) -> bool:
        return self.events is not None

    def start(self, key: Any, call_id: str | None, name: str) -> None:
        if self.events is None:
            self.events, self.first_key = [], key
        if key in self._calls:  # a second start at the same index must not hide the first call from the decision
            self._calls[object()] = self._calls.pop(key)
        self._calls[key] = {"id": call_id, "name": name or "", "args": []}

    def add_arguments(self, key: Any, fragment: str) -> None:
        if key in self._calls and fragment:
            self._calls[key]["args"].append(fragment)

    def hold(self, raw: bytes) -> None:
        assert self.events is not None
        self.events.append(raw)

    def drop(self) -> None:
        self.events, self._calls = None, {}

    def take(self) -> tuple[list[bytes], list[ToolCall]]:
        """The held events and the complete calls; holding stops."""
        calls = []
        for call in self._calls.values():
            arguments, raw = parse_arguments("".join(call["args"]))
            calls.append(ToolCall(call["id"], call["name"], arguments, raw))
        events = self.events or []
        self.drop()
        return events, calls


class HoldingRelay(StreamRelay):
    """A relay for streams whose tool calls are content blocks (Anthropic, Cohere, Bedrock).

    Subclasses parse their events in ``feed``, start/extend calls on ``self.held``, end with
    ``return self.pass_or_hold(raw)``, call ``self.settle(end_raw, end)`` at the event that carries the
    finish reason, and say in ``refusal_events`` how a refusal text block looks in their format.
    """

    #: The finish reason the client sees when the calls were refused.
    refused_finish_reason = "end_turn"

    def __init__(self, exchange: Exchange, decide: Decide):
        super().__init__(exchange)
        self._decide = decide
        self.held = HeldCalls()
        #: Provider-executed tool results seen so far in this answer: the held calls are decided with them.
        self.results: list[ToolResult] = []

    def pass_or_hold(self, raw: bytes) -> list[bytes]:
        if self.held.holding:
            self.held.hold(raw)
            return []
        return [raw]

    def finish(self) -> Iterable[bytes]:
        out = self.settle(None, None) if self.held.holding else []
        self.sync_view()
        return out

    def settle(self, end_raw: bytes | None, end: dict[str, Any] | None) -> list[bytes]:
        """Decide the held calls: replay them (and the end event) or replace them with the refusal."""
        index = self.held.first_key
        held, calls = self.held.take()
        results, self.results = self.results, []
        refusal = (self._decide(calls, results) if results else self._decide(calls)) if calls else None
        if refusal is None:
            self.response.tool_calls += calls
            return held + ([end_raw] if end_raw else [])
        self.text.append(refusal)
        self.response.finish_reason = self.refused_finish_reason
        return self.refusal_events(index, refusal, end)

    def refusal_events(self, index: Any, refusal: str, end: dict[str, Any] | None) -> list[bytes]:
        """The events replacing the held calls: a text block at ``index``, then ``end`` rewritten."""
        raise NotImplementedError
