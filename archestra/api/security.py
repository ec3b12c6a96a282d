"""``/api/tools``, ``/api/tool-call-policies``, ``/api/tool-result-policies``, ``/api/settings``,
``/api/blocked-tool-calls``."""
from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import func, select

from ..extensions import db
from ..models import BlockedToolCall, Setting, Tool, ToolCallPolicy, ToolResultPolicy
from . import api
from .common import commit, get_or_404, json_body
from .errors import ApiError
from .schemas import BlockedToolCallSchema, SettingsSchema, ToolCallPolicySchema, ToolResultPolicySchema, ToolSchema

PAGE_MAX = 500


def _page() -> tuple[int, int]:
    try:
        limit = min(int(request.args.get("limit", 100)), PAGE_MAX)
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise ApiError(400, "invalid_query", "limit and offset must be integers.") from None
    if limit < 1 or offset < 0:
        raise ApiError(400, "invalid_query", "limit must be >= 1 and offset >= 0.")
    return limit, offset


@api.get("/tools")
def list_tools():
    query = select(Tool).order_by(Tool.profile_id, Tool.name)
    if request.args.get("profile_id"):
        query = query.where(Tool.profile_id == request.args["profile_id"].lower())
    if request.args.get("name"):
        query = query.where(Tool.name == request.args["name"])
    return {"data": ToolSchema(many=True).dump(db.session.execute(query).scalars().all())}


@api.get("/tools/<tool_id>")
def get_tool(tool_id: str):
    return ToolSchema().dump(get_or_404(Tool, tool_id, "Tool"))


def _policy_routes(path: str, model: Any, schema_class: Any, label: str) -> None:
    schema, many, partial = schema_class(), schema_class(many=True), schema_class(partial=True)

    def load(body: dict[str, Any], partial_load: bool = False) -> dict[str, Any]:
        values = (partial if partial_load else schema).load(body)
        if "tool_id" in values:
            values["tool_id"] = values["tool_id"].lower()
            if db.session.get(Tool, values["tool_id"]) is None:
                raise ApiError(400, "unknown_tool", f"Tool {values['tool_id']} does not exist: tools appear in "
                                                    "/api/tools once an agent declares them.")
        return values

    def list_view():
        query = select(model).order_by(model.created_at)
        if request.args.get("tool_id"):
            query = query.where(model.tool_id == request.args["tool_id"].lower())
        if request.args.get("profile_id"):
            query = query.join(Tool, model.tool_id == Tool.id).where(
                Tool.profile_id == request.args["profile_id"].lower())
        return {"data": many.dump(db.session.execute(query).scalars().all())}

    def create_view():
        policy = model(**load(json_body()))
        db.session.add(policy)
        commit()
        return schema.dump(policy), 201

    def get_view(item_id: str):
        return schema.dump(get_or_404(model, item_id, label))

    def update_view(item_id: str):
        policy = get_or_404(model, item_id, label)
        for key, value in load(json_body(), partial_load=True).items():
            setattr(policy, key, value)
        commit()
        return schema.dump(policy)

    def delete_view(item_id: str):
        db.session.delete(get_or_404(model, item_id, label))
        commit()
        return "", 204

    endpoint = path.replace("-", "_")
    api.add_url_rule(f"/{path}", f"list_{endpoint}", list_view, methods=["GET"])
    api.add_url_rule(f"/{path}", f"create_{endpoint}", create_view, methods=["POST"])
    api.add_url_rule(f"/{path}/<item_id>", f"get_{endpoint}", get_view, methods=["GET"])
    api.add_url_rule(f"/{path}/<item_id>", f"update_{endpoint}", update_view, methods=["PATCH", "PUT"])
    api.add_url_rule(f"/{path}/<item_id>", f"delete_{endpoint}", delete_view, methods=["DELETE"])


_policy_routes("tool-call-policies", ToolCallPolicy, ToolCallPolicySchema, "Tool call policy")
_policy_routes("tool-result-policies", ToolResultPolicy, ToolResultPolicySchema, "Tool result policy")


@api.get("/settings")
def get_settings():
    row = db.session.get(Setting, "global_policy")
    return {"global_policy": row.value if row else "restrictive"}


@api.route("/settings", methods=["PATCH", "PUT"])
def update_settings():
    values = SettingsSchema().load(json_body())
    row = db.session.get(Setting, "global_policy")
    if row is None:
        db.session.add(Setting(key="global_policy", value=values["global_policy"]))
    else:
        row.value = values["global_policy"]
    commit()
    return {"global_policy": values["global_policy"]}


@api.get("/blocked-tool-calls")
def list_blocked_tool_calls():
    limit, offset = _page()
    query = select(BlockedToolCall)
    if request.args.get("profile_id"):
        query = query.where(BlockedToolCall.profile_id == request.args["profile_id"].lower())
    if request.args.get("tool"):
        query = query.where(BlockedToolCall.tool == request.args["tool"])
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar()
    rows = db.session.execute(query.order_by(BlockedToolCall.created_at.desc()).limit(limit).offset(offset))
    return {"data": BlockedToolCallSchema(many=True).dump(rows.scalars().all()), "total": total,
            "limit": limit, "offset": offset}
