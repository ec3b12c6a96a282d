r"""JSON as lenient clients read it, for tool-call arguments that are not quite JSON.

Models emit arguments that strict ``json.loads`` refuses, and many clients run the call all the same: partial
JSON parsers (the Vercel AI SDK's ``parsePartialJson`` / ``fixJson``, LangChain's ``parse_partial_json``, which
its tool-call parser uses) complete text cut off at the end, and others accept Python or JavaScript habits.
A policy decision has to see what such a client would execute, so ``loads_lenient`` reads:

* text cut off at the end: an unterminated string is closed, unterminated objects and arrays are closed, a
  partial ``true`` / ``false`` / ``null`` is completed, a member whose key or value never started is
  dropped, a number keeps its complete digits (``1.`` is ``1``), a half-written escape is dropped;
* trailing commas, single-quoted strings, identifier keys (``{path: "/x"}``), raw control characters in
  strings, escapes JSON does not define (``\q`` is ``q``);
* ``True`` / ``False`` / ``None``, ``NaN`` / ``Infinity`` / ``-Infinity``;
* surrounding whitespace and a markdown code fence (```` ```json ... ``` ````, the closing fence optional).

Anything else (text after the value, a stray character, an unknown word) is not guessed at: ``ValueError``,
and so is a key repeated in one object (``AmbiguousJSON``): first-wins and last-wins readers would run
different calls, so no reading is the client's.
Nesting deeper than ``MAX_DEPTH`` raises ``RecursionError``, as ``json.loads`` does for deep input.
"""
from __future__ import annotations

import re
from typing import Any

from .strict_json import AmbiguousJSON

MAX_DEPTH = 200

_NOTHING = object()  # the text ended before a value started: the member or element is dropped
_WORDS = {"true": True, "True": True, "false": False, "False": False, "null": None, "None": None,
          "NaN": float("nan"), "Infinity": float("inf")}
_SAME = {"True": "true", "False": "false", "None": "null"}  # spellings of one value, for partial words
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")
_PARTIAL_EXPONENT = re.compile(r"[eE][+-]?\Z")
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_PLAIN = {'"': re.compile(r'[^"\\]*'), "'": re.compile(r"[^'\\]*")}
_FENCE_TAG = re.compile(r"[A-Za-z0-9_+-]*\s")


def loads_lenient(text: str) -> Any:
    """The value lenient clients read from ``text``; ``ValueError`` when nothing sensible can be read."""
    reader = _Reader(_unfence(text))
    value = reader.value(0)
    if value is _NOTHING:
        raise ValueError("no JSON value")
    reader.skip()
    if reader.pos != len(reader.text):
        raise ValueError(f"unexpected text at {reader.pos}")
    return value


def _unfence(text: str) -> str:
    text = text.strip().lstrip("\ufeff").strip()
    if not text.startswith("```"):
        return text
    tag = _FENCE_TAG.match(text, 3)  # ```json followed by a newline; a bare ``` may be followed by the value
    body = text[tag.end() if tag else 3:]
    body = body.rstrip()
    return (body[:-3] if body.endswith("```") else body).strip()


class _Reader:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def value(self, depth: int) -> Any:
        self.skip()
        if self.pos >= len(self.text):
            return _NOTHING
        char = self.text[self.pos]
        if char in "{[":
            if depth >= MAX_DEPTH:
                raise RecursionError(f"arguments nested deeper than {MAX_DEPTH}")
            return self.object(depth + 1) if char == "{" else self.array(depth + 1)
        if char in "\"'":
            return self.string()[0]
        if char == "-" or (char.isascii() and char.isdigit()):
            return self.number()
        if _WORD.match(self.text, self.pos):
            return self.word()
        raise ValueError(f"unexpected {char!r} at {self.pos}")

    def object(self, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        self.pos += 1
        while True:
            self.skip()
            if self.pos >= len(self.text):
                return result
            char = self.text[self.pos]
            if char == "}":
                self.pos += 1
                return result
            if char in "\"'":
                key, closed = self.string()
            elif match := _WORD.match(self.text, self.pos):
                key, self.pos = match.group(), match.end()
                closed = self.pos < len(self.text)
            else:
                raise ValueError(f"expected a key at {self.pos}")
            self.skip()
            if not closed or self.pos >= len(self.text):  # a key cut off, or nothing after it
                return result
            if self.text[self.pos] != ":":
                raise ValueError(f"expected ':' at {self.pos}")
            self.pos += 1
            value = self.value(depth)
            if value is _NOTHING:
                return result
            if key in result:
                raise AmbiguousJSON(f"the key {key!r} appears twice in one object")
            result[key] = value
            if not self.after_item("}"):
                return result

    def array(self, depth: int) -> list[Any]:
        result: list[Any] = []
        self.pos += 1
        while True:
            self.skip()
            if self.pos >= len(self.text):
                return result
            if self.text[self.pos] == "]":
                self.pos += 1
                return result
            value = self.value(depth)
            if value is _NOTHING:
                return result
            result.append(value)
            if not self.after_item("]"):
                return result

    def after_item(self, close: str) -> bool:
        """Past a ``,`` (True: more may follow) or the closing bracket / the end (False)."""
        self.skip()
        if self.pos >= len(self.text):
            return False
        char = self.text[self.pos]
        self.pos += 1
        if char == ",":
            return True
        if char == close:
            return False
        raise ValueError(f"expected ',' or {close!r} at {self.pos - 1}")

    def string(self) -> tuple[str, bool]:
        """The string at ``pos`` and whether its closing quote was there (else the text ended in it)."""
        quote = self.text[self.pos]
        plain = _PLAIN[quote]
        parts = []
        self.pos += 1
        while True:
            match = plain.match(self.text, self.pos)
            parts.append(match.group())
            self.pos = match.end()
            if self.pos >= len(self.text):
                return "".join(parts), False
            if self.text[self.pos] == quote:
                self.pos += 1
                return "".join(parts), True
            escaped = self.escape()  # at a backslash
            if escaped is None:
                self.pos = len(self.text)
                return "".join(parts), False
            parts.append(escaped)

    def escape(self) -> str | None:
        """The character a backslash escape stands for; None when the text ends inside it."""
        text, start = self.text, self.pos + 1
        if start >= len(text):
            return None
        char = text[start]
        if char != "u":
            self.pos = start + 1
            return _ESCAPES.get(char, char)
        digits = text[start + 1:start + 5]
        if not _HEX4.fullmatch(digits):
            if len(digits) < 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                return None
            raise ValueError(f"invalid \\u escape at {self.pos}")
        code = int(digits, 16)
        self.pos = start + 5
        low = text[self.pos:self.pos + 6]
        if 0xD800 <= code < 0xDC00 and low[:2] == "\\u" and _HEX4.fullmatch(low[2:]) \
                and 0xDC00 <= int(low[2:], 16) < 0xE000:
            self.pos += 6
            return chr(0x10000 + ((code - 0xD800) << 10) + (int(low[2:], 16) - 0xDC00))
        return chr(code)

    def number(self) -> Any:
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            if self.text[self.pos + 1:self.pos + 2] == "I":
                self.pos += 1
                value = self.word()
                if value is _NOTHING or value != float("inf"):
                    raise ValueError(f"unexpected '-' at {self.pos - 1}")
                return -value
            if self.pos + 1 == len(self.text):  # a lone '-' cut off
                self.pos += 1
                return _NOTHING
            raise ValueError(f"invalid number at {self.pos}")
        literal, self.pos = match.group(), match.end()
        if _PARTIAL_EXPONENT.match(self.text, self.pos):  # 1e / 1e- cut off: the digits read stand
            self.pos = len(self.text)
        elif self.pos == len(self.text) and literal.endswith("."):
            literal = literal[:-1]
        if "." in literal or "e" in literal or "E" in literal:
            return float(literal)
        return int(literal)

    def word(self) -> Any:
        match = _WORD.match(self.text, self.pos)
        assert match is not None
        word, self.pos = match.group(), match.end()
        if word in _WORDS:
            return _WORDS[word]
        if self.pos == len(self.text):  # cut off: complete it when only one value can start this way
            meant = {_SAME.get(full, full) for full in _WORDS if full.startswith(word)}
            if len(meant) == 1:
                return _WORDS[meant.pop()]
            return _NOTHING
        raise ValueError(f"unexpected {word!r} at {match.start()}")
