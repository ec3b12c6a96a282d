"""JSON columns as the recorder writes them (archestra/stored_json.py): bodies the proxy read strictly are stored
as the text they came as, everything else encoded by orjson with json.dumps behind it; read back unchanged."""
from __future__ import annotations

import json
import math
import sqlite3

import pytest
import requests

from archestra import create_app
from archestra.stored_json import Checked, JSONText, dumps, stored_text
from archestra.upgrade import upgrade_database
from tests.conftest import ADMIN_TOKEN
from tests.fakes import openai_wire
from tests.fakes.server import Reply, json_reply

# Spaced and indented, non-ASCII, an escaped quote, a number json.dumps would write differently (1E2 -> 100.0).
SENT = ('{\n  "model" : "gpt-4o",\n  "messages": [{"role": "user", "content": "Grüße, \\"Zoë\\" 日本"}],\n'
        '  "temperature": 1E0, "max_tokens": 100}')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_proxy(request, make_proxy, tmp_path):
    if request.param == "sqlite":
        return make_proxy(), request.param
    url = request.getfixturevalue("postgres_url")
    return make_proxy(database_url=url), request.param


def test_a_request_is_stored_as_sent_and_read_back_as_parsed(database_proxy, upstream):
    proxy, kind = database_proxy
    upstream.reply_with(json_reply(openai_wire.completion("Grüß dich")))
    answer = requests.post(f"{proxy.base('openai')}/chat/completions", data=SENT.encode(),
                           headers={"Content-Type": "application/json", "Authorization": "Bearer sk-x"}, timeout=10)
    assert answer.status_code == 200, answer.text
    proxy.flush()
    [row] = proxy.api("GET", "/interactions").json()["data"]
    full = proxy.api("GET", f"/interactions/{row['id']}").json()
    assert full["request"] == json.loads(SENT)
    assert full["response"] == answer.json()
    if kind == "sqlite":  # the text in the database is the request's own
        database = proxy.app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
        with sqlite3.connect(database) as connection:
            stored, = connection.execute("SELECT request FROM interactions WHERE id = ?", (row["id"],)).fetchone()
        assert stored == SENT


def test_a_body_that_is_not_json_is_kept_readable(proxy, upstream):
    upstream.reply_with(Reply(500, {"Content-Type": "text/plain"}, [b"upstream \xff broke"]))
    answer = requests.post(f"{proxy.base('openai')}/chat/completions", json={"model": "gpt-4o", "messages": []},
                           headers={"Authorization": "Bearer sk-x"}, timeout=10)
    assert answer.status_code == 500
    proxy.flush()
    [row] = proxy.api("GET", "/interactions").json()["data"]
    full = proxy.api("GET", f"/interactions/{row['id']}").json()
    assert full["response"] == {"raw": "upstream \ufffd broke"}


def test_the_serializer_falls_back_where_orjson_cannot_encode():
    assert json.loads(dumps({"big": 2 ** 70})) == {"big": 2 ** 70}           # beyond 64 bits
    assert json.loads(dumps({"text": "\ud800"})) == {"text": "\ud800"}        # a lone surrogate
    assert json.loads(dumps({1: "a"})) == {"1": "a"}                          # a key that is not a string
    assert json.loads(dumps({"é": [1, 2.5, None, True]})) == {"é": [1, 2.5, None, True]}
    assert dumps(math.nan) == "null"  # not JSON, refused by PostgreSQL: stored as null
    assert dumps(JSONText('{"as": "it is"}')) == '{"as": "it is"}'
    assert dumps('{"a string": 1}') == '"{\\"a string\\": 1}"'  # plain strings are values, not JSON text


def test_only_checked_bodies_are_stored_verbatim():
    assert stored_text(b'{"a": 1}') is None  # not read by the strict parser: parsed again before storing
    assert stored_text(Checked('{"a": 1}'.encode("utf-16"))) == '{"a": 1}'
    assert stored_text(Checked('{"a": 1}'.encode("utf-8-sig"))) == '{"a": 1}'
    assert stored_text(Checked(b'{"a": "\xed\xa0\x80"}')) is None  # a lone surrogate: parsed and escaped instead


def test_the_engine_uses_the_serializer_on_both_databases(tmp_path, postgres_url):
    for url in (f"sqlite:///{tmp_path / 'a.db'}", postgres_url):
        app = create_app({"database_url": url, "admin_token": ADMIN_TOKEN})
        upgrade_database(app)
        with app.app_context():
            from archestra.extensions import db
            assert db.engine.dialect._json_serializer is dumps
            db.engine.dispose()
