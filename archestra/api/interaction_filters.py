"""The query filters of ``/api/interactions`` (listing and purging): every name and value is checked, so a
misspelt filter is a 400, never a silent "everything"."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Callable, Mapping

from sqlalchemy import Text, cast, or_

from ..models import Interaction
from .common import profile_filter_id
from .errors import ApiError
from .schemas import LABEL_RE

PAGING = ("limit", "offset")
EQUALITY = ("profile_id", "provider", "model", "session_id", "user_id", "agent_id", "virtual_key_id", "kind",
            "refusal", "person_id", "person_email", "team_id", "team_name", "subscription")
TRUE, FALSE = {"1", "true", "yes"}, {"0", "false", "no"}


def _status(name: str, value: str) -> Any:
    if not value.isdigit() or not 100 <= int(value) <= 599:
        raise ApiError(400, "invalid_query", f"{name} must be an HTTP status code (100 to 599).")
    return Interaction.status_code == int(value)


def _when(name: str, value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "invalid_query", f"{name} must be an ISO 8601 date-time.") from None


def _boolean(condition: Any) -> Callable[[str, str], Any]:
    def where(name: str, value: str) -> Any:
        if value.lower() in TRUE:
            return condition
        if value.lower() in FALSE:
            return ~condition
        raise ApiError(400, "invalid_query", f"{name} must be true or false.")
    return where


#: Every kind of refusal: tool calls refused in the answer, and requests the proxy refused outright (cost
#: limits, request and response policies).
_blocked = _boolean(or_(Interaction.blocked_count > 0, Interaction.refusal.is_not(None)))
#: Monitor mode: exchanges a decision would have changed in enforce mode (they went through unchanged).
_would_block = _boolean(Interaction.would_block_count > 0)


def _equal(column: str) -> Callable[[str, str], Any]:
    def where(name: str, value: str) -> Any:
        if not value or len(value) > 256:
            raise ApiError(400, "invalid_query", f"{name} must be a non-empty value of at most 256 characters.")
        if column == "person_email":
            value = value.strip().lower()
        return getattr(Interaction, column) == (profile_filter_id(value) if column == "profile_id" else value)
    return where


def _label(name: str, value: str) -> Any:
    """The context held this label (``untrusted`` included): a match on the recorded JSON list's text, which every
    database keeps as written (``["confidential", "customer-data"]``)."""
    if not re.fullmatch(LABEL_RE, value):
        raise ApiError(400, "invalid_query", f"{name} must be a label (lower-case letters, digits and _ . : / @ -).")
    escaped = value.replace("_", "\\_")  # the one LIKE wildcard a label may hold
    return cast(Interaction.labels, Text).like(f'%"{escaped}"%', escape="\\")


FILTERS: dict[str, Callable[[str, str], Any]] = {
    **{name: _equal(name) for name in EQUALITY},
    "status": _status, "status_code": _status, "blocked": _blocked, "would_block": _would_block, "label": _label,
    "covered": _boolean(Interaction.subscription.is_not(None)),
    "since": lambda name, value: Interaction.created_at >= _when(name, value),
    "until": lambda name, value: Interaction.created_at < _when(name, value),
}


def query_conditions(filters: Mapping[str, Callable[[str, str], Any]], args: Mapping[str, str],
                     allowed_extra: tuple[str, ...] = PAGING, skip_empty: bool = False) -> list[Any]:
    """SQL conditions for the query string ``args`` from a table's ``filters`` (name -> condition builder);
    unknown names and bad values raise a 400 (``allowed_extra``: names the view reads itself, e.g. paging)."""
    unknown = sorted(set(args) - set(filters) - set(allowed_extra))
    if unknown:
        raise ApiError(400, "invalid_query", f"Unknown filter {', '.join(unknown)}; known filters: "
                                             f"{', '.join(sorted(filters))}.")
    return [filters[name](name, value) for name, value in args.items()
            if name in filters and not (skip_empty and value == "")]


def interaction_filters(args: Mapping[str, str], allowed_extra: tuple[str, ...] = PAGING) -> list[Any]:
    """SQL conditions for the query string ``args``; unknown names and bad values raise a 400."""
    return query_conditions(FILTERS, args, allowed_extra)
