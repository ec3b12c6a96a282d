"""Tool-call hold-back for stream relays: raw events held from the first tool call until the decision."""
from __future__ import annotations

from typing import Any

from ..exchange import ToolCall
from .base import parse_arguments


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
