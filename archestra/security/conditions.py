r"""Policy conditions ``{key, operator, value}``: a path into JSON and a comparison.

Key paths. A key walks from the top of the document (a tool call's arguments, a tool result):

* ``name``: the member ``name`` of an object; segments are separated by dots, ``a.b``;
* ``[N]``: element ``N`` (counted from 0) of a list, ``items[0].x``;
* ``[*]``: every element of a list, ``items[*].x``;
* ``["name"]`` or ``['name']``: the member ``name`` written in quotes, so that it may hold any character,
  dots, brackets and spaces included, or none: ``["a.b"]``, ``meta['x[0]']``, ``[""]``. Inside the quotes a
  backslash makes the next character literal: ``["say \"hi\""]``, ``['it\'s']``, ``["C:\\dir"]``;
* outside quotes, ``\.``, ``\[``, ``\]`` and ``\\`` stand for a literal ``.``, ``[``, ``]`` and ``\``
  (``a\.b`` is the one member ``a.b``); any other backslash is an ordinary character;
* a bracket segment follows a name or another bracket directly (``a["b"][0]``), or starts the path or a
  dot-separated part (``[0].x``); ``a..b``, a leading or trailing dot and unclosed brackets are invalid;
* an empty key is the whole document (for a tool result that is not JSON: its text).

A name that meets a list looks into each of its elements (lists inside lists too): ``to.email`` reaches
``{"to": [{"email": ...}, ...]}`` as ``to[*].email`` does.

Comparisons. A list found at the path counts as each of its elements, at any depth (an empty list counts
as ``[]``); an object counts as its compact JSON text (``{"a":1}``, non-ASCII characters as themselves);
``true``, ``false``, ``null`` and numbers as their JSON text. Each value is read two ways: as written (NFC,
casefolded: ``"STRASSE"`` equals ``"straße"``) and as its skeleton (``skeleton.py``: percent- and punycode-
decoded, NFKC, IDNA UTS #46, UTS #39 confusables, a host's final dot dropped, casefolded), and so is the
condition's value. ``equal``, ``notEqual``, ``contains``, ``notContains``, ``startsWith``, ``endsWith``,
``notStartsWith`` and ``notEndsWith`` compare the two readings; ``regex`` is an RE2 pattern searched anywhere in
the NFC text and in the skeleton
with case kept, case-sensitive unless the pattern says ``(?i)``; RE2 runs in time linear in the text, so it
has no backreferences or lookaround (a policy using them is refused when saved).

Every or any (``every``). A restriction (block, untrust, sanitise) holds when ANY value found satisfies the
operator in EITHER reading: ``to endsWith @evil.test`` catches ``ＥＶＩＬ。test`` next to a colleague, and
``to notContains @corp.com`` one recipient outside. A grant (trust, allow) holds only when EVERY branch of
the path reaches a value and EVERY value satisfies it in BOTH readings: one attacker's item among intranet
items, an item without the member, or a look-alike domain is not trusted. Nothing found at the path means the
condition does not hold, whatever the operator. A document that cannot be read (:data:`UNREADABLE`) holds
every restriction and no grant.
"""
from __future__ import annotations

import json
import unicodedata
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator

import re2

from ..strict_json import AmbiguousJSON, loads_unique_keys
from .skeleton import fold, mapped, skeleton

OPERATORS = ("equal", "notEqual", "contains", "notContains", "startsWith", "endsWith", "regex", "notStartsWith",
             "notEndsWith")
_POSITIVE = {"notEqual": "equal", "notContains": "contains", "notStartsWith": "startsWith", "notEndsWith": "endsWith"}
_NAME_ESCAPES = ".[]\\"
_ALL = ("*",)  # the [*] segment; the others are ("key", name) and ("index", n)
_MISSING = object()  # a branch of a path that found nothing


class _Unreadable:
    def __repr__(self) -> str:
        return "UNREADABLE"


#: A document conditions cannot read (arguments that are not JSON even leniently, JSON with a repeated key):
#: a condition is never skipped for that, so block conditions hold on it and grant conditions do not.
UNREADABLE = _Unreadable()

# Only a yes/no is needed (no captures lets RE2 answer from its DFA), and a bad pattern is reported to the
# caller rather than logged by RE2 on stderr.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.never_capture = True
_RE2_OPTIONS.log_errors = False


class ConditionError(ValueError):
    """A condition that can never be evaluated (bad operator, bad regex, bad path)."""


def validate_condition(condition: dict[str, Any]) -> None:
    operator = condition.get("operator")
    if operator not in OPERATORS:
        raise ConditionError(f"unknown operator {operator!r} (one of {', '.join(OPERATORS)})")
    if not isinstance(condition.get("value"), str):
        raise ConditionError("value must be a string")
    key = condition.get("key", "")
    if not isinstance(key, str) or (key and _split(key) is None):
        raise ConditionError(f"invalid key path {key!r} (see the key syntax: a.b, items[*].x, items[0].x, "
                             "[\"a.b\"], a\\.b)")
    if operator == "regex":
        _regex(condition["value"])


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        reason = reason.decode(errors="replace") if isinstance(reason, bytes) else reason
        raise ConditionError(f"invalid regex {pattern!r}: {reason} (patterns are RE2 syntax, which runs in linear "
                             "time: no backreferences, no lookahead or lookbehind)") from None


@lru_cache(maxsize=1024)
def _split(key: str) -> tuple[tuple[Any, ...], ...] | None:
    """The segments of ``key``, or None when it is not a valid path."""
    segments: list[tuple[Any, ...]] = []
    i, n = 0, len(key)
    while True:  # one dot-separated part per turn
        start = len(segments)
        while i < n and key[i] != ".":
            if key[i] == "[":
                i = _bracket(key, i, segments)
                if i < 0:
                    return None
            elif key[i] == "]":
                return None
            else:
                i = _name(key, i, segments)
        if len(segments) == start:  # empty part: a..b, .a, a.
            return None
        if i == n:
            return tuple(segments)
        i += 1


def _name(key: str, i: int, segments: list[tuple[Any, ...]]) -> int:
    chars = []
    while i < len(key) and key[i] not in ".[]":
        if key[i] == "\\" and i + 1 < len(key) and key[i + 1] in _NAME_ESCAPES:
            i += 1
        chars.append(key[i])
        i += 1
    segments.append(("key", "".join(chars)))
    return i


def _bracket(key: str, i: int, segments: list[tuple[Any, ...]]) -> int:
    """Reads ``[...]`` at ``i``; the index after it, or -1 when it is malformed."""
    close = key.find("]", i)
    if close > i and key[i + 1] not in "\"'":
        inner = key[i + 1:close]
        if inner == "*":
            segments.append(_ALL)
        elif inner.isascii() and inner.isdigit():
            segments.append(("index", int(inner)))
        else:
            return -1
        return close + 1
    if i + 1 >= len(key) or key[i + 1] not in "\"'":
        return -1
    quote, chars, i = key[i + 1], [], i + 2
    while i < len(key) and key[i] != quote:
        if key[i] == "\\" and i + 1 < len(key):
            i += 1
        chars.append(key[i])
        i += 1
    if not key.startswith(quote + "]", i):
        return -1
    segments.append(("key", "".join(chars)))
    return i + 2


def _elements(value: Any) -> Iterator[Any]:
    """A value, or the elements of a list at any depth (an empty list stands for itself); in order."""
    if not isinstance(value, list) or not value:
        yield value
        return
    stack = [iter(value)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list) and item:
                stack.append(iter(item))
                break
            yield item
        else:
            stack.pop()


def _reach(document: Any, path: tuple[tuple[Any, ...], ...]) -> list[Any]:
    """What the path reaches, one entry per branch: a value, or ``_MISSING`` where a branch finds nothing (an
    element of ``[*]`` without the member the path names next, an index past the end)."""
    current = [document]
    for segment in path:
        found: list[Any] = []
        for value in current:
            if value is _MISSING:
                found.append(value)
            elif segment[0] == "*":
                if isinstance(value, list):
                    found.extend(value)
                else:
                    found.append(_MISSING)
            elif segment[0] == "index":
                found.append(value[segment[1]] if isinstance(value, list) and segment[1] < len(value)
                             else _MISSING)
            elif isinstance(value, dict):  # the usual case, without walking elements
                found.append(value.get(segment[1], _MISSING))
            else:
                name = segment[1]
                found.extend(item[name] if isinstance(item, dict) and name in item else _MISSING
                             for item in _elements(value))
        current = found
    return current


def values_at(document: Any, key: str) -> list[Any]:
    """Every value found at ``key`` in ``document`` (several when the path has ``[*]`` or meets lists)."""
    if not key:
        return [document]
    path = _split(key)
    if path is None:
        return []
    return [value for value in _reach(document, path) if value is not _MISSING]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _nfc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFC", text)


_COMPARE = {"equal": str.__eq__, "contains": str.__contains__, "startsWith": str.startswith,
            "endsWith": str.endswith}


@lru_cache(maxsize=4096)
def _matcher(operator: str, expected: str) -> Callable[[str, bool], bool]:
    """``operator`` and ``expected`` as a test of one value's text, its two readings tried in turn, the text
    as written first (cheaper, and usually decisive): for a block one reading satisfying it is enough
    (``every`` False), for a grant both must. Built once per condition value."""
    positive = _POSITIVE.get(operator, operator)
    negated = positive != operator
    if positive == "regex":
        search = _regex(expected).search

        def searched(text: str, every: bool) -> bool:
            first = (search(_nfc(text)) is not None) != negated
            if first != every:  # a block satisfied, or a grant refused: the other reading cannot change that
                return first
            return (search(mapped(text)) is not None) != negated
        return searched
    compare = _COMPARE.get(positive)
    if compare is None:
        raise ConditionError(f"unknown operator {operator!r} (one of {', '.join(OPERATORS)})")
    folded, skeletal = fold(expected), skeleton(expected)

    def compared(text: str, every: bool) -> bool:
        first = compare(fold(text), folded) != negated
        if first != every:
            return first
        return compare(skeleton(text), skeletal) != negated
    return compared


def condition_holds(document: Any, condition: dict[str, Any], every: bool = False) -> bool:
    """Whether the condition holds on ``document``.

    ``every`` False (block conditions): some value found satisfies the operator, in some reading. ``every``
    True (grants: trust, allow): every branch of the path reaches a value and every value satisfies it, in both
    readings. Nothing found never holds. An :data:`UNREADABLE` document holds every block condition and no
    grant.
    """
    if document is UNREADABLE:
        return not every
    key = condition.get("key", "")
    path = _split(key) if key else ()
    if path is None:
        return False
    found = _reach(document, path)
    match = _matcher(condition["operator"], condition["value"])
    if every:
        if not found or _MISSING in found:
            return False
        for item in _values(found):
            if not match(_text(item), True):
                return False
        return True
    for item in _values(found):
        if item is not _MISSING and match(_text(item), False):
            return True
    return False


def _values(found: list[Any]) -> list[Any]:
    """The values found, lists counting as their elements (at any depth; an empty list as itself)."""
    values: list[Any] = []
    for value in found:
        if not isinstance(value, list) or not value:
            values.append(value)
        elif any(isinstance(item, list) for item in value):
            values.extend(_elements(value))
        else:
            values.extend(value)
    return values


def all_hold(document: Any, conditions: Iterable[dict[str, Any]], every: bool = False) -> bool:
    """Conditions are ANDed; an empty list holds (it is the tool's default policy)."""
    return all(condition_holds(document, condition, every) for condition in conditions)


def parse_result(content: str) -> Any:
    """A tool result as JSON when it is JSON, else its text (so an empty key can still match it);
    :data:`UNREADABLE` when readers would disagree on it (a key repeated in one object) or it is nested too
    deeply to read. ``NaN`` and ``Infinity`` are read as Python reads them: they hide nothing."""
    try:
        return loads_unique_keys(content)
    except AmbiguousJSON:
        return UNREADABLE
    except ValueError:
        return content
