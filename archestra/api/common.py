"""Helpers shared by the management API views."""
from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..profiles import UUID_RE
from ..runtime import current_runtime
from .errors import ApiError


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return body


def get_or_404(model: Any, item_id: str, label: str) -> Any:
    item = db.session.get(model, item_id.lower()) if UUID_RE.fullmatch(item_id) else None
    if item is None:
        raise ApiError(404, "not_found", f"{label} {item_id} does not exist.")
    return item


def commit(conflict: str = "This conflicts with an existing record.") -> None:
    """Commit, and drop the per-worker caches so this worker sees the change at once."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, "conflict", conflict) from None
    current_runtime().invalidate_caches()
