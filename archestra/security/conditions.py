"""Policy conditions ``{key, operator, value}``: a path into JSON and a comparison.

Paths: ``a.b``, ``items[*].x`` (``[*]`` fans out over a list), ``items[0].x``; an empty key means the whole
value (for a tool result that is not JSON: its text). A condition holds when a value found at the path
satisfies the operator; for ``notEqual`` / ``notContains`` every value found must. Nothing found at the
path means the condition does not hold, whatever the operator.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Iterable

OPERATORS = ("equal", "notEqual", "contains", "notContains", "startsWith", "endsWith", "regex")
_NEGATIVE = {"notEqual", "notContains"}
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\*|\d+)\]")
_MISSING = object()


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
        raise ConditionError(f"invalid key path {key!r}")
    if operator == "regex":
        try:
            _regex(condition["value"])
        except re.error as exc:
            raise ConditionError(f"invalid regex {condition['value']!r}: {exc}") from None


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@lru_cache(maxsize=1024)
def _split(key: str) -> tuple[str, ...] | None:
    parts = []
    for part in key.split("."):
        if not part:
            return None
        consumed = 0
        for match in _SEGMENT.finditer(part):
            if match.start() != consumed:
                return None
            parts.append(match.group(1) if match.group(1) is not None else f"[{match.group(2)}]")
            consumed = match.end()
        if consumed != len(part):
            return None
    return tuple(parts)


def values_at(document: Any, key: str) -> list[Any]:
    """Every value found at ``key`` in ``document`` (several when the path has ``[*]``)."""
    if not key:
        return [document]
    path = _split(key)
    if path is None:
        return []
    current = [document]
    for segment in path:
        found = []
        for value in current:
            if segment == "[*]":
                if isinstance(value, list):
                    found.extend(value)
            elif segment.startswith("["):
                index = int(segment[1:-1])
                if isinstance(value, list) and index < len(value):
                    found.append(value[index])
            elif isinstance(value, dict) and segment in value:
                found.append(value[segment])
        current = found
    return current


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _holds(operator: str, actual: Any, expected: str) -> bool:
    text = _text(actual)
    if operator == "equal":
        return text == expected
    if operator == "notEqual":
        return text != expected
    if operator == "contains":
        return expected in text
    if operator == "notContains":
        return expected not in text
    if operator == "startsWith":
        return text.startswith(expected)
    if operator == "endsWith":
        return text.endswith(expected)
    if operator == "regex":
        return _regex(expected).search(text) is not None
    return False


def condition_holds(document: Any, condition: dict[str, Any]) -> bool:
    found = values_at(document, condition.get("key", ""))
    if not found:
        return False
    operator = condition["operator"]
    checks = (_holds(operator, value, condition["value"]) for value in found)
    return all(checks) if operator in _NEGATIVE else any(checks)


def all_hold(document: Any, conditions: Iterable[dict[str, Any]]) -> bool:
    """Conditions are ANDed; an empty list holds (it is the tool's default policy)."""
    return all(condition_holds(document, condition) for condition in conditions)


def parse_result(content: str) -> Any:
    """A tool result as JSON when it is JSON, else its text (so an empty key can still match it)."""
    try:
        return json.loads(content)
    except ValueError:
        return content
