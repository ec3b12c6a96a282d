"""``/api/policy-replays``: candidate policy changes re-run over recorded interactions, as background jobs
(security/replay_jobs.py). ``POST`` answers 202 at once; ``GET /api/policy-replays/{id}`` gives the status and
progress, then the report; ``GET /api/policy-replays`` lists the jobs (newest first, without their reports);
``POST /api/policy-replays/{id}/cancel`` stops one. Reading a job whose worker stopped starts it again here."""
from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import func, select

from ..extensions import db
from ..models import PolicyReplay, PolicyTemplate, ToolCallPolicy, ToolResultPolicy
from ..security import replay_jobs
from . import api
from .common import commit, get_or_404, json_body, page_args
from .errors import ApiError
from .schemas import TOOL_CALL_ACTIONS, TOOL_RESULT_ACTIONS, PolicyReplaySchema
from .templates import profile_by_key

schema = PolicyReplaySchema()
summaries = PolicyReplaySchema(many=True, exclude=("report",))


def _app():
    return current_app._get_current_object()  # type: ignore[attr-defined]


@api.post("/policy-replays")
def create_policy_replay():
    return schema.dump(start_replay(json_body())), 202


def start_replay(body: Any) -> PolicyReplay:
    """Validate a replay request and start its job (the admin console starts replays through this too)."""
    values = schema.load(body)
    _check_edits(values["edit"])
    if values["profile_id"]:
        values["profile_id"] = profile_by_key(values["profile_id"]).id
    for key in ("since", "until"):
        values[key] = values[key].isoformat() if values[key] else None
    job = PolicyReplay(status="pending", spec=values)
    db.session.add(job)
    commit()
    replay_jobs.start(_app(), job.id)
    return job


def _check_edits(edits: list[dict[str, Any]]) -> None:
    """Each edited policy exists, and a new action is one of its kind's."""
    for edit in edits:
        kind = policy_kind(edit["id"])
        if kind is None:
            raise ApiError(400, "validation_error", f"edit: no tool-call, tool-result or template policy has the "
                                                    f"id {edit['id']}.")
        actions = TOOL_CALL_ACTIONS if kind == "call" else TOOL_RESULT_ACTIONS
        if "action" in edit and edit["action"] not in actions:
            raise ApiError(400, "validation_error", f"edit: policy {edit['id']} is a {kind} policy: its action is "
                                                    f"one of {', '.join(actions)}.")


def policy_kind(policy_id: str) -> str | None:
    """``call`` or ``result`` for a profile or template policy's id, None when there is none."""
    if db.session.get(ToolCallPolicy, policy_id) is not None:
        return "call"
    if db.session.get(ToolResultPolicy, policy_id) is not None:
        return "result"
    template = db.session.get(PolicyTemplate, policy_id)
    return template.kind if template is not None else None


@api.get("/policy-replays")
def list_policy_replays():
    limit, offset = page_args(100)
    jobs = db.session.execute(select(PolicyReplay).order_by(PolicyReplay.created_at.desc())
                              .limit(limit).offset(offset)).scalars().all()
    if replay_jobs.take_over_stale(_app(), jobs):
        db.session.commit()
    total = db.session.execute(select(func.count()).select_from(PolicyReplay)).scalar_one()
    return {"data": summaries.dump(jobs), "total": total, "limit": limit, "offset": offset}


@api.get("/policy-replays/<item_id>")
def get_policy_replay(item_id: str):
    job = get_or_404(PolicyReplay, item_id, "Policy replay")
    if replay_jobs.take_over_stale(_app(), [job]):
        db.session.commit()
    return schema.dump(job)


@api.post("/policy-replays/<item_id>/cancel")
def cancel_policy_replay(item_id: str):
    job = get_or_404(PolicyReplay, item_id, "Policy replay")
    if job.status not in replay_jobs.ACTIVE:
        raise ApiError(409, "conflict", f"Policy replay {job.id} is {job.status}: only a pending or running "
                                        "replay can be cancelled.")
    replay_jobs.cancel(job)
    db.session.commit()
    return schema.dump(job), 202
