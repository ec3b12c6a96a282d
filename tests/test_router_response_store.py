"""The router's response store: neutral conversations kept per response id and profile, exactly as saved, on
SQLite and on the real PostgreSQL, and the migration that creates its table upgrading and downgrading."""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from typing import Iterator

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import IntegrityError

from archestra import create_app
from archestra.extensions import db
from archestra.families.neutral import (ChatAnswer, ChatRequest, Image, Message, Reasoning, Text, ToolCallPart,
                                        ToolResultPart, Usage)
from archestra.metering.retention import delete_in_batches
from archestra.router import response_store
from archestra.upgrade import upgrade_database

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
BEFORE = "0014_model_router"

REQUEST = ChatRequest(model="claude-sonnet-4-5", system=[Text("Be brief.")], messages=[
    Message("user", [Text("What is in this picture? Ünïcödé ✓"), Image("image/png", PNG),
                     Image(url="https://example.com/a.png")]),
    Message("assistant", [Reasoning("Looks like a pixel.", signature="EqQBCkYIBxgCKkD"),
                          Reasoning("", encrypted="gAAAAB"), Text("Let me check."),
                          ToolCallPart("toolu_01", "inspect", '{"zoom": 2}')]),
    Message("user", [ToolResultPart("toolu_01", [Text("1x1 PNG"), Image("image/png", PNG)], is_error=False,
                                    name="inspect"),
                     ToolResultPart("toolu_02", [], is_error=True)]),
])
ANSWER = ChatAnswer("msg_01", "claude-sonnet-4-5", [Text("A single pixel.")], usage=Usage(10, 3))


@pytest.fixture
def sqlite_app(tmp_path, migrated_sqlite) -> Flask:
    database = tmp_path / "store.db"
    shutil.copyfile(migrated_sqlite, database)
    return create_app({"database_url": f"sqlite:///{database}"})


@pytest.fixture
def postgresql_app(postgres_url) -> Iterator[Flask]:
    app = create_app({"database_url": postgres_url})
    upgrade_database(app)
    yield app
    with app.app_context():
        db.engine.dispose()  # the fixture drops the database next


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request) -> Flask:
    return request.getfixturevalue(f"{request.param}_app")


def test_conversation_is_the_request_and_the_answer():
    conversation = response_store.conversation(REQUEST, ANSWER)
    assert conversation == [*REQUEST.messages, Message("assistant", [Text("A single pixel.")])]
    assert response_store.conversation(REQUEST, ChatAnswer("x", "m", [])) == REQUEST.messages


def test_round_trip_of_every_part_type(app):
    conversation = response_store.conversation(REQUEST, ANSWER)
    with app.app_context():
        response_store.save("profile-a", "resp_1", conversation, "claude-sonnet-4-5")
    with app.app_context():  # a new session: read from the database, not the identity map
        loaded = response_store.load("profile-a", "resp_1")
        row = db.session.get(response_store.RouterResponse, "resp_1")
        assert (row.profile_id, row.model) == ("profile-a", "claude-sonnet-4-5") and row.created_at is not None
    assert loaded == conversation
    assert [type(part) for message in loaded for part in message.parts] == [
        Text, Image, Image, Reasoning, Reasoning, Text, ToolCallPart, ToolResultPart, ToolResultPart, Text]
    assert loaded[2].parts[0].content[1] == Image("image/png", PNG)


def test_another_profile_cannot_load_it_nor_overwrite_it(app):
    with app.app_context():
        response_store.save("profile-a", "resp_1", REQUEST.messages, "m")
        assert response_store.load("profile-b", "resp_1") is None
        assert response_store.load("profile-a", "resp_unknown") is None
        with pytest.raises(IntegrityError):
            response_store.save("profile-b", "resp_1", [Message("user", [Text("mine now")])], "m")
        db.session.rollback()
        assert response_store.load("profile-a", "resp_1") == REQUEST.messages


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_migration_upgrades_and_downgrades(database, tmp_path, request):
    url = f"sqlite:///{tmp_path}/fresh.db" if database == "sqlite" else request.getfixturevalue("postgres_url")
    app = create_app({"database_url": url})
    directory = app.extensions["migrate"].directory
    with app.app_context():
        flask_migrate.upgrade(directory=directory, revision=BEFORE)
        assert "router_responses" not in sa.inspect(db.engine).get_table_names()
        flask_migrate.upgrade(directory=directory)
        inspector = sa.inspect(db.engine)
        assert {c["name"] for c in inspector.get_columns("router_responses")} == {
            "id", "profile_id", "model", "messages", "created_at"}
        assert {tuple(i["column_names"]) for i in inspector.get_indexes("router_responses")} >= {
            ("profile_id",), ("created_at",)}
        response_store.save("p", "resp_1", REQUEST.messages, "m")
        assert response_store.load("p", "resp_1") == REQUEST.messages
        db.session.remove()
        flask_migrate.downgrade(directory=directory, revision=BEFORE)
        assert "router_responses" not in sa.inspect(db.engine).get_table_names()
        flask_migrate.upgrade(directory=directory)
        assert response_store.load("p", "resp_1") is None
        db.session.remove()
        db.engine.dispose()


def test_rows_older_than_the_retention_go_with_the_retention_purges_batched_delete(app):
    """What retention.purge_older_than is to add: the same batched delete, on ``created_at``."""
    with app.app_context():
        response_store.save("p", "resp_old", REQUEST.messages, "m")
        response_store.save("p", "resp_new", REQUEST.messages, "m")
        db.session.get(response_store.RouterResponse, "resp_old").created_at = datetime.now(timezone.utc) - \
            timedelta(days=31)
        db.session.commit()
        cutoff = datetime.now(timezone.utc) - timedelta(days=30)
        assert delete_in_batches(response_store.RouterResponse,
                                 [response_store.RouterResponse.created_at < cutoff], batch=1) == 1
        assert response_store.load("p", "resp_old") is None and response_store.load("p", "resp_new")
