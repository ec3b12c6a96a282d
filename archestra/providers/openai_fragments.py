"""Streamed OpenAI-style tool calls put together from their fragments, as clients put them together.

The SDKs (and LangChain) merge a call's fragments by index: text concatenated (the name too), objects merged
key by key, ``type`` replaced. A call may be read as a ``function`` call, a ``custom`` call, or both when an
upstream sent both parts; and a client that takes every delta as a whole call (Mistral's) reads each name
fragment as a name, with that fragment's own arguments. A call is decided under every reading. A fragment of a type, or with a key, the
family's table does not hold makes the call a refused one (the call is held until decided, so refusing it
is enough: nothing of it has passed).
"""
from __future__ import annotations

from typing import Any

from ..exchange import ToolCall
from .chat_context import empty
from .openai_calls import TABLE
from .shapes import Reading, refused_reason
from .wire import compact_json, parse_arguments

#: The fragment keys read as call parts.
_PARTS = ("function", "custom")


class StreamedCall:
    """One call being assembled from fragments: its function and custom parts, as a client would merge them."""

    def __init__(self, call_id: str | None) -> None:
        self.id = call_id
        self.name: list[str] = []
        self.args: list[Any] = []
        self.custom_name: list[str] = []
        self.custom_input: list[str] = []
        #: Each function fragment's own (name, arguments): what a client taking every delta as a whole call runs.
        self.pieces: list[tuple[str, Any]] = []
        self.function = self.custom = False
        self.fresh = True  # it got fragments since it was last decided
        self.refuse: str | None = None  # a fragment the table does not hold: why the call is refused

    def add(self, fragment: dict[str, Any]) -> None:
        self._read(fragment)
        function, custom = fragment.get("function"), fragment.get("custom")
        if isinstance(function, dict):
            self.function = True
            _append_text(self.name, function.get("name"))
            if function.get("arguments") is not None:
                self.args.append(function["arguments"])
            pieces: list[str] = []
            _append_text(pieces, function.get("name"))
            if pieces and pieces[0]:
                self.pieces.append((pieces[0], function.get("arguments")))
        if isinstance(custom, dict):
            self.custom = True
            _append_text(self.custom_name, custom.get("name"))
            _append_text(self.custom_input, custom.get("input"))
        self.fresh = True

    def _read(self, fragment: dict[str, Any]) -> None:
        kind = fragment.get("type")
        if kind is not None and TABLE.in_answer("tool_call", kind) is Reading.REFUSED:
            self.refuse = self.refuse or refused_reason(TABLE.family, "tool call", kind)
        for key, value in fragment.items():
            if not empty(value) and key not in _PARTS \
                    and TABLE.in_answer("call_field", key) is Reading.REFUSED:
                self.refuse = self.refuse or refused_reason(TABLE.family, "tool call field", key)

    def calls(self) -> list[ToolCall]:
        calls = []
        if self.refuse:
            calls.append(ToolCall(self.id, "".join(self.name) or "".join(self.custom_name), None,
                                  refuse=self.refuse))
        if self.function or not self.custom:
            arguments, raw = parse_arguments(_merge_arguments(self.args))
            calls += [ToolCall(self.id, name, arguments, raw) for name in _names(self.name)]
            if len(self.pieces) > 1:  # each named delta as a whole call, with its own arguments only
                seen = {(call.name, call.raw_arguments) for call in calls}
                for name, own in self.pieces:
                    own_arguments, own_raw = parse_arguments(_merge_arguments([] if own is None else [own]))
                    if (name, own_raw) not in seen:
                        seen.add((name, own_raw))
                        calls.append(ToolCall(self.id, name, own_arguments, own_raw))
        if self.custom:
            text = "".join(self.custom_input)
            calls += [ToolCall(self.id, name, text, text, freeform=True) for name in _names(self.custom_name)]
        return calls


def _names(pieces: list[str]) -> list[str]:
    """The names a call may be read as: its name fragments concatenated (what accumulating clients build),
    and, when the upstream sent several, each of them (what a client taking every delta as a whole call,
    as Mistral's own, reads). Providers send a name once, so the extra names only ever cost odd streams."""
    whole = "".join(pieces)
    parts = [piece for piece in pieces if piece] if len([p for p in pieces if p]) > 1 else []
    return [whole, *dict.fromkeys(piece for piece in parts if piece != whole)]


def _append_text(pieces: list[str], value: Any) -> None:
    if isinstance(value, str):
        pieces.append(value)
    elif value is not None:
        pieces.append(compact_json(value))


def _merge_arguments(pieces: list[Any]) -> Any:
    """Argument fragments as a client merges them: text concatenated; objects (Mistral) merged key by key,
    their text values concatenated, as the SDKs' delta accumulation does."""
    if pieces and all(isinstance(piece, dict) for piece in pieces):
        merged: dict[str, Any] = {}
        for piece in pieces:
            _merge(merged, piece)
        return merged
    return "".join(piece if isinstance(piece, str) else compact_json(piece) for piece in pieces)


def _merge(into: dict[str, Any], piece: dict[str, Any]) -> None:
    for key, value in piece.items():
        known = into.get(key)
        if isinstance(known, str) and isinstance(value, str):
            into[key] = known + value
        elif isinstance(known, dict) and isinstance(value, dict):
            _merge(known, value)
        else:
            into[key] = value
