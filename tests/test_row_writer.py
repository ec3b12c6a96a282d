"""The recorder's rows written on the driver's connection (archestra/row_writer.py): the same values as SQLAlchemy's
ORM would store, on SQLite and PostgreSQL; one bad record costs only itself; under gevent the write runs in a native
thread (psycopg's waits there are that thread's own)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from archestra import create_app
from archestra.extensions import db
from archestra.metering.spend import SPEND
from archestra.models import BlockedToolCall, Interaction, SpendDaily
from archestra.stored_json import JSONText
from archestra.upgrade import upgrade_database

INTERACTIONS = Interaction.__table__
WHEN = datetime(2026, 12, 5, 23, 59, 58, 123456, tzinfo=timezone.utc)  # as the proxy stamps records


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'rows.db'}" if request.param == "sqlite" else \
        request.getfixturevalue("postgres_url")
    app = create_app({"database_url": url, "admin_token": "t"})
    upgrade_database(app)
    yield app
    with app.app_context():
        db.engine.dispose()


def values(**overrides):
    return {"profile_id": str(uuid.uuid4()), "profile_name": "Zoë's profile", "kind": "chat", "provider": "openai",
            "model": "gpt-4o", "model_used": "gpt-4o-2024-08-06", "stream": True, "status_code": 200,
            "request": JSONText('{"model": "gpt-4o", "messages": [{"role": "user", "content": "日本"}]}'),
            "upstream_request": None, "response": {"choices": [{"text": "é", "n": 2 ** 40}]},
            "input_tokens": 44, "output_tokens": 16, "usage_estimated": False,
            "extra_calls": [{"model": "m", "cost_usd": 0.25}], "cost_usd": Decimal("0.00027"),
            "duration_ms": 12.5, "time_to_first_token_ms": None, "blocked": None, "blocked_count": 0,
            "would_block_count": 0, "flags": {"would_refuse": ["x"]}, "labels": ["untrusted"], "created_at": WHEN,
            **overrides}


def stored(app, **where):
    with app.app_context():
        rows = db.session.query(Interaction).filter_by(**where).all()
        return [{column.key: getattr(row, column.key) for column in INTERACTIONS.columns if column.key != "id"}
                for row in rows]


def test_a_row_reads_back_as_the_orm_would_have_stored_it(app):
    recorder = app.extensions["archestra"].recorder
    by_rows, by_orm = values(), values()
    by_orm["request"] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "日本"}]}
    recorder.submit(lambda session: (INTERACTIONS, by_rows))
    assert recorder.flush(10)
    with app.app_context():
        db.session.add(Interaction(**by_orm))
        db.session.commit()
    [written], [expected] = stored(app, profile_id=by_rows["profile_id"]), stored(app, profile_id=by_orm["profile_id"])
    assert {**written, "profile_id": None} == {**expected, "profile_id": None}
    assert written["created_at"].replace(tzinfo=None) == WHEN.replace(tzinfo=None)  # SQLite keeps no offset
    assert written["request"]["messages"][0]["content"] == "日本" and written["response"]["choices"][0]["n"] == 2 ** 40


def test_defaults_are_filled_and_running_totals_summed(app):
    recorder = app.extensions["archestra"].recorder
    profile = str(uuid.uuid4())
    row = {"day": "2026-12-05", "profile_id": profile, "model": "gpt-4o", "profile_name": "p",
           "cost_usd": Decimal("0.5"), "input_tokens": 10, "output_tokens": 1, "interactions": 1}
    for _ in range(3):  # three records of one batch, one running total
        recorder.submit(lambda session: [(SPEND, dict(row)), (BlockedToolCall.__table__, {
            "profile_id": profile, "provider": "openai", "tool": "send_email", "arguments": {"to": "x@y.z"},
            "reason": "no", "would_block": False})])
    assert recorder.flush(10)
    with app.app_context():
        spend = db.session.query(SpendDaily).filter_by(profile_id=profile).one()
        assert (spend.cost_usd, spend.input_tokens, spend.interactions) == (Decimal("1.5"), 30, 3)
        blocked = db.session.query(BlockedToolCall).filter_by(profile_id=profile).all()
        assert len(blocked) == 3 and len({call.id for call in blocked}) == 3  # ids and times from the defaults
        assert all(call.created_at is not None and call.arguments == {"to": "x@y.z"} for call in blocked)


def test_a_bad_record_costs_only_itself(app, caplog):
    recorder = app.extensions["archestra"].recorder
    profile = str(uuid.uuid4())

    def broken(session):
        raise RuntimeError("a job that fails")

    recorder.submit(lambda session: (INTERACTIONS, values(profile_id=profile, model="first")))
    recorder.submit(lambda session: (INTERACTIONS, values(profile_id=None)))  # NOT NULL: the database refuses it
    recorder.submit(broken)
    recorder.submit(lambda session: (INTERACTIONS, values(profile_id=profile, model="last")))
    assert recorder.flush(10)
    assert sorted(row["model"] for row in stored(app, profile_id=profile)) == ["first", "last"]
    failures = [record for record in caplog.records if record.name == "archestra.recorder"]
    assert failures and all(record.levelname == "ERROR" for record in failures)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_under_gevent_the_write_runs_in_a_native_thread(database, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'g.db'}" if database == "sqlite" else request.getfixturevalue("postgres_url")
    script = textwrap.dedent(f"""
        from gevent import monkey
        monkey.patch_all()
        import os
        from archestra import create_app
        from archestra.extensions import db
        from archestra.upgrade import upgrade_database
        from archestra import row_writer
        native = monkey.get_original("threading", "get_ident")
        seen = []
        execute = row_writer._execute

        def spy(connection, groups):
            seen.append((native(), os.getpriority(os.PRIO_PROCESS, 0)))  # Linux: this thread's own nice value
            return execute(connection, groups)

        row_writer._execute = spy
        app = create_app({{"database_url": "{url}", "admin_token": "t"}})
        upgrade_database(app)
        recorder = app.extensions["archestra"].recorder
        from archestra.models import BlockedToolCall
        for n in range(50):
            recorder.submit(lambda session: (BlockedToolCall.__table__, {{"profile_id": "p", "provider": "openai",
                                             "tool": "t", "reason": "r"}}))
        assert recorder.flush(10)
        with app.app_context():
            assert db.session.query(BlockedToolCall).count() == 50
        print(len(seen), all(thread != native() for thread, _ in seen), {{nice for _, nice in seen}},
              os.getpriority(os.PRIO_PROCESS, 0))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    batches, elsewhere, writer_nice, loop_nice = done.stdout.split(maxsplit=3)
    assert int(batches) >= 1 and elsewhere == "True"  # never on the event loop's own thread
    # The writer yields the core to the event loop; the loop's own thread keeps its priority.
    assert (writer_nice, loop_nice.strip()) == ("{10}", "0")
