"""Bounded records: interactions (and blocked tool calls) older than the retention are purged in the
background, in small batches (each its own short transaction, so writers are never locked out for long), on
SQLite and PostgreSQL alike. The same batched delete serves ``DELETE /api/interactions``."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, cast

from flask import Flask
from sqlalchemy import CursorResult, delete, select

from ..extensions import db
from ..models import Approval, BlockedToolCall, Interaction, RouterResponse

BATCH = 1000
log = logging.getLogger("archestra.retention")


def delete_in_batches(model: Any, conditions: Iterable[Any], batch: int = BATCH) -> int:
    """Delete the rows of ``model`` matching ``conditions``, ``batch`` rows per transaction; how many went."""
    conditions = list(conditions)
    total = 0
    while True:
        ids = select(model.id).where(*conditions).limit(batch).scalar_subquery()
        result = db.session.execute(delete(model).where(model.id.in_(ids)),
                                    execution_options={"synchronize_session": False})
        deleted = cast(CursorResult, result).rowcount
        db.session.commit()
        total += deleted
        if deleted < batch:
            return total
        time.sleep(0)  # let the requests of this worker run between batches (a greenlet switch under gevent)


def purge_older_than(days: float, now: datetime | None = None) -> int:
    """Interactions, blocked tool calls, the Model Router's stored conversations and approvals (those no longer
    pending) created more than ``days`` ago; how many rows went."""
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    return (delete_in_batches(Interaction, [Interaction.created_at < cutoff])
            + delete_in_batches(BlockedToolCall, [BlockedToolCall.created_at < cutoff])
            + delete_in_batches(RouterResponse, [RouterResponse.created_at < cutoff])
            + delete_in_batches(Approval, [Approval.created_at < cutoff, Approval.status != "pending"]))


class RetentionPurger:
    """One background loop per worker, started lazily (after gunicorn forks) when retention is set. Several
    workers or instances purging at once only find fewer rows."""

    def __init__(self, app: Flask, days: float | None, interval: float):
        self._app, self._days, self._interval = app, days, interval
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def ensure_started(self) -> None:
        if self._days is None or self._stopped.is_set() or (self._thread is not None and self._thread.is_alive()):
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="archestra-retention", daemon=True)
                self._thread.start()

    def run_once(self) -> int:
        with self._app.app_context():
            try:
                purged = purge_older_than(self._days or 0)
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()
        if purged:
            log.info("retention: purged %d records older than %s days", purged, self._days)
        return purged

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("the retention purge failed; trying again in %s s", self._interval)
            self._stopped.wait(self._interval)
