"""``/api/approvals``: tool calls held back by ``require_approval`` policies; approve or reject them (operator or
admin role), each decision recorded with who made it (``security/approvals.py``)."""
from __future__ import annotations

from flask import request
from sqlalchemy import func, select

from ..actor import ADMIN, OPERATOR, current_actor
from ..extensions import db
from ..models import Approval
from ..profiles import UUID_RE
from ..runtime import current_runtime
from ..security.approvals import STATUSES, DecisionError, decide, describe, expire_stale
from . import api
from .common import get_or_404, page_args, profile_filter_id
from .errors import ApiError
from .schemas import ApprovalDecisionSchema, ApprovalSchema

FILTERS = ("status", "profile_id", "session_id", "tool", "virtual_key_id", "user_id")


def approvals_query(args: dict) -> tuple:
    """The approvals the filters select (newest first), and their count; stale ones are marked expired first."""
    expire_stale(db.session)
    db.session.commit()
    query = select(Approval)
    status = args.get("status")
    if status:
        if status not in STATUSES:
            raise ApiError(400, "invalid_query", f"status is one of {', '.join(STATUSES)}.")
        query = query.where(Approval.status == status)
    if args.get("profile_id"):
        query = query.where(Approval.profile_id == profile_filter_id(args["profile_id"]))
    for name in ("session_id", "tool", "virtual_key_id", "user_id"):
        if args.get(name):
            query = query.where(getattr(Approval, name) == args[name])
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar()
    return query.order_by(Approval.created_at.desc()), total


@api.get("/approvals")
def list_approvals():
    limit, offset = page_args()
    query, total = approvals_query(request.args)
    rows = db.session.execute(query.limit(limit).offset(offset)).scalars().all()
    return {"data": ApprovalSchema(many=True).dump(rows), "total": total, "limit": limit, "offset": offset}


@api.get("/approvals/<item_id>")
def get_approval(item_id: str):
    expire_stale(db.session)
    db.session.commit()
    return ApprovalSchema().dump(get_or_404(Approval, item_id, "Approval"))


def decide_as_actor(item_id: str, approve: bool, reason: str | None) -> Approval:
    """The signed-in actor's decision (operator or admin role); the webhook hears of it."""
    actor = current_actor()
    if actor is None or actor.role not in (ADMIN, OPERATOR):
        raise ApiError(403, "forbidden", "Approving or rejecting a tool call needs the operator or admin role.")
    if not UUID_RE.fullmatch(item_id):
        raise ApiError(404, "not_found", f"Approval {item_id} does not exist.")
    runtime = current_runtime()
    try:
        row = decide(db.session, item_id.lower(), approve, reason, actor.name, actor.kind, runtime.approvals.window)
    except DecisionError as error:
        raise ApiError(error.status, error.code, error.message) from None
    notifier = getattr(runtime.approvals, "notifier", None)
    if notifier is not None:
        notifier.decided(describe(row))
    return row


def _decision(item_id: str, approve: bool):
    body = request.get_json(silent=True)
    values = ApprovalDecisionSchema().load(body if isinstance(body, dict) else {})
    return ApprovalSchema().dump(decide_as_actor(item_id, approve, values["reason"]))


@api.post("/approvals/<item_id>/approve")
def approve_approval(item_id: str):
    return _decision(item_id, True)


@api.post("/approvals/<item_id>/reject")
def reject_approval(item_id: str):
    return _decision(item_id, False)
