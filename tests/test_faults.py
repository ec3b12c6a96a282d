"""Upstream and database faults: each gives the client a clear error in its provider's format, never a hang
or a stack trace, and the exchange is recorded with its error."""
from __future__ import annotations

import time
import uuid

import anthropic
import openai
import psycopg
import pytest
import requests

from tests.fakes import openai_wire
from tests.fakes.server import Reply, json_reply

ASK = [{"role": "user", "content": "x"}]
PG = "postgresql://postgres@127.0.0.1:5432"


def client(proxy, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(api_key="k", base_url=proxy.base("openai"), max_retries=0, **kwargs)


def last_interaction(proxy) -> dict:
    proxy.flush()
    return proxy.api("GET", "/interactions", params={"limit": 1}).json()["data"][0]


@pytest.mark.parametrize("base_url,reason", [
    ("http://no-such-host.invalid", "connection failed"),     # DNS failure
    ("http://127.0.0.1:9", "connection failed"),              # refused
])
def test_unreachable_upstreams(make_proxy, base_url, reason):
    proxy = make_proxy(base_urls={"openai": base_url}, upstream_connect_timeout=3)
    with pytest.raises(openai.APIStatusError) as caught:
        client(proxy).chat.completions.create(model="m", messages=ASK)
    assert caught.value.status_code == 502 and reason in caught.value.message
    assert last_interaction(proxy)["status_code"] == 502


def test_tls_failure(make_proxy, upstream):
    proxy = make_proxy(base_urls={"openai": upstream.url.replace("http://", "https://")})
    with pytest.raises(openai.APIStatusError) as caught:
        client(proxy).chat.completions.create(model="m", messages=ASK)
    assert caught.value.status_code == 502 and "TLS error" in caught.value.message


def test_slow_body_is_a_504(make_proxy, upstream):
    proxy = make_proxy(upstream_read_timeout=0.5)
    upstream.reply_with(Reply(200, {"Content-Type": "application/json"}, [b'{"id": "x",', b'"rest": 1}'], delay=2))
    with pytest.raises(openai.APIStatusError) as caught:
        client(proxy).chat.completions.create(model="m", messages=ASK)
    assert caught.value.status_code == 504 and caught.value.code == "upstream_timeout"


def test_enormous_response_is_refused(make_proxy, upstream):
    proxy = make_proxy(max_response_bytes=100_000)
    upstream.reply_with(json_reply(openai_wire.completion("x" * 200_000)))
    with pytest.raises(openai.APIStatusError) as caught:
        client(proxy).chat.completions.create(model="m", messages=ASK)
    assert caught.value.status_code == 502 and caught.value.code == "upstream_response_too_large"


def test_html_5xx_passes_through_with_its_status(proxy, upstream):
    upstream.reply_with(Reply(503, {"Content-Type": "text/html"}, [b"<html><h1>502 Bad Gateway</h1></html>"]))
    with pytest.raises(openai.InternalServerError) as caught:
        client(proxy).chat.completions.create(model="m", messages=ASK)
    assert caught.value.status_code == 503 and "Bad Gateway" in caught.value.response.text


def test_invalid_json_from_upstream(proxy, upstream):
    upstream.reply_with(Reply(200, {"Content-Type": "application/json"}, [b"{not json"]))
    with pytest.raises(openai.APIStatusError) as caught:
        client(proxy).chat.completions.create(model="m", messages=ASK)
    assert caught.value.status_code == 502 and caught.value.code == "upstream_invalid_json"
    assert last_interaction(proxy)["error"].startswith("The upstream provider returned")


def test_database_outage_fails_closed_and_recovers(make_proxy, upstream):
    name = f"archestra_outage_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{PG}/test", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        proxy = make_proxy(database_url=f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        upstream.reply_with(json_reply(openai_wire.completion("ok")))
        assert client(proxy).chat.completions.create(model="m", messages=ASK).choices[0].message.content == "ok"
        with psycopg.connect(f"{PG}/test", autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        time.sleep(0.2)
        received = len(upstream.received)
        with pytest.raises(openai.InternalServerError) as caught:
            client(proxy).chat.completions.create(model="m", messages=ASK)
        assert caught.value.status_code == 503 and caught.value.code == "database_unavailable"
        with pytest.raises(anthropic.InternalServerError) as refused:
            anthropic.Anthropic(api_key="k", base_url=proxy.base("anthropic"), max_retries=0).messages.create(
                model="c", max_tokens=5, messages=ASK)
        assert refused.value.status_code == 503 and refused.value.body["type"] == "error"
        assert len(upstream.received) == received  # nothing went upstream unchecked
        api = proxy.api("GET", "/profiles")
        assert api.status_code == 503 and api.json()["error"]["code"] == "database_unavailable"
        assert requests.get(f"{proxy.url}/readyz", timeout=5).status_code == 503

        with psycopg.connect(f"{PG}/test", autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert client(proxy).chat.completions.create(model="m", messages=ASK).choices[0].message.content == "ok"
        assert requests.get(f"{proxy.url}/readyz", timeout=5).status_code == 200
    finally:
        with psycopg.connect(f"{PG}/test", autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
