"""Shared page helpers, the global settings page and the monitor-mode page (calls that would have been blocked)."""
from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from ..api.security import current_settings, save_settings
from ..extensions import db
from ..models import BlockedToolCall
from ..security.conditions import OPERATORS
from . import console
from .chart import cost_text
from .forms import attempt, choice, row_errors

NOTICES = {
    "created": "Created.", "saved": "Saved.", "deleted": "Deleted.", "revoked": "Revoked.",
    "approved": "Approved: the same call passes once if it is made again within the approval window.",
    "rejected": "Rejected: the call stays refused, with your reason.",
    "token_removed": "The access token was removed: the profile is open to any client that knows its id.",
}
PAGE_SIZE = 50

console.add_app_template_global(row_errors, "row_errors")
console.add_app_template_global(OPERATORS, "OPERATORS")
#: Dollars to four decimals, smaller amounts to two significant digits (never $0.0000 for a real cost).
console.add_app_template_global(cost_text, "usd_text")


def page(template: str, status: int = 200, **context: Any):
    """Render a console page, with the notice a redirect after a change asked for (``?done=saved``)."""
    context.setdefault("notice", NOTICES.get(request.args.get("done", "")))
    return render_template(f"console/{template}", **context), status


def done(endpoint: str, what: str, **values: Any):
    """After a change: back to a page (POST, redirect, GET), saying what happened."""
    return redirect(url_for(endpoint, done=what, **values))


def page_number() -> int:
    try:
        return max(1, min(int(request.args.get("page", 1)), 100_000))
    except ValueError:
        return 1


@console.route("/settings", methods=["GET", "POST"])
def settings():
    errors: dict = {}
    if request.method == "POST":
        body = {"global_policy": choice(request.form, "global_policy"), "mode": choice(request.form, "mode")}
        if not g.console.can_edit:
            body = {"mode": body["mode"]}  # an operator switches monitor mode, as through the API (api/auth.py)
        outcome = attempt(lambda: save_settings(body))
        if outcome.ok:
            return done("console.settings", "saved")
        errors = outcome.errors
    return page("settings.html", 400 if errors else 200, values=current_settings(), errors=errors)


@console.get("/monitor")
def monitor():
    """Monitor mode's findings: the calls that would have been blocked, newest first, paged."""
    number = page_number()
    query = select(BlockedToolCall).where(BlockedToolCall.would_block.is_(True))
    if request.args.get("profile_id"):
        query = query.where(BlockedToolCall.profile_id == request.args["profile_id"])
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar() or 0
    rows = db.session.execute(query.order_by(BlockedToolCall.created_at.desc())
                              .limit(PAGE_SIZE).offset((number - 1) * PAGE_SIZE)).scalars().all()
    return page("monitor.html", rows=rows, total=total, number=number, pages=max(1, -(-total // PAGE_SIZE)))
