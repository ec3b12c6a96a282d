"""Helpers shared by the management API views."""
from __future__ import annotations

from typing import Any, Callable

from flask import request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Profile
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
    """Commit the change with a bump of the configuration generation in the same transaction (other instances
    see it move exactly when the change is visible), then tell this instance's workers before answering."""
    runtime = current_runtime()
    try:
        db.session.flush()  # the writes first: the generation row is locked only for the commit
        runtime.generation.bump_database(db.session)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, "conflict", conflict) from None
    runtime.invalidate_caches()


MAX_OFFSET = 10_000_000


def page_args(maximum: int = 500) -> tuple[int, int]:
    try:
        limit = min(int(request.args.get("limit", 100)), maximum)
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise ApiError(400, "invalid_query", "limit and offset must be integers.") from None
    if limit < 1 or not 0 <= offset <= MAX_OFFSET:
        raise ApiError(400, "invalid_query", f"limit must be >= 1 and offset between 0 and {MAX_OFFSET}.")
    return limit, offset


def create_item(model: Any, schema: Any, body: Any, check: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                conflict: str = "This conflicts with an existing record.") -> Any:
    """Validate ``body`` with ``schema`` (and ``check``), store the new ``model`` row and bump the configuration
    generation: what every create of the management API and the console does."""
    values = schema.load(body)
    item = model(**(check(values) if check else values))
    db.session.add(item)
    commit(conflict)
    return item


def update_item(item: Any, partial: Any, body: Any, check: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                conflict: str = "This conflicts with an existing record.") -> Any:
    """Validate ``body`` with the ``partial`` schema, and the record as it will be with ``check``; then save."""
    loaded = partial.load(body)
    if check is not None:
        current = {name: getattr(item, name) for name in partial.load_fields}
        loaded = {key: value for key, value in check({**current, **loaded}).items() if key in loaded}
    for key, value in loaded.items():
        setattr(item, key, value)
    commit(conflict)
    return item


def delete_item(item: Any) -> None:
    db.session.delete(item)
    commit()


def crud_routes(blueprint: Any, path: str, model: Any, schema_class: Any, label: str, *,
                check: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                filters: Callable[[Any], Any] | None = None, order_by: Any = None,
                conflict: str = "This conflicts with an existing record.") -> None:
    """List / create / get / update / delete routes for ``model`` under ``/{path}``.

    ``check`` validates loaded values beyond the schema (raise ApiError); ``filters`` narrows the list query
    from the request's query string.
    """
    schema, many, partial = schema_class(), schema_class(many=True), schema_class(partial=True)
    order_by = order_by if order_by is not None else model.created_at

    def list_view():
        query = select(model).order_by(order_by)
        if filters is not None:
            query = filters(query)
        return {"data": many.dump(db.session.execute(query).scalars().all())}

    def create_view():
        return schema.dump(create_item(model, schema, json_body(), check, conflict)), 201

    def get_view(item_id: str):
        return schema.dump(get_or_404(model, item_id, label))

    def update_view(item_id: str):
        item = update_item(get_or_404(model, item_id, label), partial, json_body(), check, conflict)
        return schema.dump(item)

    def delete_view(item_id: str):
        delete_item(get_or_404(model, item_id, label))
        return "", 204

    endpoint = path.replace("-", "_")
    blueprint.add_url_rule(f"/{path}", f"list_{endpoint}", list_view, methods=["GET"])
    blueprint.add_url_rule(f"/{path}", f"create_{endpoint}", create_view, methods=["POST"])
    blueprint.add_url_rule(f"/{path}/<item_id>", f"get_{endpoint}", get_view, methods=["GET"])
    blueprint.add_url_rule(f"/{path}/<item_id>", f"update_{endpoint}", update_view, methods=["PATCH", "PUT"])
    blueprint.add_url_rule(f"/{path}/<item_id>", f"delete_{endpoint}", delete_view, methods=["DELETE"])


def profile_filter_id(key: str) -> str:
    """The profile id a ``?profile_id=`` list filter means: an id as given (records outlive their profile), a
    slug as its profile's id; a slug no profile has stays as it is and finds nothing."""
    key = key.lower()
    if UUID_RE.fullmatch(key):
        return key
    found = db.session.execute(select(Profile.id).where(Profile.slug == key)).scalar()
    return found or key
