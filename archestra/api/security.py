"""``/api/tools``, ``/api/tool-call-policies``, ``/api/tool-result-policies``, ``/api/settings``,
``/api/blocked-tool-calls``."""
from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import func, select

from ..extensions import db
from ..models import BlockedToolCall, Setting, Tool, ToolCallPolicy, ToolResultPolicy
from . import api
from .common import commit, crud_routes, get_or_404, json_body, page_args, profile_filter_id
from .errors import ApiError
from .schemas import (BlockedToolCallSchema, SettingsSchema, ToolCallPolicySchema, ToolResultPolicySchema, ToolSchema,
                      check_labels)


@api.get("/tools")
def list_tools():
    query = select(Tool).order_by(Tool.profile_id, Tool.name)
    if request.args.get("profile_id"):
        query = query.where(Tool.profile_id == request.args["profile_id"].lower())
    if request.args.get("name"):
        query = query.where(Tool.name == request.args["name"])
    return {"data": ToolSchema(many=True).dump(db.session.execute(query).scalars().all())}


@api.get("/tools/<item_id>")
def get_tool(item_id: str):
    return ToolSchema().dump(get_or_404(Tool, item_id, "Tool"))


def known_tool(values: dict[str, Any]) -> dict[str, Any]:
    problem = check_labels(values.get("action"), values.get("labels"))  # a partial update: the policy as it will be
    if problem:
        raise ApiError(400, "validation_error", problem)
    values["tool_id"] = values["tool_id"].lower()
    if db.session.get(Tool, values["tool_id"]) is None:
        raise ApiError(400, "unknown_tool", f"Tool {values['tool_id']} does not exist: tools appear in "
                                            "/api/tools once an agent declares them.")
    return values


def _policy_filters(model: Any):
    def narrow(query):
        if request.args.get("tool_id"):
            query = query.where(model.tool_id == request.args["tool_id"].lower())
        if request.args.get("profile_id"):
            query = query.join(Tool, model.tool_id == Tool.id).where(
                Tool.profile_id == request.args["profile_id"].lower())
        return query
    return narrow


crud_routes(api, "tool-call-policies", ToolCallPolicy, ToolCallPolicySchema, "Tool call policy",
            check=known_tool, filters=_policy_filters(ToolCallPolicy))
crud_routes(api, "tool-result-policies", ToolResultPolicy, ToolResultPolicySchema, "Tool result policy",
            check=known_tool, filters=_policy_filters(ToolResultPolicy))


SETTINGS = {"global_policy": "restrictive", "mode": "enforce"}  # with their defaults


def current_settings() -> dict[str, Any]:
    rows = {row.key: row.value for row in db.session.execute(select(Setting)).scalars()}
    return {key: rows.get(key, default) for key, default in SETTINGS.items()}


def save_settings(body: Any) -> dict[str, Any]:
    values = SettingsSchema().load(body)
    if not values:
        raise ApiError(400, "validation_error", f"Give at least one of {', '.join(SETTINGS)}.")
    for key, value in values.items():
        row = db.session.get(Setting, key)
        if row is None:
            db.session.add(Setting(key=key, value=value))
        else:
            row.value = value
    commit()
    return current_settings()


@api.get("/settings")
def get_settings():
    return current_settings()


@api.route("/settings", methods=["PATCH", "PUT"])
def update_settings():
    return save_settings(json_body())


@api.get("/blocked-tool-calls")
def list_blocked_tool_calls():
    limit, offset = page_args()
    query = select(BlockedToolCall)
    if request.args.get("profile_id"):
        query = query.where(BlockedToolCall.profile_id == profile_filter_id(request.args["profile_id"]))
    for name in ("tool", "interaction_id", "session_id"):
        if request.args.get(name):
            query = query.where(getattr(BlockedToolCall, name) == request.args[name])
    if request.args.get("would_block") in ("true", "false"):
        query = query.where(BlockedToolCall.would_block.is_(request.args["would_block"] == "true"))
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar()
    rows = db.session.execute(query.order_by(BlockedToolCall.created_at.desc()).limit(limit).offset(offset))
    return {"data": BlockedToolCallSchema(many=True).dump(rows.scalars().all()), "total": total,
            "limit": limit, "offset": offset}
