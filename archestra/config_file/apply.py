"""``apply``: make the database match a file's state in one transaction, with one bump of the configuration
generation, so that every worker and every instance switches to the new configuration together.

The transaction starts by bumping the generation row: that takes its lock (PostgreSQL) or the database's write
lock (SQLite), so two instances applying at the same moment take turns, and the second finds nothing left to do
(it then rolls back: no bump, no change).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..runtime import current_runtime
from .file_format import profile_key
from .plan import Change, Context, PlanError, apply_order, diff, visible
from .state import read_state


def apply_state(desired: dict[str, Any], where: Any = None) -> list[Change]:
    """Apply ``desired`` (in an app context); the changes made (none: nothing was written)."""
    runtime = current_runtime()
    session = db.session
    try:
        runtime.generation.bump_database(session)  # first: the lock that orders concurrent applies
        current = read_state(session)
        changes = diff(desired, current, where)
        if not visible(changes):
            session.rollback()
            return []
        ctx = Context(session)
        for profile in current["profiles"]:
            ctx.profile_ids[profile["name"]] = ctx.profile_ids[profile_key(profile)] = profile["_id"]
        for change in apply_order(changes):
            assert change.do is not None
            change.do(ctx)
            session.flush()
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise PlanError(f"the database refused the change ({str(exc.orig).splitlines()[0]}); nothing was "
                        "changed") from None
    except BaseException:
        session.rollback()
        raise
    runtime.invalidate_caches()
    return visible(changes)


def apply_file_at_start(app: Any, path: str, env: Any) -> str:
    """``ARCHESTRA_CONFIG_FILE``: apply the file once per instance, before the workers fork (startup.py), then run
    the kept policy tests. Raises ``FileError`` / ``PlanError`` (the start stops: nothing was changed)."""
    import os

    from ..actor import ADMIN, Actor, set_actor
    from .file_format import load_file
    from .kept_tests import run_kept

    with app.app_context():  # the file is read with the app's settings (its ARCHESTRA_PACKS_DIR)
        source, desired = load_file(path, env)
        try:
            set_actor(Actor("config_file", os.path.abspath(path), ADMIN))
            changes = apply_state(desired, source.where)
            outcome = f"{len(changes)} changes applied" if changes else "the database already matched it"
            if changes:
                run = run_kept("apply")
                outcome += f"; policy tests: {run.total - run.failed} of {run.total} passed"
        finally:
            db.session.remove()
    return outcome
