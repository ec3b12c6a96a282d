"""Tool-call hold-back for stream relays: raw events held from the first tool call until the decision."""
from __future__ import annotations

from typing import Any, Callable, Iterable

from ..exchange import Exchange, ToolCall, ToolResult
from .relay import StreamRelay
from .wire import parse_arguments

#: ``decide(calls)`` or ``decide(calls, results)``: the refusal text, or None when the calls may pass.
Decide = Callable[..., "str | None"]


class HeldCalls:
    """Raw events held since the first tool call, the calls' pieces accumulated by block key, and the
    provider-executed results seen in the answer, in stream order.

    ``start(key, id, name)`` opens a call; ``initial`` is the arguments the start event carried, used when
    no fragment follows (Anthropic ``content_block_start`` input; a provider whose start fragment is the
    beginning of the arguments passes it to ``add_arguments`` instead); ``server`` marks a call the provider
    already ran. A second start with the same key opens a second call (both are decided; fragments go to
    the latest). ``add_result`` records a provider-executed result (web search, MCP...) at its place among
    the calls, held or not: ``take_segments`` returns the calls cut at each result that follows a call, so
    each stretch is decided with the results before it. ``add_text`` keeps answer text that came while
    holding: it joins the answer's text if the calls pass (it is dropped with them if they are refused).
    """

    def __init__(self) -> None:
        self.events: list[bytes] | None = None
        self.first_key: Any = None
        self._calls: dict[Any, dict[str, Any]] = {}
        self._order: list[Any] = []  # call records (dicts) and ToolResults, as they came
        self.texts: list[str] = []

    @property
    def holding(self) -> bool:
        return self.events is not None

    def start(self, key: Any, call_id: str | None, name: str, initial: Any = None, server: bool = False,
              toolset: str | None = None) -> None:
        if self.events is None:
            self.events, self.first_key = [], key
        record = {"id": call_id, "name": name or "", "args": [], "initial": initial, "server": server,
                  "toolset": toolset}
        self._calls[key] = record
        self._order.append(record)

    def add_arguments(self, key: Any, fragment: str) -> None:
        if key in self._calls and fragment:
            self._calls[key]["args"].append(fragment)

    def add_result(self, result: ToolResult) -> None:
        self._order.append(result)

    def add_text(self, text: str) -> None:
        self.texts.append(text)

    def hold(self, raw: bytes) -> None:
        assert self.events is not None
        self.events.append(raw)

    def drop(self) -> None:
        self.events, self._calls, self._order, self.texts = None, {}, [], []

    def take(self) -> tuple[list[bytes], list[ToolCall]]:
        """The held events and the complete calls; holding stops."""
        events, segments = self.take_segments()
        return events, [call for calls, _ in segments for call in calls]

    def take_segments(self) -> tuple[list[bytes], list[tuple[list[ToolCall], list[ToolResult]]]]:
        """The held events and the calls in stretches ``(calls, results before them)``; holding stops."""
        segments: list[tuple[list[ToolCall], list[ToolResult]]] = []
        calls: list[ToolCall] = []
        results: list[ToolResult] = []
        for item in self._order:
            if isinstance(item, ToolResult):
                if calls:
                    segments.append((calls, results))
                    calls, results = [], []
                results.append(item)
            else:
                calls.append(_call(item))
        if calls:
            segments.append((calls, results))
        events = self.events or []
        self.drop()
        return events, segments


def _call(record: dict[str, Any]) -> ToolCall:
    if record["args"] or record["initial"] is None:
        arguments, raw = parse_arguments("".join(record["args"]))
    else:
        arguments, raw = parse_arguments(record["initial"])
    return ToolCall(record["id"], record["name"], arguments, raw, server=record["server"],
                    toolset=record["toolset"])


class HoldingRelay(StreamRelay):
    """A relay for streams whose tool calls are content blocks (Anthropic, Cohere, Bedrock).

    Subclasses parse their events in ``feed``, start/extend calls (and record provider-executed results) on
    ``self.held``, end with ``return self.pass_or_hold(raw)``, call ``self.settle(end_raw, end)`` at the event
    that carries the finish reason, and say in ``refusal_events`` how a refusal text block looks in their
    format. ``settle`` decides stretch by stretch (``decide(calls)``, or ``decide(calls, results)`` when
    results came before them) and stops at the first refusal.
    """

    #: The finish reason the client sees when the calls were refused.
    refused_finish_reason = "end_turn"

    def __init__(self, exchange: Exchange, decide: Decide):
        super().__init__(exchange)
        self._decide = decide
        self.held = HeldCalls()
        #: Provider-executed results a relay collected itself (kept for relays written against it): they are
        #: decided with the first stretch of held calls. ``held.add_result`` places a result among the calls.
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
        index, texts = self.held.first_key, self.held.texts
        held, segments = self.held.take_segments()
        if self.results and segments:
            segments[0] = (segments[0][0], [*self.results, *segments[0][1]])
            self.results = []
        refusal, passed = None, []
        for calls, results in segments:
            refusal = self._decide(calls, results) if results else self._decide(calls)
            if refusal is not None:
                break
            passed += calls
        if refusal is None:
            self.response.tool_calls += passed
            self.text += texts
            return held + ([end_raw] if end_raw else [])
        self.text.append(refusal)
        self.response.finish_reason = self.refused_finish_reason
        return self.refusal_events(index, refusal, end)

    def refusal_events(self, index: Any, refusal: str, end: dict[str, Any] | None) -> list[bytes]:
        """The events replacing the held calls: a text block at ``index``, then ``end`` rewritten."""
        raise NotImplementedError
