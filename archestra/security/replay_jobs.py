"""Policy replay jobs: run off the request path, survive the end of the worker that ran them, can be cancelled.

A job is a row of ``policy_replays``. The worker that runs it (a thread, a greenlet under gevent) claims it with a
conditional UPDATE and writes a heartbeat with its progress every few seconds; every write of the runner is
conditional on its own claim (``attempts``), so a runner that lost the job stops at its next write instead of
overwriting a newer runner's result. A job whose heartbeat stopped (its worker was killed, the instance restarted)
is taken over by whichever worker reads it next through the API, up to ``MAX_ATTEMPTS`` runs in all. A cancel asks
the runner to stop at its next heartbeat; a job no runner holds is cancelled at once.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from flask import Flask
from sqlalchemy import and_, or_, select, update

from ..exchange import ProfileInfo
from ..extensions import db
from ..models import Interaction, PolicyReplay, Profile
from .policies import PolicyDirectory
from .replay import Replayer, replay
from .response_chain import ResponseChain

log = logging.getLogger("archestra.replay")
COLUMNS = ("id", "profile_id", "provider", "model", "stream", "path", "request", "response", "blocked", "flags",
           "router", "created_at")
MAX_INTERACTIONS = 100_000
HEARTBEAT_SECONDS = 1.0
STALE_SECONDS = 10.0
MAX_ATTEMPTS = 3
ACTIVE = ("pending", "running")


class _Lost(Exception):
    """Another runner took the job over, or it was cancelled: stop without writing a result."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def start(app: Flask, job_id: str) -> None:
    """Run the job in a background thread of this worker (it claims the job first; a held job is left alone)."""
    threading.Thread(target=_run, args=(app, job_id), name=f"archestra-replay-{job_id}", daemon=True).start()


def take_over_stale(app: Flask, jobs: Iterable[PolicyReplay]) -> bool:
    """Start a runner for each active job whose runner stopped beating (or that none ever claimed); one asked to
    stop is cancelled instead. True if a job row was changed here (the caller commits)."""
    cutoff = _now() - timedelta(seconds=STALE_SECONDS)
    changed = False
    for job in jobs:
        beat = _aware(job.heartbeat_at or job.created_at)
        if job.status not in ACTIVE or beat is None or beat >= cutoff:
            continue
        if job.cancel_requested:
            job.status, job.finished_at, changed = "cancelled", _now(), True
        else:
            start(app, job.id)
    return changed


def cancel(job: PolicyReplay) -> None:
    """Ask the job to stop: a runner stops at its next heartbeat; a job no runner holds is cancelled now."""
    job.cancel_requested = True
    beat = _aware(job.heartbeat_at)
    if job.status == "pending" or beat is None or beat < _now() - timedelta(seconds=STALE_SECONDS):
        job.status, job.finished_at = "cancelled", _now()


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back (stored as UTC)."""
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def _claim(job_id: str) -> int | None:
    """This runner's attempt number if it got the job (pending, or running with a stale heartbeat), else None."""
    now = _now()
    stale = now - timedelta(seconds=STALE_SECONDS)
    job = db.session.get(PolicyReplay, job_id)
    if job is None:
        return None
    attempt = job.attempts + 1
    claimable = or_(PolicyReplay.status == "pending",
                    and_(PolicyReplay.status == "running",
                         or_(PolicyReplay.heartbeat_at.is_(None), PolicyReplay.heartbeat_at < stale)))
    result = db.session.execute(update(PolicyReplay).where(
        PolicyReplay.id == job_id, PolicyReplay.attempts == job.attempts, PolicyReplay.cancel_requested.is_(False),
        claimable).values(status="running", attempts=attempt, heartbeat_at=now, processed=0,
                          started_at=job.started_at or now).execution_options(synchronize_session=False))
    db.session.commit()
    if result.rowcount != 1:
        return None
    if attempt > MAX_ATTEMPTS:
        _finish(job_id, attempt, status="failed",
                error=f"interrupted {MAX_ATTEMPTS} times (the workers running it stopped); not run again")
        return None
    return attempt


def _write(job_id: str, attempt: int, **values: Any) -> None:
    result = db.session.execute(update(PolicyReplay).where(
        PolicyReplay.id == job_id, PolicyReplay.attempts == attempt, PolicyReplay.status == "running")
        .values(**values).execution_options(synchronize_session=False))  # rows are read again, not synced
    db.session.commit()
    if result.rowcount != 1:
        raise _Lost()


def _finish(job_id: str, attempt: int, **values: Any) -> None:
    try:
        _write(job_id, attempt, finished_at=_now(), **values)
    except _Lost:
        log.info("policy replay %s: attempt %s lost the job before finishing", job_id, attempt)


def _run(app: Flask, job_id: str) -> None:
    with app.app_context():
        try:
            attempt = _claim(job_id)
            if attempt is None:
                return
            _execute(job_id, attempt)
        except _Lost:
            log.info("policy replay %s stopped: cancelled or taken over", job_id)
        except Exception:  # noqa: BLE001 - a thread's end is logged; the job is taken over once it is stale
            log.exception("policy replay %s: the runner failed", job_id)
        finally:
            db.session.remove()


def _execute(job_id: str, attempt: int) -> None:
    job = db.session.get(PolicyReplay, job_id)
    assert job is not None
    spec = dict(job.spec)
    try:
        rows, profiles = _interactions(spec)
        _write(job_id, attempt, total=len(rows), heartbeat_at=_now())
        last = time.monotonic()

        def progress(done: int) -> None:
            nonlocal last
            if time.monotonic() - last < HEARTBEAT_SECONDS:
                return
            last = time.monotonic()
            _write(job_id, attempt, processed=done, heartbeat_at=_now())
            if db.session.execute(select(PolicyReplay.cancel_requested).where(PolicyReplay.id == job_id)).scalar():
                _finish(job_id, attempt, status="cancelled", processed=done)
                raise _Lost()

        # Recorded traffic: every relayed response is in the database already, nothing to wait for.
        report = replay(rows, PolicyDirectory.load, spec, Replayer(profiles, ResponseChain(None, wait=0)),
                        progress=progress)
        _finish(job_id, attempt, status="done", report=report, processed=len(rows))
    except _Lost:
        raise
    except Exception as exc:  # noqa: BLE001 - the job reports its failure instead of dying silently
        log.exception("policy replay %s failed", job_id)
        db.session.rollback()
        _finish(job_id, attempt, status="failed", error=f"{exc.__class__.__name__}: {exc}")


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
