"""``/api/policy-replays``: candidate policy changes re-run over recorded interactions, as a background job
(``POST`` answers 202 at once; ``GET /api/policy-replays/{id}`` gives the status, then the report)."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select

from ..exchange import ProfileInfo
from ..extensions import db
from ..models import Interaction, PolicyReplay, Profile
from ..security.policies import PolicyDirectory
from ..security.replay import Replayer, replay
from ..security.response_chain import ResponseChain
from . import api
from .common import commit, get_or_404, json_body
from .schemas import PolicyReplaySchema
from .templates import profile_by_key

log = logging.getLogger("archestra.replay")
COLUMNS = ("id", "profile_id", "provider", "model", "stream", "request", "response", "blocked", "flags",
           "created_at")
MAX_INTERACTIONS = 100_000
schema = PolicyReplaySchema()


@api.post("/policy-replays")
def create_policy_replay():
    values = schema.load(json_body())
    if values["profile_id"]:
        values["profile_id"] = profile_by_key(values["profile_id"]).id
    for key in ("since", "until"):
        values[key] = values[key].isoformat() if values[key] else None
    job = PolicyReplay(status="pending", spec=values)
    db.session.add(job)
    commit()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # Off the request path: a thread (a greenlet under gevent) of this worker; the status is in the database.
    threading.Thread(target=_run, args=(app, job.id), name=f"archestra-replay-{job.id}", daemon=True).start()
    return schema.dump(job), 202


@api.get("/policy-replays/<item_id>")
def get_policy_replay(item_id: str):
    return schema.dump(get_or_404(PolicyReplay, item_id, "Policy replay"))


def _job(job_id: str) -> PolicyReplay:
    job = db.session.get(PolicyReplay, job_id)
    assert job is not None  # written before the job started, and only deleted with the database
    return job


def _run(app: Flask, job_id: str) -> None:
    with app.app_context():
        job = _job(job_id)
        job.status = "running"
        db.session.commit()
        spec = dict(job.spec)
        try:
            rows, profiles = _interactions(spec)
            # Recorded traffic: every relayed response is in the database already, nothing to wait for.
            report = replay(rows, PolicyDirectory.load, spec, Replayer(profiles, ResponseChain(None, wait=0)))
            job = _job(job_id)
            job.status, job.report = "done", report
        except Exception as exc:  # noqa: BLE001 - the job reports its failure instead of dying silently
            log.exception("policy replay %s failed", job_id)
            db.session.rollback()
            job = _job(job_id)
            job.status, job.error = "failed", f"{exc.__class__.__name__}: {exc}"
        job.finished_at = datetime.now(timezone.utc)
        db.session.commit()
        db.session.remove()


def _interactions(spec: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, ProfileInfo]]:
    """The recorded chat exchanges in the window, as plain values (oldest first), and their profiles."""
    query = select(*(getattr(Interaction, name) for name in COLUMNS)).where(
        Interaction.kind == "chat", Interaction.request.is_not(None)).order_by(Interaction.created_at)
    if spec.get("profile_id"):
        query = query.where(Interaction.profile_id == spec["profile_id"])
    if spec.get("since"):
        query = query.where(Interaction.created_at >= datetime.fromisoformat(spec["since"]))
    if spec.get("until"):
        query = query.where(Interaction.created_at < datetime.fromisoformat(spec["until"]))
    rows = [dict(zip(COLUMNS, row)) for row in db.session.execute(query.limit(MAX_INTERACTIONS))]
    profiles = {row.id: ProfileInfo(row.id, row.name, row.consider_context_untrusted)
                for row in db.session.execute(select(Profile)).scalars()}
    return rows, profiles

