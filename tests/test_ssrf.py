"""No request chooses where the proxy connects: not by path, not by request target, not by header.

A second fake server plays the attacker's host; every test asserts it was never contacted and that whatever
the proxy did forward went to the configured upstream, under the configured base path.
"""
from __future__ import annotations

import http.client
import json

import openai
import pytest

from tests.fakes import openai_wire as wire
from tests.fakes.server import FakeUpstream, json_reply

MODELS = json_reply({"object": "list", "data": []})


@pytest.fixture
def elsewhere():
    fake = FakeUpstream()
    fake.reply_with(json_reply({"pwned": True}))
    yield fake
    fake.close()


def raw(proxy, method: str, target: str, headers: dict[str, str] | None = None, body: bytes | None = None):
    """Send ``target`` exactly as written (no client-side normalisation)."""
    host, port = proxy.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request(method, target, body=body, headers={"Authorization": "Bearer k", **(headers or {})})
    response = connection.getresponse()
    return response.status, response.read()


def test_absolute_form_request_target_cannot_pick_the_host(proxy, upstream, elsewhere):
    upstream.reply_with(MODELS)
    status, body = raw(proxy, "GET", f"{elsewhere.url}/v1/openai/models")
    assert elsewhere.received == []
    assert status == 200 and json.loads(body) == {"object": "list", "data": []}
    assert upstream.received[-1].path == "/models"


def test_host_and_forwarding_headers_are_ignored(proxy, upstream, elsewhere):
    upstream.reply_with(json_reply(wire.completion("fine")))
    evil = elsewhere.url.removeprefix("http://")
    headers = {"Host": evil, "X-Forwarded-Host": evil, "Forwarded": f"host={evil};proto=http",
               "X-Forwarded-Proto": "http", "X-Original-URL": f"{elsewhere.url}/x", "X-Rewrite-URL": "/x",
               "X-Archestra-Upstream": elsewhere.url, "Content-Type": "application/json"}
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()
    status, answer = raw(proxy, "POST", "/v1/openai/chat/completions", headers, body)
    assert status == 200 and json.loads(answer)["choices"][0]["message"]["content"] == "fine"
    assert elsewhere.received == []
    sent = upstream.received[-1]
    assert sent.path == "/chat/completions"
    assert sent.headers["Host"] == upstream.url.removeprefix("http://")
    for name in ("X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Original-URL", "X-Rewrite-URL",
                 "X-Archestra-Upstream"):
        assert name not in sent.headers


@pytest.mark.parametrize("target", [
    "/v1/openai/models/%2F%2F{evil}%2Fx",
    "/v1/openai/models/%2f%2f{evil}",
    "/v1/openai/models/@{evil}",
    "/v1/openai/models/%252e%252e%252f%252e%252e%252fsecret",
    "/v1/openai/models/http:%2F%2F{evil}%2F",
])
def test_encoded_slashes_and_hosts_in_paths_stay_under_the_base(proxy, upstream, elsewhere, target):
    upstream.reply_with(MODELS)
    status, _ = raw(proxy, "GET", target.format(evil=elsewhere.url.removeprefix("http://")))
    assert elsewhere.received == []
    assert status in (200, 400, 404)
    for request in upstream.received:
        assert request.path.startswith("/models/")


@pytest.mark.parametrize("target", [
    "/v1/openai/models/..%2F..%2Fsecret",
    "/v1/openai/models/%2E%2E%2Fsecret",
    "/v1/gemini/v1beta/models/..%2F..%2Fsecret:generateContent",
])
def test_encoded_dot_segments_are_refused(proxy, upstream, elsewhere, target):
    status, body = raw(proxy, "GET" if "openai" in target else "POST", target,
                       {"Content-Type": "application/json"}, b"{}" if "gemini" in target else None)
    assert status in (400, 404), body  # 404 where the decoded path no longer matches any route
    assert upstream.received == [] and elsewhere.received == []


def test_bedrock_model_ids_cannot_leave_the_model_path(proxy, upstream, elsewhere):
    upstream.reply_with(json_reply({"output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
                                    "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1,
                                                                        "totalTokens": 2}}))
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
    evil = elsewhere.url.removeprefix("http://")
    raw(proxy, "POST", f"/v1/bedrock/model/..%2F..%2F%2F{evil}/converse", {"Content-Type": "application/json"}, body)
    assert elsewhere.received == []
    for request in upstream.received:
        assert request.path.startswith("/model/") and request.path.count("/") == 3  # /model/<one segment>/converse


def test_an_upstream_cookie_is_never_replayed_to_other_clients(proxy, upstream):
    upstream.reply_with(json_reply(wire.completion("hi"), headers={"Set-Cookie": "session=victim-secret; Path=/"}))
    first = openai.OpenAI(api_key="sk-first-client", base_url=proxy.base("openai"), max_retries=0)
    second = openai.OpenAI(api_key="sk-second-client", base_url=proxy.base("openai"), max_retries=0)
    first.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    second.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "y"}])
    assert len(upstream.received) == 2
    assert all("Cookie" not in request.headers for request in upstream.received)
