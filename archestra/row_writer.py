"""The recorder's rows, written on the driver's own connection with statements compiled once.

A batch of records is mostly rows: interactions, the response chain's links, the running totals (metering/spend.py).
SQLAlchemy's execution layer costs more per row than the database does (parameter dictionaries, defaults,
processors, result set-up), so the rows of a batch are prepared here, once per statement:

* each statement is compiled once per dialect and set of columns (``Compiled``): its SQL text, the order of its
  parameters and SQLAlchemy's own bind processors for each (JSON through the engine's serializer, dates as
  SQLite stores them), so what reaches the database is what SQLAlchemy would have sent;
* Python-side column defaults (ids, timestamps) are filled in as SQLAlchemy would fill them;
* the batch is one transaction of ``executemany`` calls on a connection from the engine's pool (set up by its
  ``connect`` events: SQLite's pragmas, the JSON serializer).

The transaction runs in a native thread of gevent's pool when gevent serves the process (``off_the_loop``): the
database's work (SQLite's page writes and commit, PostgreSQL's round trips) releases the GIL, so requests keep
being served while it writes. Under gevent, psycopg waits through the patched ``select``: in a pool thread that is
the thread's own hub, never the event loop's.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from sqlalchemy import Table, insert

Rows = list[tuple[Any, dict[str, Any]]]  # (a Table, an INSERT statement, or a running total; values)
Prepared = tuple[Any, Any]  # (Compiled, the driver's parameters) or (a running total, its row)


@dataclass(frozen=True, eq=False)
class Compiled:
    """One statement as the driver takes it: SQL text and how to turn a row's values into its parameters. One
    instance per statement and column set (``RowWriter``'s cache), so a batch groups its rows by identity."""

    sql: str
    names: tuple[str, ...]  # parameter order (positional paramstyles) or the statement's bind names
    keys: tuple[str, ...]   # the name each value goes by in the driver's parameters (named paramstyles)
    processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool
    sequence: Callable[[list[Any]], Any]

    def parameters(self, values: dict[str, Any]) -> Any:
        converted = [value if processor is None else processor(value)
                     for processor, value in zip(self.processors, (values[name] for name in self.names))]
        return self.sequence(converted) if self.positional else dict(zip(self.keys, converted))


class RowWriter:
    """Prepares rows as their records come, and writes them in batches, for one engine."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[Any, ...], Compiled] = {}

    def prepare(self, dialect: Any, rows: Rows) -> list[Prepared]:
        """Each row's driver parameters (a running total's row stays as it is: the batch sums them first)."""
        prepared: list[Prepared] = []
        for target, values in rows:
            if hasattr(target, "totals"):
                prepared.append((target, values))
                continue
            values = _with_defaults(target if isinstance(target, Table) else target.table, values)
            compiled = self._compile(dialect, target, tuple(sorted(values)))
            prepared.append((compiled, compiled.parameters(values)))
        return prepared

    def write(self, engine: Any, prepared: list[Prepared]) -> None:
        """Write prepared rows in one transaction: one executemany per statement (in order of first
        appearance), then the running totals, summed."""
        groups: dict[Compiled, list[Any]] = {}
        totals: dict[Any, list[dict[str, Any]]] = {}
        for target, parameters in prepared:
            if isinstance(target, Compiled):
                groups.setdefault(target, []).append(parameters)
            else:
                totals.setdefault(target, []).append(parameters)
        dialect = engine.dialect
        for rollup, rows in totals.items():
            summed = rollup.totals(rows)
            compiled = self._compile(dialect, rollup.statement(dialect.name), tuple(sorted(summed[0])), keyed=False)
            groups.setdefault(compiled, []).extend(compiled.parameters(row) for row in summed)
        if not groups:
            return
        statements = [(compiled.sql, parameters) for compiled, parameters in groups.items()]
        connection = engine.raw_connection()
        try:
            off_the_loop(_execute, connection.driver_connection, statements)
        except BaseException:
            connection.invalidate()  # its state is unknown: never back into the pool
            raise
        finally:
            connection.close()

    def _compile(self, dialect: Any, target: Any, columns: tuple[str, ...], keyed: bool = True) -> Compiled:
        """``target``: a Table (its INSERT) or a statement; compiled on first use only."""
        key = (dialect.name, target, columns)
        found = self._compiled.get(key)
        if found is None:
            statement = insert(target) if isinstance(target, Table) else target
            found = self._compiled[key] = _compile(dialect, statement, columns, keyed)
        return found


def _compile(dialect: Any, statement: Any, columns: tuple[str, ...], keyed: bool) -> Compiled:
    """``keyed``: an INSERT of the given columns (else a statement whose bound parameters are its own)."""
    compiled = statement.compile(dialect=dialect, column_keys=list(columns) if keyed else None)
    if compiled.literal_execute_params or compiled.post_compile_params or compiled.insert_prefetch \
            or compiled.update_prefetch:
        raise ValueError(f"{statement} needs SQLAlchemy's execution layer")
    processors = compiled._bind_processors  # SQLAlchemy's own, as its execution context applies them
    names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.bind_names.values())
    missing = set(names) - set(columns)
    if missing:
        raise ValueError(f"{statement} has parameters no row gives: {sorted(missing)}")
    escaped = compiled.escaped_bind_names or {}
    return Compiled(compiled.string, names, tuple(escaped.get(name, name) for name in names),
                    tuple(processors.get(name) for name in names), compiled.positional,
                    dialect.execute_sequence_format)


_DEFAULTS: dict[Table, tuple[tuple[str, Any], ...]] = {}


def _with_defaults(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """The row with the Python-side defaults of the columns it leaves out, as an INSERT would fill them."""
    defaults = _DEFAULTS.get(table)
    if defaults is None:
        defaults = _DEFAULTS[table] = tuple(
            (column.key, column.default) for column in table.columns
            if column.default is not None and (column.default.is_scalar or column.default.is_callable))
    filled = None
    for key, default in defaults:
        if key in values:
            continue
        if filled is None:
            filled = dict(values)
        filled[key] = default.arg(None) if default.is_callable else default.arg
    return filled or values


def _execute(connection: Any, groups: Iterable[tuple[str, list[Any]]]) -> None:
    cursor = connection.cursor()
    try:
        for sql, parameters in groups:
            cursor.executemany(sql, parameters)
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        cursor.close()


def off_the_loop(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in the writer's native thread when gevent serves this process (the event loop goes on
    serving meanwhile); here otherwise. ``function`` must not wait on objects the event loop's thread uses (its
    locks, its sockets): the connection it is given is its own until it returns."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("threading"):
        return function(*args)
    global _POOL, _POOL_PID
    if _POOL is None or _POOL_PID != os.getpid():  # a pool's threads do not survive a fork
        from gevent.threadpool import ThreadPool

        _POOL, _POOL_PID = ThreadPool(1), os.getpid()
    return _POOL.apply(_yielding, (function, *args))


_POOL: Any = None
_POOL_PID = 0
#: The writer thread's nice value: when the worker's core is busy serving requests, the kernel gives the event
#: loop's thread the larger share and the writer catches up when requests pause (it is never starved: nice
#: weights, not strict priority).
WRITER_NICE = 10


def _yielding(function: Callable[..., Any], *args: Any) -> Any:
    # On Linux a nice value is the calling thread's own; elsewhere it would be the whole worker's: left alone.
    if sys.platform.startswith("linux") and os.getpriority(os.PRIO_PROCESS, 0) < WRITER_NICE:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, WRITER_NICE)
        except OSError:
            pass
    return function(*args)
