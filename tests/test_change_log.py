"""The change log: every configuration change through the management API and the console, with who, when, the
value before and after; kept when the object goes; no secret in it; no way to write or remove an entry (no API
method, and the database's triggers refuse updates and deletes)."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import openai
import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from archestra import create_app
from archestra.upgrade import upgrade_database
from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply
from tests.test_console import signed_in

SECRET_KEY = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="
PROVIDER_KEY = "sk-live-very-secret-provider-key-9f3a"


def changes(proxy, **params) -> dict:
    answer = proxy.api("GET", "/change-log", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def created(answer: requests.Response) -> dict:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


@pytest.fixture
def keyed(make_proxy):
    return make_proxy(secret_key=SECRET_KEY)


def test_every_kind_of_change_through_the_api_with_who_and_before_and_after(keyed):
    proxy = keyed
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    profile = created(proxy.api("POST", "/profiles", json={"name": "Support agent", "slug": "support"}))
    created(proxy.api("PATCH", f"/profiles/{profile['id']}", json={"mode": "monitor"}))
    tool = created(proxy.api("POST", "/tools", json={"profile_id": profile["id"], "name": "send_email"}))
    policy = created(proxy.api("POST", "/tool-call-policies", json={
        "tool_id": tool["id"], "action": "block_when_context_is_untrusted", "conditions": []}))
    created(proxy.api("PATCH", f"/tool-call-policies/{policy['id']}",
                      json={"action": "allow_when_context_is_untrusted"}))
    token = created(proxy.api("POST", f"/profiles/{profile['id']}/token"))["token"]
    created(proxy.api("PUT", f"/profiles/{profile['id']}/provider-keys/openai", json={"api_key": PROVIDER_KEY}))
    key = created(proxy.api("POST", "/virtual-keys", json={"profile_id": profile["id"], "name": "ci"}))
    created(proxy.api("POST", "/limits", json={"scope": "virtual_key", "virtual_key_id": key["id"],
                                               "max_cost_usd": 5, "period": "day"}))
    created(proxy.api("POST", "/token-prices", json={"model": "my-model", "input_per_million": 1,
                                                     "output_per_million": 2}))
    created(proxy.api("POST", "/optimization-rules", json={"provider": "openai", "target_model": "gpt-4o-mini"}))
    created(proxy.api("POST", "/model-aliases", json={"name": "fast", "targets": ["openai:gpt-4o-mini"]}))
    created(proxy.api("POST", "/policy-templates", json={"kind": "call", "tool_name": "Bash",
                                                         "action": "block_always"}))
    created(proxy.api("PATCH", "/settings", json={"global_policy": "permissive"}))

    log = changes(proxy, limit=100)
    entries = log["data"]
    assert log["total"] == len(entries) == 14
    assert {(e["action"], e["object_type"]) for e in entries} == {
        ("create", "profile"), ("update", "profile"), ("create", "tool"), ("create", "tool_call_policy"),
        ("update", "tool_call_policy"), ("create", "provider_key"), ("create", "virtual_key"), ("create", "limit"),
        ("create", "token_price"), ("create", "optimization_rule"), ("create", "model_alias"),
        ("create", "policy_template"), ("update", "setting")}
    for entry in entries:
        assert entry["actor"] == {"kind": "admin_token", "name": "admin token", "role": "admin", "person_id": None}
        assert entry["via"] == "api"
        assert datetime.fromisoformat(entry["created_at"]) >= started
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)  # newest first

    loosened = changes(proxy, object_type="tool_call_policy", action="update")["data"]
    assert len(loosened) == 1 and loosened[0]["object_id"] == policy["id"]
    assert loosened[0]["before"]["action"] == "block_when_context_is_untrusted"
    assert loosened[0]["after"]["action"] == "allow_when_context_is_untrusted"
    assert loosened[0]["changed"] == ["action"]
    assert loosened[0]["object_name"] == "send_email: allow_when_context_is_untrusted"
    assert loosened[0]["profile_id"] == profile["id"]
    token_entry, mode = changes(proxy, object_type="profile", action="update")["data"]  # newest first
    assert mode["changed"] == ["mode"] and (mode["before"]["mode"], mode["after"]["mode"]) == (None, "monitor")
    setting = changes(proxy, object_type="setting")["data"][0]
    assert (setting["object_name"], setting["before"]["value"], setting["after"]["value"]) == \
        ("global_policy", "restrictive", "permissive")

    # No secret anywhere: the provider key by fingerprint and last four only; no token, no virtual key.
    everything = json.dumps(entries)
    for secret in (PROVIDER_KEY, token, key["key"], SECRET_KEY):
        assert secret not in everything
    stored = changes(proxy, object_type="provider_key")["data"][0]
    assert stored["after"]["last4"] == PROVIDER_KEY[-4:] and stored["object_name"] == "openai key …9f3a"
    assert "ciphertext" not in stored["after"] and len(stored["after"]["fingerprint"]) == 12
    issued = changes(proxy, object_type="virtual_key")["data"][0]
    assert "key_hash" not in issued["after"] and issued["after"]["last4"] == key["key"][-4:]
    assert token_entry["changed"] == ["token_hash"]
    assert token_entry["before"]["token_hash"] is None and token_entry["after"]["token_hash"].startswith("sha256:")
    assert len(token_entry["after"]["token_hash"]) < 20


def test_entries_outlive_what_they_describe_and_say_what_went_with_it(keyed):
    proxy = keyed
    profile = created(proxy.api("POST", "/profiles", json={"name": "Doomed"}))
    tool = created(proxy.api("POST", "/tools", json={"profile_id": profile["id"], "name": "fetch_url"}))
    policy = created(proxy.api("POST", "/tool-result-policies", json={"tool_id": tool["id"],
                                                                      "action": "mark_as_trusted"}))
    created(proxy.api("PUT", f"/profiles/{profile['id']}/provider-keys/anthropic", json={"api_key": PROVIDER_KEY}))
    assert proxy.api("DELETE", f"/profiles/{profile['id']}").status_code == 204
    assert proxy.api("GET", f"/tool-result-policies/{policy['id']}").status_code == 404  # really gone

    history = changes(proxy, profile_id=profile["id"])["data"]
    deletes = {e["object_type"]: e for e in history if e["action"] == "delete"}
    assert set(deletes) == {"profile", "tool", "tool_result_policy", "provider_key"}
    assert deletes["profile"]["before"]["name"] == "Doomed" and deletes["profile"]["after"] is None
    assert deletes["profile"]["note"] is None
    assert deletes["tool"]["note"] == "deleted with profile Doomed"
    assert deletes["tool_result_policy"]["note"] == "deleted with tool fetch_url"
    assert deletes["tool_result_policy"]["before"]["action"] == "mark_as_trusted"
    assert PROVIDER_KEY not in json.dumps(history)
    # The whole story of one object, by its id, after it is gone.
    story = changes(proxy, object_id=policy["id"])["data"]
    assert [e["action"] for e in story] == ["delete", "create"]


def test_filters_paging_and_no_write_methods(keyed):
    proxy = keyed
    for n in range(5):
        created(proxy.api("POST", "/token-prices", json={"model": f"m{n}", "input_per_million": n,
                                                         "output_per_million": n}))
    first = changes(proxy, object_type="token_price", limit=2)
    second = changes(proxy, object_type="token_price", limit=2, offset=2)
    assert first["total"] == second["total"] == 5 and len(first["data"]) == len(second["data"]) == 2
    assert not {e["id"] for e in first["data"]} & {e["id"] for e in second["data"]}
    assert [e["object_name"] for e in first["data"]] == ["m4", "m3"]
    assert changes(proxy, actor="admin token", object_type="token_price")["total"] == 5
    assert changes(proxy, actor="someone@example.com")["total"] == 0
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert changes(proxy, since=future)["total"] == 0 and changes(proxy, until=future)["total"] >= 5
    for params in ({"colour": "red"}, {"since": "yesterday"}, {"object_type": "spaceship"}, {"action": "burn"}):
        answer = proxy.api("GET", "/change-log", params=params)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_query", params
    one = first["data"][0]
    assert proxy.api("GET", f"/change-log/{one['id']}").json() == one
    assert proxy.api("GET", "/change-log/999999").status_code == 404
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert proxy.api(method, "/change-log", json={}).status_code == 405, method
        assert proxy.api(method, f"/change-log/{one['id']}", json={}).status_code == 405, method
    assert changes(proxy, object_type="token_price")["total"] == 5
    # Without the admin token: nothing.
    assert requests.get(f"{proxy.url}/api/change-log", timeout=10).status_code == 401


def test_a_change_that_fails_leaves_no_entry_and_traffic_is_not_configuration(keyed, upstream):
    proxy = keyed
    created(proxy.api("POST", "/profiles", json={"name": "Twice"}))
    assert proxy.api("POST", "/profiles", json={"name": "Twice"}).status_code == 409
    assert proxy.api("POST", "/limits", json={"scope": "profile", "profile_id": "nope", "max_cost_usd": 1}) \
        .status_code == 400
    assert [e["object_name"] for e in changes(proxy)["data"]] == ["Twice"]
    # A tool an agent declares (discovery) and what traffic counts (last use, spend) are no configuration.
    upstream.reply_with(json_reply(wire.completion("Hi")))
    client = openai.OpenAI(api_key="sk-client", base_url=proxy.base("openai"), max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], tools=[
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}])
    proxy.flush()
    assert [t["name"] for t in proxy.api("GET", "/tools").json()["data"]] == ["lookup"]
    assert changes(proxy)["total"] == 1


def test_the_database_refuses_to_edit_or_remove_an_entry(keyed):
    proxy = keyed
    created(proxy.api("POST", "/token-prices", json={"model": "x", "input_per_million": 1, "output_per_million": 1}))
    path = proxy.app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        for statement in ("UPDATE change_log SET actor_name = 'nobody'", "DELETE FROM change_log"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                connection.execute(statement)
    assert changes(proxy)["data"][0]["actor"]["name"] == "admin token"


def test_postgres_refuses_to_edit_or_remove_an_entry(postgres_url):
    app = create_app({"database_url": postgres_url, "admin_token": "t", "profile_cache_seconds": 0})
    upgrade_database(app)
    client = app.test_client()
    headers = {"Authorization": "Bearer t"}
    assert client.post("/api/profiles", json={"name": "pg"}, headers=headers).status_code == 201
    assert client.get("/api/change-log", headers=headers).json["total"] == 1
    engine = create_engine(postgres_url)
    try:
        for statement in ("UPDATE change_log SET actor_name = 'nobody'", "DELETE FROM change_log",
                          "TRUNCATE change_log"):
            with engine.begin() as connection, pytest.raises(DBAPIError, match="append-only"):
                connection.execute(text(statement))
    finally:
        engine.dispose()
        with app.app_context():
            from archestra.extensions import db
            db.engine.dispose()


def test_changes_through_the_console_are_logged_and_shown(proxy):
    console = signed_in(proxy.url)
    assert console.post("/console/profiles", {"name": "Console made", "slug": "console-made"}).status_code == 302
    profile = proxy.api("GET", "/profiles/console-made").json()
    assert console.post(f"/console/profiles/{profile['id']}", {"name": "Console renamed", "slug": "console-made",
                                                                "mode": "monitor"}).status_code == 302
    assert console.post(f"/console/profiles/{profile['id']}/delete").status_code == 302
    entries = changes(proxy)["data"]
    assert [(e["action"], e["object_type"], e["via"], e["actor"]["name"]) for e in entries] == [
        ("delete", "profile", "console", "admin token"), ("update", "profile", "console", "admin token"),
        ("create", "profile", "console", "admin token")]
    assert entries[1]["before"]["name"] == "Console made" and entries[1]["after"]["name"] == "Console renamed"

    page = console.get("/console/changes")
    assert page.status_code == 200
    assert page.text.count('class="change-') == 3 and "Console renamed" in page.text and "admin token" in page.text
    assert "Console made → Console renamed" in " ".join(page.text.split())
    filtered = console.get("/console/changes", params={"action": "delete"})
    assert filtered.text.count('class="change-') == 1 and 'class="change-delete"' in filtered.text
    bad = console.get("/console/changes", params={"since": "soon"})
    assert bad.status_code == 400 and "since must be an ISO 8601 date-time" in bad.text
    assert "/console/changes" in console.get("/console/").text  # in the navigation
    # A policy's entry leads to its tool's page while the tool exists; a profile's to the profile's.
    kept = proxy.api("POST", "/profiles", json={"name": "Kept"}).json()
    tool = proxy.api("POST", "/tools", json={"profile_id": kept["id"], "name": "send_email"}).json()
    proxy.api("POST", "/tool-call-policies", json={"tool_id": tool["id"], "action": "block_always"})
    page = console.get("/console/changes", params={"profile_id": kept["id"]}).text
    assert page.count(f'href="/console/tools/{tool["id"]}"') == 2 and f'href="/console/profiles/{kept["id"]}"' in page
    assert f'/console/changes?profile_id={kept["id"]}' in console.get(f"/console/profiles/{kept['id']}").text


def test_people_and_teams_changed_by_someone_are_logged(keyed):
    proxy = keyed
    team = created(proxy.api("POST", "/teams", json={"name": "Platform", "idp_group": "platform"}))
    person = created(proxy.api("POST", "/people", json={"email": "ada@example.com", "team_ids": [team["id"]]}))
    created(proxy.api("PATCH", f"/people/{person['id']}", json={"disabled": True}))
    assert proxy.api("DELETE", f"/people/{person['id']}").status_code == 204
    entries = changes(proxy)["data"]
    assert [(e["action"], e["object_type"], e["object_name"], e["note"]) for e in entries] == [
        ("delete", "team_membership", "ada@example.com in Platform", "deleted with person ada@example.com"),
        ("delete", "person", "ada@example.com", None),
        ("update", "person", "ada@example.com", None),
        ("create", "team_membership", "ada@example.com in Platform", None),
        ("create", "person", "ada@example.com", None),
        ("create", "team", "Platform", None)]
    assert entries[2]["changed"] == ["disabled"] and entries[0]["object_id"] == f"{person['id']}/{team['id']}"
    assert all(e["actor"]["name"] == "admin token" for e in entries)


def test_statements_that_change_many_rows_are_logged_row_by_row(keyed):
    """Writers that delete or update with one statement (a person's API team list drops a membership that way)
    are logged like the others."""
    proxy = keyed
    teams = [created(proxy.api("POST", "/teams", json={"name": name})) for name in ("Red", "Blue")]
    person = created(proxy.api("POST", "/people", json={"email": "bo@example.com",
                                                        "team_ids": [team["id"] for team in teams]}))
    created(proxy.api("PATCH", f"/people/{person['id']}", json={"team_ids": [teams[1]["id"]]}))
    dropped = changes(proxy, object_type="team_membership", action="delete")["data"]
    assert [(e["object_name"], e["before"]["source"], e["actor"]["name"]) for e in dropped] == [
        ("bo@example.com in Red", "api", "admin token")]
    assert [t["name"] for t in proxy.api("GET", f"/people/{person['id']}").json()["teams"]] == ["Blue"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_migration_upgrades_and_downgrades(database, tmp_path, request):
    """Console sessions opened before the upgrade stay token sessions; the log and its triggers come and go."""
    import flask_migrate
    import sqlalchemy as sa

    from archestra.extensions import db

    url = f"sqlite:///{tmp_path}/fresh.db" if database == "sqlite" else request.getfixturevalue("postgres_url")
    app = create_app({"database_url": url, "admin_token": "t"})
    directory = app.extensions["migrate"].directory
    with app.app_context():
        flask_migrate.upgrade(directory=directory, revision="0017_identity")
        with db.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO console_sessions (id, token_hash, role, credential_hash, created_at, expires_at) "
                "VALUES ('s1', 'h', 'admin', 'c', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        flask_migrate.upgrade(directory=directory)
        with db.engine.begin() as connection:
            assert connection.execute(sa.text("SELECT kind, name FROM console_sessions")).all() == [("token", None)]
        assert "change_log" in sa.inspect(db.engine).get_table_names()
        flask_migrate.downgrade(directory=directory, revision="0017_identity")
        assert "change_log" not in sa.inspect(db.engine).get_table_names()
        assert "kind" not in {c["name"] for c in sa.inspect(db.engine).get_columns("console_sessions")}
        flask_migrate.upgrade(directory=directory)
        db.session.remove()
        db.engine.dispose()
    client = app.test_client()
    assert client.post("/api/token-prices", json={"model": "z", "input_per_million": 1, "output_per_million": 1},
                       headers={"Authorization": "Bearer t"}).status_code == 201
    with app.app_context():
        with db.engine.begin() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(sa.text("DELETE FROM change_log"))
        db.engine.dispose()


def test_a_person_with_an_identity_provider_token_is_recorded_by_name_and_role(make_proxy):
    from tests.fakes.idp import FakeIdP

    idp = FakeIdP()
    try:
        proxy = make_proxy(oidc_issuer=idp.issuer, oidc_audience=idp.audience, oidc_admin_groups="admins",
                           oidc_operator_groups="secops")
        operator = {"Authorization": "Bearer " + idp.token("u-7", email="grace@example.com", groups=["secops"])}
        profile = created(proxy.api("POST", "/profiles", json={"name": "p"}))
        assert proxy.api("PATCH", f"/profiles/{profile['id']}", json={"mode": "monitor"},
                         headers=operator).status_code == 200
        assert proxy.api("POST", "/token-prices", json={"model": "x", "input_per_million": 1,
                                                        "output_per_million": 1}, headers=operator).status_code == 403
        entry = changes(proxy, actor="grace@example.com")
        assert entry["total"] == 1
        person = proxy.api("GET", "/people").json()["data"][0]
        assert entry["data"][0]["actor"] == {"kind": "person", "name": "grace@example.com", "role": "operator",
                                             "person_id": person["id"]}
        assert (entry["data"][0]["before"]["mode"], entry["data"][0]["after"]["mode"]) == (None, "monitor")
        # The token itself is in no entry.
        assert operator["Authorization"][7:] not in json.dumps(changes(proxy)["data"])
    finally:
        idp.close()


def test_the_log_exports_as_json_lines_for_an_archive(keyed, tmp_path):
    import os
    import subprocess
    import sys

    proxy = keyed
    created(proxy.api("POST", "/token-prices", json={"model": "a", "input_per_million": 1, "output_per_million": 2}))
    default = proxy.api("GET", "/profiles").json()["data"][0]["id"]
    created(proxy.api("PUT", f"/profiles/{default}/provider-keys/openai", json={"api_key": PROVIDER_KEY}))
    target = tmp_path / "changes.jsonl"
    env = {**os.environ, "ARCHESTRA_DATABASE_URL": proxy.app.config["SQLALCHEMY_DATABASE_URI"]}
    done = subprocess.run([sys.executable, "-m", "archestra.backup", "--change-log", str(target)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "2 change log entries exported" in done.stderr, done.stderr
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(e["object_type"], e["action"], e["actor_name"]) for e in lines] == [
        ("token_price", "create", "admin token"), ("provider_key", "create", "admin token")]
    assert lines[0]["after"]["input_per_million"] == 1 and PROVIDER_KEY not in target.read_text()


def test_on_postgres_deletes_cascades_and_bulk_statements_are_logged_alike(make_proxy, postgres_url):
    proxy = make_proxy(database_url=postgres_url, secret_key=SECRET_KEY)
    profile = created(proxy.api("POST", "/profiles", json={"name": "PG"}))
    tool = created(proxy.api("POST", "/tools", json={"profile_id": profile["id"], "name": "fetch_url"}))
    created(proxy.api("POST", "/tool-call-policies", json={"tool_id": tool["id"], "action": "block_always"}))
    created(proxy.api("PUT", f"/profiles/{profile['id']}/provider-keys/openai", json={"api_key": PROVIDER_KEY}))
    team = created(proxy.api("POST", "/teams", json={"name": "Red"}))
    person = created(proxy.api("POST", "/people", json={"email": "pg@example.com", "team_ids": [team["id"]]}))
    created(proxy.api("PATCH", f"/people/{person['id']}", json={"team_ids": []}))
    assert proxy.api("DELETE", f"/profiles/{profile['id']}").status_code == 204
    deletes = [(e["object_type"], e["note"]) for e in changes(proxy, action="delete")["data"]]
    assert sorted(deletes, key=str) == sorted([
        ("profile", None), ("tool", "deleted with profile PG"), ("tool_call_policy", "deleted with tool fetch_url"),
        ("provider_key", "deleted with profile PG"), ("team_membership", None)], key=str)
    assert PROVIDER_KEY not in json.dumps(changes(proxy, limit=500)["data"])
    with proxy.app.app_context():
        from archestra.extensions import db
        db.session.remove()
        db.engine.dispose()
