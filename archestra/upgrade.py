"""Applies migrations once, safely when several instances start together.

    python -m archestra.upgrade      bring the database of ARCHESTRA_DATABASE_URL to the newest schema

gunicorn.conf.py migrates through ``python -m archestra.startup`` before the workers fork; this is the same step
alone. PostgreSQL: a session-level advisory lock serialises concurrent upgrades; SQLite: a lock file.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import sys
from pathlib import Path
from typing import Iterator

from sqlalchemy import text

_PG_LOCK_KEY = 727274091


@functools.lru_cache(maxsize=1)
def head_revision() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from . import _migrations_dir

    config = Config()
    config.set_main_option("script_location", _migrations_dir())
    return ScriptDirectory.from_config(config).get_current_head()


@contextlib.contextmanager
def _migration_lock(engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    lock_path = Path(database + ".migrate.lock") if database and database != ":memory:" else None
    if lock_path is None:
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade_database(app) -> None:
    """Bring the schema to head under a lock (idempotent)."""
    import flask_migrate

    from .extensions import db

    with app.app_context():
        with _migration_lock(db.engine):
            flask_migrate.upgrade(directory=_dir())


def _dir() -> str:
    from . import _migrations_dir

    return _migrations_dir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m archestra.upgrade",
                                     description="Apply the database migrations (reads ARCHESTRA_DATABASE_URL).")
    parser.parse_args(argv)
    from . import create_app
    from .config import ConfigError
    from .hooks.loader import HookLoadError

    try:
        app = create_app()
    except (ConfigError, HookLoadError) as exc:
        print(f"archestra: configuration error: {exc}", file=sys.stderr)
        return 2
    upgrade_database(app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
