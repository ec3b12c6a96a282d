"""Optional profile access tokens: set through the API, shown once, stored hashed, checked on every request."""
from __future__ import annotations

import hashlib
import sqlite3

import anthropic
import openai
import pytest

from archestra.profile_tokens import HEADER
from tests.fakes import openai_wire
from tests.fakes.server import json_reply

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def guarded(proxy, upstream):
    """A profile with a token; the upstream answers every chat."""
    upstream.reply_with(json_reply(openai_wire.completion("through")))
    profile = proxy.api("POST", "/profiles", json={"name": "guarded"}).json()
    answer = proxy.api("POST", f"/profiles/{profile['id']}/token")
    assert answer.status_code == 201
    return profile["id"], answer.json()["token"]


def client(proxy, profile_id, token=None):
    headers = {HEADER: token} if token else None
    return openai.OpenAI(api_key="sk-client-key", base_url=proxy.base("openai", profile_id), max_retries=0,
                         default_headers=headers)


def test_the_token_is_shown_once_and_only_its_hash_is_stored(proxy, guarded):
    profile_id, token = guarded
    assert token.startswith("archestra_") and len(token) > 40
    shown = proxy.api("GET", f"/profiles/{profile_id}").json()
    assert shown["requires_token"] is True and token not in str(shown)
    assert proxy.api("GET", "/profiles").json()["data"][0]["requires_token"] is False  # the default profile
    database = proxy.app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        dump = "\n".join(connection.iterdump())
    assert token not in dump
    assert hashlib.sha256(token.encode()).hexdigest() in dump


def test_requests_without_the_token_are_refused_in_the_provider_format(proxy, upstream, guarded):
    profile_id, token = guarded
    with pytest.raises(openai.AuthenticationError) as missing:
        client(proxy, profile_id).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert missing.value.body["code"] == "profile_token_required"
    with pytest.raises(openai.AuthenticationError) as wrong:
        client(proxy, profile_id, token[:-1] + "x").chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert wrong.value.body["code"] == "invalid_profile_token"
    ant = anthropic.Anthropic(api_key="sk-ant", base_url=proxy.base("anthropic", profile_id), max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        ant.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=MESSAGES)
    assert refused.value.body["error"]["type"] == "authentication_error"
    assert upstream.received == []


def test_the_right_token_passes_and_never_goes_upstream(proxy, upstream, guarded):
    profile_id, token = guarded
    answer = client(proxy, profile_id, token).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert answer.choices[0].message.content == "through"
    sent = upstream.received[-1]
    assert HEADER not in sent.headers and token not in str(sent.headers)
    assert sent.headers["Authorization"] == "Bearer sk-client-key"
    # Profiles without a token stay open.
    assert client(proxy, None).chat.completions.create(model="gpt-4o", messages=MESSAGES)


def test_rotating_and_removing_the_token(proxy, upstream, guarded):
    profile_id, old = guarded
    new = proxy.api("POST", f"/profiles/{profile_id}/token").json()["token"]
    assert new != old
    with pytest.raises(openai.AuthenticationError):
        client(proxy, profile_id, old).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert client(proxy, profile_id, new).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert proxy.api("DELETE", f"/profiles/{profile_id}/token").status_code == 204
    assert proxy.api("GET", f"/profiles/{profile_id}").json()["requires_token"] is False
    assert client(proxy, profile_id).chat.completions.create(model="gpt-4o", messages=MESSAGES)


def test_setting_a_token_needs_the_admin_token(proxy, guarded):
    profile_id, _ = guarded
    assert proxy.api("POST", f"/profiles/{profile_id}/token", headers={"Authorization": "Bearer no"}).status_code == 401
    assert proxy.api("POST", "/profiles/00000000-0000-0000-0000-000000000000/token").status_code == 404
