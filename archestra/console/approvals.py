"""Tool calls held for a person's approval: the pending ones first, each with its arguments, the context's
labels and who asked; approve or reject with a reason (the same domain code as ``/api/approvals``)."""
from __future__ import annotations

from flask import request

from ..api.approvals import approvals_query, decide_as_actor
from ..api.errors import ApiError
from ..extensions import db
from ..security.approvals import STATUSES
from . import console
from .forms import text
from .pages import PAGE_SIZE, done, page, page_number


@console.get("/approvals")
def approvals(error: str | None = None, status: int = 200):
    number = page_number()
    chosen = request.args.get("status", "pending")
    query, total = approvals_query({"status": chosen if chosen in STATUSES else None})
    rows = db.session.execute(query.limit(PAGE_SIZE).offset((number - 1) * PAGE_SIZE)).scalars().all()
    return page("approvals.html", status, rows=rows, total=total or 0, number=number, statuses=STATUSES,
                chosen=chosen if chosen in STATUSES else "", error=error,
                pages=max(1, -(-(total or 0) // PAGE_SIZE)))


def _decide(item_id: str, approve: bool):
    try:
        decide_as_actor(item_id, approve, text(request.form, "reason"))
    except ApiError as error:
        db.session.rollback()
        return approvals(error.message, error.status)
    return done("console.approvals", "approved" if approve else "rejected")


@console.post("/approvals/<item_id>/approve")
def approval_approve(item_id: str):
    return _decide(item_id, True)


@console.post("/approvals/<item_id>/reject")
def approval_reject(item_id: str):
    return _decide(item_id, False)
