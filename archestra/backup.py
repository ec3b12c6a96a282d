"""Backups and exports of the proxy's database (reads ARCHESTRA_DATABASE_URL, like the proxy).

    python -m archestra.backup PATH                  SQLite online backup to PATH (consistent while serving)
    python -m archestra.backup --interactions FILE   every interaction as JSON lines (``-``: standard output)
    python -m archestra.backup --change-log FILE     every change log entry as JSON lines (for an audit archive)
    python -m archestra.backup --checkpoint          fold the SQLite WAL into the database file

On PostgreSQL, back up with ``pg_dump``; the JSON lines export works on both backends.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from contextlib import nullcontext
from typing import IO, Any

from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from .config import load_settings
from .models import ChangeLog, Interaction

EXPORT_BATCH = 500


def sqlite_path(database_url: str) -> str | None:
    """The file of a SQLite database URL; None for any other backend (or an in-memory database)."""
    url = make_url(database_url)
    return url.database if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
        else None


def checkpoint(path: str) -> None:
    """Write the WAL into the database file and truncate it: the file alone is then the whole database."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def backup_sqlite(path: str, target: str) -> None:
    """SQLite's online backup: a consistent copy (WAL included) even while workers write."""
    source, copy = sqlite3.connect(path), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


def export_interactions(database_url: str, out: IO[str]) -> int:
    """Every interaction, oldest first, one JSON object per line; how many."""
    table = Interaction.__table__
    return export_rows(database_url, out, select(table).order_by(table.c.created_at, table.c.id))


def export_change_log(database_url: str, out: IO[str]) -> int:
    """Every change log entry, oldest first, one JSON object per line; how many."""
    table = ChangeLog.__table__
    return export_rows(database_url, out, select(table).order_by(table.c.id))


def export_rows(database_url: str, out: IO[str], query: Any) -> int:
    """The rows of ``query`` as JSON lines, read in batches; how many."""
    engine = create_engine(database_url)
    count = 0
    try:
        with engine.connect() as connection:
            rows = connection.execution_options(yield_per=EXPORT_BATCH).execute(query)
            for row in rows.mappings():
                out.write(json.dumps(dict(row), default=_plain, ensure_ascii=False) + "\n")
                count += 1
    finally:
        engine.dispose()
    return count


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m archestra.backup", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", help="SQLite: write an online backup of the database here")
    parser.add_argument("--interactions", metavar="FILE", help="export every interaction as JSON lines")
    parser.add_argument("--change-log", metavar="FILE", help="export every change log entry as JSON lines")
    parser.add_argument("--checkpoint", action="store_true", help="SQLite: fold the WAL into the database file")
    args = parser.parse_args(argv)
    if not (args.path or args.interactions or args.change_log or args.checkpoint):
        parser.error("give a backup PATH, --interactions FILE, --change-log FILE or --checkpoint")
    database_url = load_settings().database_url
    path = sqlite_path(database_url)
    if (args.path or args.checkpoint) and path is None:
        print("archestra.backup: the database is not SQLite; back PostgreSQL up with pg_dump "
              "(pg_dump --format=custom \"${ARCHESTRA_DATABASE_URL/+psycopg/}\" > archestra.dump: pg_dump takes the URL "
              "without SQLAlchemy's +psycopg)", file=sys.stderr)
        return 2
    if args.checkpoint:
        checkpoint(path)  # type: ignore[arg-type]
    if args.path:
        backup_sqlite(path, args.path)  # type: ignore[arg-type]
        print(f"archestra.backup: {path} -> {args.path}", file=sys.stderr)
    if args.interactions:
        with (nullcontext(sys.stdout) if args.interactions == "-" else
              open(args.interactions, "w", encoding="utf-8")) as out:
            count = export_interactions(database_url, out)
        print(f"archestra.backup: {count} interactions exported", file=sys.stderr)
    if args.change_log:
        with (nullcontext(sys.stdout) if args.change_log == "-" else
              open(args.change_log, "w", encoding="utf-8")) as out:
            count = export_change_log(database_url, out)
        print(f"archestra.backup: {count} change log entries exported", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
