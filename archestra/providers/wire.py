"""What every family's reading shares: JSON as the providers send it, tool-call arguments as clients read them,
and which tool each call id names."""
from __future__ import annotations

import json
from typing import Any

from ..lenient_json import loads_lenient
from ..strict_json import AmbiguousJSON, loads_strict


def compact_json(value: Any) -> str:
    """JSON without spaces, as the providers send it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_arguments(raw: Any) -> tuple[Any, str]:
    """Tool-call arguments as (parsed value, raw JSON text).

    Text strict JSON refuses is read as lenient clients read it (cut off, trailing commas, single quotes,
    Python literals, a markdown fence: see ``lenient_json``): a policy condition must never be skipped because
    the arguments did not parse, and the decision has to see what a lenient client would execute. Only text
    nothing sensible can be read from stays a string, and so does JSON that clients would read differently
    (a key repeated in one object): the policies then treat the arguments as unreadable and fail closed.
    """
    if isinstance(raw, str):
        if not raw.strip():
            return {}, raw
        try:
            return loads_strict(raw), raw
        except AmbiguousJSON:
            return raw, raw
        except ValueError:
            pass
        try:
            return loads_lenient(raw), raw
        except (ValueError, RecursionError):
            return raw, raw
    return raw, json.dumps(raw)


class CallNames:
    """Which tool each call id of a conversation belongs to, so that a result is tied to exactly one call.

    An id used by calls of two different tools names neither (``name`` returns None): a result must never
    inherit the trust of another tool through a duplicated id.
    """

    _AMBIGUOUS = object()

    def __init__(self) -> None:
        self._names: dict[str, Any] = {}

    def add(self, call_id: str | None, name: str) -> None:
        if not call_id:
            return
        known = self._names.get(call_id, name)
        self._names[call_id] = name if known == name else self._AMBIGUOUS

    def name(self, call_id: str | None) -> str | None:
        found = self._names.get(call_id or "")
        return found if isinstance(found, str) else None

    def knows(self, call_id: str | None) -> bool:
        return bool(call_id) and call_id in self._names
