"""Writes records (discovered tools, blocked calls, interactions) off the request path.

The request path only enqueues a plain-valued job; one background worker per process (a greenlet under
gevent, a thread elsewhere) runs the jobs in batches inside an app context, a slice at a time between requests,
and hands the rows they return to the row writer (row_writer.py: one transaction per batch, in a native thread
under gevent). ``flush`` drains the queue: gunicorn's ``worker_exit`` and ``atexit`` call it, so a graceful
shutdown loses nothing.
"""
from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from typing import Any, Callable

from flask import Flask

from .extensions import db
from .row_writer import Prepared, RowWriter

log = logging.getLogger("archestra.recorder")
# A job receives the SQLAlchemy session; it may return rows to insert, ``(table, values)`` (or a list of them):
# those are written together after the session's work, one executemany per statement and batch, far cheaper than
# ORM objects one by one (row_writer.py). A target with ``totals`` and ``statement`` is a running total whose rows
# the batch sums first (metering/spend.py).
Row = tuple[Any, dict[str, Any]]  # (a Table, a prebuilt INSERT statement, or a running total; values)
Job = Callable[[Any], "Row | list[Row] | None"]
#: The longest the recorder works on records before it lets waiting requests run.
YIELD_AFTER = 0.0003


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
        self._rows = RowWriter()
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
                time.sleep(self._linger)  # under load, wait a little for a batch to fill: fewer, larger transactions
            while len(jobs) < self._batch:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            with self._app.app_context():
                engine = db.engine
                try:
                    done = self._prepare_all(engine, jobs)
                finally:
                    db.session.remove()
            self._write(engine, done)
            with self._idle:
                self._busy -= len(jobs)
                self._idle.notify_all()

    def _prepare_all(self, engine: Any, jobs: list[Job]) -> list[list[Prepared] | None]:
        """Each record's own work, letting requests in between (the recorder never holds the event loop for
        long: no write transaction is open here); the batch then costs the loop little more than handing the
        rows to the writer (row_writer.py)."""
        done: list[list[Prepared] | None] = []
        slice_started = time.monotonic()
        for job in jobs:
            done.append(self._prepare(engine, job))
            if time.monotonic() - slice_started > YIELD_AFTER:
                time.sleep(0)  # under gevent: the requests waiting meanwhile run now
                slice_started = time.monotonic()
        return done

    def _prepare(self, engine: Any, job: Job) -> list[Prepared] | None:
        """The job's session work (lookups, the rare ORM write) committed, and its rows prepared; None when it
        failed (logged: one bad record costs only itself)."""
        try:
            rows = _rows(job(db.session))
            if db.session().in_transaction():
                db.session.commit()  # never across a wait: SQLite's write lock would stall other writers
            return self._rows.prepare(engine.dialect, rows)
        except Exception:
            db.session.rollback()
            log.exception("a record could not be written")
            return None

    def _write(self, engine: Any, done: list[list[Prepared] | None]) -> None:
        """The batch's rows in one transaction; on failure, record by record."""
        try:
            self._rows.write(engine, [row for rows in done if rows for row in rows])
            return
        except Exception:
            log.exception("writing the rows of %d records failed; retrying one by one", len(done))
        for rows in done:
            try:
                if rows:
                    self._rows.write(engine, rows)
            except Exception:
                log.exception("a record could not be written")


def _rows(result: Row | list[Row] | None) -> list[Row]:
    return result if isinstance(result, list) else [result] if result is not None else []
