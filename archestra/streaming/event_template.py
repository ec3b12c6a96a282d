"""An event that is an earlier event with other values in some places, recognised without reading it whole.

Most of a streamed answer is one event repeated with another text (and, in the Responses API, another
``sequence_number`` and ``obfuscation`` padding). ``EventTemplate.of`` cuts such an event's bytes at the values of
the keys given; ``match`` takes another event's bytes and gives back its values in those places when the event is
the template's bytes around them, each value one JSON string (read by orjson: a quote, a broken escape, a lone
surrogate or a control character fails it) or one JSON whole number. Anything else, and the caller reads the
event in full, as before.

What ``match`` accepts is the template's JSON with other values in those places (the same keys, once each, in
the same structure): a string value ends at its first unescaped quote, so cutting at the first place where the
next literal bytes start either finds the value's true end or leaves a cut value that fails to read.
"""
from __future__ import annotations

import re
from typing import Any

import orjson

_STRING_BODY = re.compile(rb'(?:[^"\\]|\\.)*')
_INTEGER = re.compile(rb"-?(?:0|[1-9][0-9]*)")


def one_event(raw: bytes, name: bytes | None = None) -> bool:
    """Whether ``raw`` is exactly one SSE event as a template is made of: an ``event: <name>`` line (none when
    ``name`` is None), one ``data:`` line and its blank line, LF line ends only (what a chunk of its own is
    decoded as)."""
    head = b"data: " if name is None else b"event: " + name + b"\ndata: "
    return raw.startswith(head) and raw.endswith(b"\n\n") and raw.count(b"\n") == (2 if name is None else 3) \
        and b"\r" not in raw


class EventTemplate:
    __slots__ = ("names", "head", "tail", "_literals", "_strings", "_one_string", "_two_strings")

    def __init__(self, names: tuple[str, ...], literals: tuple[bytes, ...], strings: tuple[bool, ...]):
        self.names = names          # the keys of the values, in the order of their places in the bytes
        self._literals = literals   # the bytes before, between and after the values (one more than values)
        self._strings = strings     # each value: a string (its literals hold its quotes) or a whole number
        self.head, self.tail = literals[0], literals[-1]  # the bytes before the first value, after the last
        self._one_string = strings == (True,)  # the common case (a text delta), matched without the loop
        self._two_strings = strings == (True, True)  # InvokeModel's chunk payload: its bytes and padding

    @classmethod
    def of(cls, raw: bytes, strings: tuple[str, ...] = (), numbers: tuple[str, ...] = ()) -> EventTemplate | None:
        """``raw`` cut at the string values of the keys ``strings`` and the whole-number values of the keys
        ``numbers``; None when one of those keys is not there exactly once with a value of its kind (the caller
        leaves out a key the event may lack)."""
        places = []
        for name, is_string in [*((name, True) for name in strings), *((name, False) for name in numbers)]:
            key = b'"' + name.encode() + b'":'
            if raw.count(key) != 1:
                return None
            start = raw.index(key) + len(key)
            if is_string:
                if raw[start:start + 1] != b'"':
                    return None
                start += 1
                end = _STRING_BODY.match(raw, start).end()  # type: ignore[union-attr]
                if raw[end:end + 1] != b'"':
                    return None
            else:
                found = _INTEGER.match(raw, start)
                if found is None or raw[found.end():found.end() + 1] not in (b",", b"}"):
                    return None
                end = found.end()
            places.append((start, end, name, is_string))
        if not places:
            return None
        places.sort()
        literals, position = [], 0
        for start, end, _, _ in places:
            literals.append(raw[position:start])
            position = end
        literals.append(raw[position:])
        return cls(tuple(name for _, _, name, _ in places), tuple(literals),
                   tuple(is_string for _, _, _, is_string in places))

    def match(self, raw: bytes) -> list[Any] | None:
        """The values of ``raw`` in the template's places (in the order of ``names``); None: not this event."""
        head, tail, literals = self.head, self.tail, self._literals
        if not raw.startswith(head) or not raw.endswith(tail):
            return None
        position, limit, last = len(head), len(raw) - len(tail), len(self._strings) - 1
        if limit < position:
            return None
        if self._one_string:
            try:
                return [orjson.loads(raw[position - 1:limit + 1])]
            except orjson.JSONDecodeError:
                return None
        if self._two_strings:  # the loop below for two strings, unrolled
            middle = literals[1]
            end = raw.find(middle, position, limit)
            if end < position:
                return None
            second = end + len(middle)  # at most ``limit``: the middle was found before it
            try:
                return [orjson.loads(raw[position - 1:end + 1]), orjson.loads(raw[second - 1:limit + 1])]
            except orjson.JSONDecodeError:
                return None
        values: list[Any] = []
        for index, is_string in enumerate(self._strings):
            following = literals[index + 1]
            end = limit if index == last else raw.find(following, position, limit)
            if end < position:
                return None
            if is_string:
                try:  # with its quotes, which the literals on either side hold
                    values.append(orjson.loads(raw[position - 1:end + 1]))
                except orjson.JSONDecodeError:
                    return None
            else:
                digits = raw[position:end]
                if _INTEGER.fullmatch(digits) is None:
                    return None
                values.append(int(digits))
            position = end + len(following)
        return values
