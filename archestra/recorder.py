"""Writes records (discovered tools, blocked calls, interactions) off the request path.

The request path only enqueues a plain-valued job; one background worker per process (a greenlet under
gevent, a thread elsewhere) runs the jobs in batches inside an app context. ``flush`` drains the queue:
gunicorn's ``worker_exit`` and ``atexit`` call it, so a graceful shutdown loses nothing.
"""
from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from collections import defaultdict
from typing import Any, Callable

from flask import Flask
from sqlalchemy import Table, insert

from .extensions import db

log = logging.getLogger("archestra.recorder")
# A job receives the SQLAlchemy session; it may return rows to insert, ``(table, values)`` (or a list of them):
# those are inserted together, one multi-row INSERT per table and batch, far cheaper than ORM objects one by
# one. A target with ``write_many(session, values)`` writes its rows of the batch itself (running totals).
Row = tuple[Any, dict[str, Any]]  # (a Table, a prebuilt INSERT statement, or a writer; values)
Job = Callable[[Any], "Row | list[Row] | None"]


class Recorder:
    def __init__(self, app: Flask, max_pending: int = 100_000, batch: int = 200, linger: float = 0.02):
        self._app = app
        self._linger = linger  # under load, wait this long for a batch to fill: fewer, larger transactions
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=max_pending)
        self._batch = batch
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._idle = threading.Condition()
        self._busy = 0
        atexit.register(self.flush)

    def submit(self, job: Job) -> None:
        """Queue ``job(session)``; never blocks the request path (a full queue drops and logs)."""
        self._ensure_worker()
        with self._idle:
            self._busy += 1
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            with self._idle:
                self._busy -= 1
            log.error("record queue full (%d pending): a record was dropped", self._queue.qsize())

    def run_now(self, job: Job) -> None:
        """Run ``job(session)`` at once, in a short app-context block of its own (outside any request)."""
        with self._app.app_context():
            try:
                job(db.session)
                db.session.commit()
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted job is written; True when the queue drained in time."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def _ensure_worker(self) -> None:
        # Started lazily: after gunicorn forks, in the worker that records.
        if self._worker is None or not self._worker.is_alive():
            with self._start_lock:
                if self._worker is None or not self._worker.is_alive():
                    self._worker = threading.Thread(target=self._run, name="archestra-recorder", daemon=True)
                    self._worker.start()

    def _run(self) -> None:
        while True:
            jobs = [self._queue.get()]
            if self._linger and self._queue.qsize() < self._batch:
                time.sleep(self._linger)
            while len(jobs) < self._batch:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(jobs)
            with self._idle:
                self._busy -= len(jobs)
                self._idle.notify_all()

    def _write(self, jobs: list[Job]) -> None:
        with self._app.app_context():
            try:
                _insert(db.session, [job(db.session) for job in jobs])
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("writing %d records failed; retrying one by one", len(jobs))
                for job in jobs:
                    try:
                        _insert(db.session, [job(db.session)])
                        db.session.commit()
                    except Exception:
                        db.session.rollback()
                        log.exception("a record could not be written")
            finally:
                db.session.remove()


_INSERTS: dict[Table, Any] = {}


def _insert_of(table: Table) -> Any:
    """The table's INSERT, built once (SQLAlchemy then finds its compiled form in its cache at once): every column of
    the table, those a row leaves out getting their defaults as with any insert."""
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = insert(table)
    return statement


def _insert(session: Any, rows: list[Row | list[Row] | None]) -> None:
    """One multi-row INSERT per table (or per prebuilt insert statement, e.g. one that ignores conflicts), then
    each writer's rows (inserts first: a writer's statements may refer to rows of the batch)."""
    by_target: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        for target, values in row if isinstance(row, list) else [row] if row is not None else []:
            by_target[target].append(values)
    connection = session.connection() if by_target else None  # Core on the session's transaction: no ORM layer
    for target, values in by_target.items():
        if not hasattr(target, "write_many"):
            connection.execute(_insert_of(target) if isinstance(target, Table) else target, values)
    for target, values in by_target.items():
        if hasattr(target, "write_many"):
            target.write_many(session, values)
