"""Tools of a profile, and one tool: its schema, when it was seen, its refused calls, and its call and result
policies, edited inline through the management API's schemas and checks."""
from __future__ import annotations

from typing import Any

from flask import abort, request
from sqlalchemy import func, select

from ..api.common import create_item, delete_item, get_or_404, update_item
from ..api.profiles import find_profile
from ..api.schemas import TOOL_CALL_ACTIONS, TOOL_RESULT_ACTIONS, ToolCallPolicySchema, ToolResultPolicySchema
from ..api.security import known_tool
from ..extensions import db
from ..models import BlockedToolCall, Profile, Tool, ToolCallPolicy, ToolResultPolicy
from . import console
from .explain import explain
from .forms import attempt, conditions, labels, text
from .pages import done, page

KINDS = {
    "call": (ToolCallPolicy, ToolCallPolicySchema, TOOL_CALL_ACTIONS),
    "result": (ToolResultPolicy, ToolResultPolicySchema, TOOL_RESULT_ACTIONS),
}
BLANK_ROWS = 2


def _kind(kind: str) -> tuple[Any, Any, tuple[str, ...]]:
    if kind not in KINDS:
        abort(404, "No such kind of policy.")
    return KINDS[kind]


def _refused(profile_id: str) -> dict[str, int]:
    return dict(db.session.execute(select(BlockedToolCall.tool, func.count())
                                   .where(BlockedToolCall.profile_id == profile_id)
                                   .group_by(BlockedToolCall.tool)).all())


def _policy_counts(model: Any, profile_id: str) -> dict[str, int]:
    return dict(db.session.execute(select(model.tool_id, func.count()).join(Tool, model.tool_id == Tool.id)
                                   .where(Tool.profile_id == profile_id).group_by(model.tool_id)).all())


@console.get("/profiles/<item_id>/tools")
def tools(item_id: str):
    profile = find_profile(item_id)
    rows = db.session.execute(select(Tool).where(Tool.profile_id == profile.id).order_by(Tool.name)).scalars().all()
    return page("tools.html", profile=profile, tools=rows, refused=_refused(profile.id),
                calls=_policy_counts(ToolCallPolicy, profile.id), results=_policy_counts(ToolResultPolicy, profile.id))


@console.get("/tools/<item_id>")
def tool(item_id: str):
    return _tool_page(get_or_404(Tool, item_id, "Tool"))


def _rows(conditions_list: Any, blank: int = BLANK_ROWS) -> list[dict[str, str]]:
    return [*(conditions_list or []), *({"key": "", "operator": "", "value": ""} for _ in range(blank))]


def _tool_page(item: Tool, status: int = 200, form: str | None = None, errors: dict | None = None,
               submitted: dict | None = None):
    profile = db.session.get(Profile, item.profile_id)
    policies = {kind: db.session.execute(select(model).where(model.tool_id == item.id)
                                         .order_by(model.created_at)).scalars().all()
                for kind, (model, _, _) in KINDS.items()}
    refused = db.session.execute(select(func.count()).where(BlockedToolCall.profile_id == item.profile_id,
                                                            BlockedToolCall.tool == item.name)).scalar()
    return page("tool.html", status, tool=item, profile=profile, policies=policies, refused=refused,
                explained=explain(item.profile_id, item.name), actions={k: v[2] for k, v in KINDS.items()},
                form=form, errors=errors or {}, submitted=submitted or {}, rows=_rows)


def _policy_body(tool_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"action": request.form.get("action", ""), "reason": text(request.form, "reason"),
                            "conditions": conditions(request.form), "labels": labels(request.form)}
    if tool_id is not None:
        body["tool_id"] = tool_id
    return body


@console.post("/tools/<item_id>/policies/<kind>")
def policy_create(item_id: str, kind: str):
    item = get_or_404(Tool, item_id, "Tool")
    model, schema, _ = _kind(kind)
    body = _policy_body(item.id)
    outcome = attempt(lambda: create_item(model, schema(), body, known_tool))
    if not outcome.ok:
        return _tool_page(item, 400, f"new-{kind}", outcome.errors, body)
    return done("console.tool", "created", item_id=item.id, _anchor=f"{kind}-policies")


@console.post("/policies/<kind>/<item_id>")
def policy_update(kind: str, item_id: str):
    model, schema, _ = _kind(kind)
    row = get_or_404(model, item_id, "Policy")
    body = _policy_body()
    outcome = attempt(lambda: update_item(row, schema(partial=True), body, known_tool))
    if not outcome.ok:
        db.session.expire_all()
        return _tool_page(db.session.get(Tool, row.tool_id), 400, row.id, outcome.errors, body)
    return done("console.tool", "saved", item_id=row.tool_id, _anchor=f"{kind}-policies")


@console.post("/policies/<kind>/<item_id>/delete")
def policy_delete(kind: str, item_id: str):
    model, _, _ = _kind(kind)
    row = get_or_404(model, item_id, "Policy")
    tool_id = row.tool_id
    delete_item(row)
    return done("console.tool", "deleted", item_id=tool_id, _anchor=f"{kind}-policies")
