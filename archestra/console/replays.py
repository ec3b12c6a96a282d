"""Policy replay: try a candidate policy (or global policy) over recorded traffic before enforcing it, and read
the report: which interactions it would newly block or let through."""
from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import select

from ..api.common import get_or_404
from ..api.replays import start_replay
from ..api.schemas import TOOL_CALL_ACTIONS, TOOL_RESULT_ACTIONS
from ..extensions import db
from ..models import PolicyReplay, Profile
from . import console
from .forms import attempt, choice, conditions, labels, text
from .pages import done, page

RECENT = 20


def _form_body() -> dict[str, Any]:
    form = request.form
    body: dict[str, Any] = {"profile_id": form.get("profile_id") or None,
                            "global_policy": choice(form, "global_policy"), "add": []}
    for name in ("since", "until"):
        value = (form.get(name) or "").strip()
        body[name] = (value + ":00+00:00" if len(value) == 16 else value) or None
    if text(form, "tool") or form.get("action"):
        body["add"] = [{"kind": form.get("kind", "call"), "tool": text(form, "tool"), "action": form.get("action"),
                        "conditions": conditions(form), "reason": text(form, "reason"), "labels": labels(form)}]
    return body


@console.route("/replays", methods=["GET", "POST"])
def replays():
    errors: dict = {}
    submitted: dict = {}
    if request.method == "POST":
        submitted = _form_body()
        outcome = attempt(lambda: start_replay(submitted))
        if outcome.ok:
            return done("console.replay", "created", item_id=outcome.value.id)
        errors = outcome.errors
    jobs = db.session.execute(select(PolicyReplay).order_by(PolicyReplay.created_at.desc()).limit(RECENT)).scalars()
    profiles = db.session.execute(select(Profile.id, Profile.name).order_by(Profile.name)).all()
    add = (submitted.get("add") or [{}])[0]
    add_errors = {name.removeprefix("add.0."): texts for name, texts in errors.items() if name.startswith("add.0.")}
    cond_rows = [*(add.get("conditions") or []), *({"key": "", "operator": "", "value": ""} for _ in range(2))]
    return page("replays.html", 400 if errors else 200, jobs=list(jobs), profiles=profiles, errors=errors,
                submitted=submitted, add=add, add_errors=add_errors, cond_rows=cond_rows,
                actions=TOOL_CALL_ACTIONS + TOOL_RESULT_ACTIONS)


@console.get("/replays/<item_id>")
def replay(item_id: str):
    job = get_or_404(PolicyReplay, item_id, "Policy replay")
    return page("replay.html", job=job)
