"""The configuration generation: how a change made through the management API reaches every cache at once.

Profiles, policies, limits, prices and optimisation rules are cached per worker process, so the hot path does
not read them from the database on every request. A change must still apply to the very next request,
wherever it lands:

* The database holds one number (table ``config_generation``). Every management API write bumps it in its own
  transaction, so the number moves exactly when the change becomes visible.
* The workers of one gunicorn master share a counter in memory: an mmap of a small file whose path the master
  chooses before forking (``ARCHESTRA_GENERATION_FILE``). The worker that served a write bumps it after the
  commit, before answering. Every cache lookup compares it with the value the cache was filled at (well
  under a microsecond) and starts afresh when it moved: the next request on any worker sees the change.
* Other instances on the same database learn of it by polling: each worker reads the database's number every
  ``POLL_SECONDS`` (in a greenlet under gevent, a thread elsewhere) and bumps its instance's counter when the
  number moved, or when it cannot read it (then requests read the database, and fail closed without it).

Without a file (no gunicorn: one process) the counter lives in the process's own memory. Changes made directly
in the database, bypassing the API, apply within the caches' lifetime (``profile_cache_seconds``), or at once
when the same transaction runs ``UPDATE config_generation SET generation = generation + 1``.
"""
from __future__ import annotations

import fcntl
import functools
import logging
import mmap
import os
import threading
import time
import weakref
from typing import Any, Callable, Generic, Hashable, TypeVar

from sqlalchemy import text

log = logging.getLogger("archestra.generation")

POLL_SECONDS = 0.1
TOUCH_SECONDS = 3600.0
_BUMP = text("UPDATE config_generation SET generation = generation + 1 WHERE id = 1")
_READ = "SELECT generation FROM config_generation WHERE id = 1"

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedCounter:
    """A 64-bit counter that every process mapping the same file reads and bumps; private memory without one."""

    def __init__(self, path: str | None = None):
        self._lock = threading.Lock()
        self._fd: int | None = None
        if path:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                if os.fstat(self._fd).st_size < 8:
                    os.ftruncate(self._fd, 8)  # zero-filled
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._map = mmap.mmap(self._fd, 8)  # MAP_SHARED: a write is seen by every process at once
        else:
            self._map = mmap.mmap(-1, 8)
        self._cell = memoryview(self._map).cast("Q")  # one aligned 8-byte word: read and written whole

    def value(self) -> int:
        return self._cell[0]

    def bump(self) -> int:
        with self._lock:  # greenlets and threads of this process; flock orders the processes
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                value = self._cell[0] = self._cell[0] + 1
            finally:
                if self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        return value

    def touch(self) -> None:
        """Keep the file's modification time recent: /tmp cleaners remove files by age, and a worker started
        after that would map a new file of its own."""
        if self._fd is not None:
            os.utime(self._fd)


class ConfigGeneration:
    """This process's view of the configuration generation; caches ask it on every lookup."""

    def __init__(self, counter: SharedCounter, engine: Callable[[], Any] | None, poll_seconds: float = POLL_SECONDS):
        self._counter = counter
        self._engine = engine  # returns the SQLAlchemy engine to poll (None: no polling)
        self._poll_seconds = poll_seconds
        self._polling = False
        self._start_lock = threading.Lock()
        self._stopped = threading.Event()
        # A process forked after the poller started has no poller (threads do not survive fork): start again.
        os.register_at_fork(after_in_child=functools.partial(_forked, weakref.ref(self)))

    def current(self) -> int:
        """The instance's counter; it moves whenever the configuration may have changed."""
        if not self._polling:
            self._start_polling()
        return self._counter.value()

    def changed(self) -> None:
        """After a committed write: every worker of this instance drops its caches on its next lookup."""
        self._counter.bump()

    def stop(self) -> None:
        """Stop polling (a process that exits needs nothing: the poller is a daemon)."""
        self._stopped.set()

    @staticmethod
    def bump_database(session: Any) -> None:
        """Inside a write's transaction: other instances see the generation move when the write commits."""
        session.execute(_BUMP)

    def _start_polling(self) -> None:
        # Started lazily, in the process that serves (after gunicorn forks).
        with self._start_lock:
            if self._polling:
                return
            self._polling = True
            if self._engine is not None and self._poll_seconds > 0:
                threading.Thread(target=self._poll, name="archestra-generation", daemon=True).start()

    def _poll(self) -> None:
        assert self._engine is not None
        engine = self._engine()
        connection = None
        seen: int | None = None
        failing = False
        touch_at = 0.0
        while not self._stopped.is_set():
            try:
                if time.monotonic() >= touch_at:
                    touch_at = time.monotonic() + TOUCH_SECONDS
                    self._counter.touch()
                if connection is None:
                    connection = engine.raw_connection()  # the driver's own: a third of the CPU per poll
                value = _read(connection)
                # The first reading bumps too: caches filled before the poller's first look may predate a
                # change made meanwhile on another instance.
                if value != seen:
                    seen = value
                    self._counter.bump()
                if failing:
                    log.info("reading the configuration generation works again")
                failing = False
            except Exception as exc:  # noqa: BLE001 - the database may be away for a while; keep trying
                if not failing:
                    log.warning("cannot read the configuration generation (%s): caches are dropped until it "
                                "can", exc.__class__.__name__)
                failing = True
                # A worker that cannot see the generation cannot vouch for its caches: requests read the
                # database instead (and are refused while it is unreachable: fail closed).
                self._counter.bump()
                if connection is not None:
                    try:
                        connection.invalidate()  # not back into the pool: it may be broken
                    except Exception:  # noqa: BLE001
                        pass
                    connection = None
            self._stopped.wait(self._poll_seconds)
        if connection is not None:
            connection.close()


def _read(connection: Any) -> Any:
    cursor = connection.cursor()
    try:
        cursor.execute(_READ)
        row = cursor.fetchone()
    finally:
        cursor.close()
    connection.commit()  # a fresh snapshot next time: no transaction left open
    return row[0] if row else None


def _forked(ref: weakref.ref[ConfigGeneration]) -> None:
    generation = ref()
    if generation is not None:
        generation._polling = False
        generation._start_lock = threading.Lock()


class ConfigCache(Generic[V]):
    """Values read from the configuration tables, kept until the generation moves or ``ttl`` seconds pass.

    A value is served only while the counter still shows the generation read *before* the value was loaded,
    so a value loaded before a change was committed is never served after the change was acknowledged.
    ``ttl`` only bounds changes made behind the API's back; 0 turns caching off.
    """

    def __init__(self, generation: ConfigGeneration, ttl: float, max_entries: int = 10_000):
        self._generation = generation
        self._ttl = ttl
        self._max_entries = max_entries  # keys may come from clients (profile ids): bound the memory
        self._entries: dict[Hashable, tuple[Any, float]] = {}
        self._filled_at = -1  # the generation the entries belong to
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[K], V]) -> V:
        if self._ttl <= 0:
            return load(key)
        generation = self._generation.current()
        if generation == self._filled_at:
            hit = self._entries.get(key)
            if hit is not None and hit[1] > time.monotonic():
                return hit[0]
        value = load(key)
        with self._lock:
            if generation != self._filled_at:
                self._entries.clear()
                self._filled_at = generation
            elif len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = (value, time.monotonic() + self._ttl)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
