"""``GET /api/change-log``: who changed which configuration, when, from what to what (change_log.py writes it).
Read-only: the log is append-only, there is no write method."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from flask import request
from sqlalchemy import func, select

from ..change_log import ACTIONS, object_types
from ..extensions import db
from ..models import ChangeLog
from . import api
from .common import page_args, profile_filter_id
from .errors import ApiError
from .interaction_filters import PAGING, _when, query_conditions
from .schemas import ChangeLogSchema


def _equal(column: Any, allowed: Callable[[], list[str]] | None = None) -> Callable[[str, str], Any]:
    def where(name: str, value: str) -> Any:
        if not value or len(value) > 320:
            raise ApiError(400, "invalid_query", f"{name} must be a non-empty value of at most 320 characters.")
        if allowed is not None and value not in allowed():
            raise ApiError(400, "invalid_query", f"{name} must be one of {', '.join(allowed())}.")
        return column == value
    return where


FILTERS: dict[str, Callable[[str, str], Any]] = {
    "object_type": _equal(ChangeLog.object_type, object_types),
    "object_id": lambda name, value: _equal(ChangeLog.object_id)(name, value.lower() if len(value) == 36 else value),
    "action": _equal(ChangeLog.action, lambda: list(ACTIONS)),
    "actor": _equal(ChangeLog.actor_name),
    "actor_kind": _equal(ChangeLog.actor_kind),
    "person_id": _equal(ChangeLog.person_id),
    "via": _equal(ChangeLog.via),
    "profile_id": lambda name, value: _equal(ChangeLog.profile_id)(name, profile_filter_id(value)),
    "since": lambda name, value: ChangeLog.created_at >= _when(name, value),
    "until": lambda name, value: ChangeLog.created_at < _when(name, value),
}


def change_filters(args: Mapping[str, str], extra: tuple[str, ...] = PAGING) -> list[Any]:
    """SQL conditions for the query string; unknown names and bad values are a 400."""
    return query_conditions(FILTERS, args, extra, skip_empty=True)


def change_page(args: Mapping[str, str], limit: int, offset: int,
                extra: tuple[str, ...] = PAGING) -> tuple[list[ChangeLog], int]:
    """A page of entries matching ``args``, newest first, and how many match in all."""
    query = select(ChangeLog).where(*change_filters(args, extra))
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar() or 0
    rows = db.session.execute(query.order_by(ChangeLog.id.desc()).limit(limit).offset(offset)).scalars().all()
    return list(rows), total


@api.get("/change-log")
def list_changes():
    limit, offset = page_args()
    rows, total = change_page(request.args, limit, offset)
    return {"data": ChangeLogSchema(many=True).dump(rows), "total": total, "limit": limit, "offset": offset}


@api.get("/change-log/<int:item_id>")
def get_change(item_id: int):
    # Ids are 64-bit: a larger number names no change (and would not fit the database's integer).
    row = db.session.get(ChangeLog, item_id) if item_id < 2 ** 63 else None
    if row is None:
        raise ApiError(404, "not_found", f"Change {item_id} does not exist.")
    return ChangeLogSchema().dump(row)
