"""Header hygiene between client, proxy and upstream; provider keys never logged."""
from __future__ import annotations

import logging

import openai

from archestra.upstream import join_url, request_headers, response_headers
from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply


def test_hop_by_hop_and_proxy_headers_are_not_forwarded():
    incoming = [("Authorization", "Bearer sk-1"), ("Connection", "keep-alive, X-Secret-Hop"),
                ("X-Secret-Hop", "1"), ("Keep-Alive", "timeout=5"), ("Host", "proxy:9000"),
                ("Content-Length", "10"), ("Transfer-Encoding", "chunked"), ("X-Archestra-User-Id", "u"),
                ("OpenAI-Organization", "org-1"), ("X-Stainless-Lang", "python"), ("Accept-Encoding", "br")]
    assert request_headers(incoming) == {"Authorization": "Bearer sk-1", "OpenAI-Organization": "org-1",
                                         "X-Stainless-Lang": "python"}
    out = dict(response_headers({"Content-Type": "application/json", "Content-Encoding": "gzip",
                                 "Transfer-Encoding": "chunked", "x-request-id": "r1", "Connection": "close"}))
    assert out == {"Content-Type": "application/json", "x-request-id": "r1"}


def test_join_url_stays_under_the_base():
    assert join_url("https://api.openai.com/v1", "models/gpt-4o") == "https://api.openai.com/v1/models/gpt-4o"
    assert join_url("https://api.openai.com/v1", "models/a b?x") == "https://api.openai.com/v1/models/a%20b%3Fx"
    assert join_url("https://h/v1", "models/@evil.com") == "https://h/v1/models/@evil.com"


def test_keys_never_appear_in_logs(proxy, upstream, caplog):
    secret = "sk-very-secret-key-0123456789"
    caplog.set_level(logging.DEBUG)
    upstream.reply_with(json_reply(wire.error_body("bad key", "invalid_request_error"), status=401))
    client = openai.OpenAI(api_key=secret, base_url=proxy.base("openai"), max_retries=0)
    try:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    except openai.AuthenticationError:
        pass
    assert upstream.received[-1].headers["Authorization"] == f"Bearer {secret}"
    assert caplog.records, "expected the proxy to log something"
    assert secret not in caplog.text
