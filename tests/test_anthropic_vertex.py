"""Anthropic models on Vertex AI through the proxy (``:rawPredict`` / ``:streamRawPredict`` under the anthropic
base), driven by the anthropic SDK's AnthropicVertex: the proxy's own project, location and google-auth token
(a service account whose token endpoint is the fake upstream, as in test_vertex.py); the client's go nowhere.
"""
from __future__ import annotations

import json
from urllib.parse import parse_qs

import anthropic
import pytest
import requests

from tests.fakes import anthropic_wire as wire
from tests.fakes import claude_code_wire as claude_code
from tests.fakes.server import json_reply, sse_reply
from tests.test_hooks import BLOCK_EMAIL, expected_refusal, hook_file
from tests.test_vertex import service_account  # noqa: F401 (fixture)

PROJECT, LOCATION, MODEL = "proxy-proj", "europe-west1", "claude-sonnet-4@20250514"
PREDICT = f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/anthropic/models/{MODEL}"
TOOLS = [{"name": "send_email", "description": "mail", "input_schema": {"type": "object", "properties": {}}}]


def vertex_proxy(make_proxy, upstream, credentials_file, **settings):
    return make_proxy(anthropic_vertex_ai_enabled=True, anthropic_vertex_ai_project=PROJECT,
                      anthropic_vertex_ai_location=LOCATION, anthropic_vertex_ai_credentials_file=str(credentials_file),
                      anthropic_vertex_ai_base_url=upstream.url, **{"cloud_auth_open": True, **settings})


def serve(upstream, reply):
    """The fake Vertex AI: tokens from ``/token``, ``reply`` (a Reply or a function of the request) otherwise."""
    tokens = []

    def handler(request):
        if request.path == "/token":
            tokens.append(parse_qs(request.body.decode()))
            return json_reply({"access_token": f"ya29.token-{len(tokens)}", "expires_in": 3599,
                               "token_type": "Bearer"})
        return reply(request) if callable(reply) else reply
    upstream.reply_with(handler)
    return tokens


def calls(upstream):
    """What reached Vertex AI (token requests left out), each checked for the proxy's token."""
    found = [r for r in upstream.received if r.path != "/token"]
    for request in found:
        assert request.headers["Authorization"] == "Bearer ya29.token-1"
        assert "x-api-key" not in request.headers
    return found


def client(proxy, **options):
    return anthropic.AnthropicVertex(region="us-east5", project_id="clients-own-project", access_token="client-tok",
                                     base_url=proxy.base("anthropic", options.pop("profile", None)), max_retries=0,
                                     **options)


def test_raw_predict_goes_to_the_proxys_project_with_its_token(make_proxy, upstream, service_account):  # noqa: F811
    tokens = serve(upstream, json_reply(wire.message([wire.text("Hello from Vertex")])))
    proxy = vertex_proxy(make_proxy, upstream, service_account[0])
    message = client(proxy).messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == "Hello from Vertex"
    [sent] = calls(upstream)
    assert sent.path == PREDICT + ":rawPredict" and len(tokens) == 1
    assert isinstance(sent.json["anthropic_version"], str) and "model" not in sent.json
    proxy.flush()
    [row] = proxy.api("GET", "/interactions").json()["data"]
    assert (row["provider"], row["model"], row["input_tokens"], row["output_tokens"]) == ("anthropic", MODEL, 377, 65)


def test_streamed_tool_call_blocked_and_not(tmp_path, make_proxy, upstream, service_account):  # noqa: F811
    refusal = expected_refusal({"to": "e@x.io"})
    proxy = vertex_proxy(make_proxy, upstream, service_account[0], hooks=hook_file(tmp_path, BLOCK_EMAIL))
    serve(upstream, sse_reply(wire.tool_stream("send_email", ['{"to": ', '"e@x.io"}'])))
    with client(proxy).messages.stream(model=MODEL, max_tokens=10, tools=TOOLS,
                                       messages=[{"role": "user", "content": "mail"}]) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "text"] and final.content[1].text == refusal
    assert final.stop_reason == "end_turn" and calls(upstream)[-1].path == PREDICT + ":streamRawPredict"

    serve(upstream, json_reply(wire.message([wire.tool_use("send_email", {"to": "e@x.io"})], "tool_use")))
    message = client(proxy).messages.create(model=MODEL, max_tokens=10, tools=TOOLS,
                                            messages=[{"role": "user", "content": "mail"}])
    assert message.content[0].text == refusal


def test_claude_code_request_passes_byte_for_byte(make_proxy, upstream, service_account):  # noqa: F811
    proxy = vertex_proxy(make_proxy, upstream, service_account[0])
    events = claude_code.answer()
    serve(upstream, sse_reply(events))
    sent = claude_code.request("vertex-2023-10-16", stream=True)
    path = f"/projects/claude-code-proj/locations/us-east5/publishers/anthropic/models/{MODEL}:streamRawPredict"
    response = requests.post(proxy.base("anthropic") + path, data=sent, timeout=10,
                             headers={**claude_code.HEADERS, "Authorization": "Bearer client"})
    assert response.status_code == 200 and response.content == b"".join(events)
    [got] = calls(upstream)
    assert got.body == sent and got.path == PREDICT + ":streamRawPredict"
    assert got.headers["anthropic-beta"] == claude_code.BETAS
    assert got.headers["x-claude-code-session-id"] == claude_code.SESSION
    proxy.flush()
    assert proxy.api("GET", "/interactions").json()["data"][0]["session_id"] == claude_code.SESSION


def test_disabled_and_token_rules(make_proxy, upstream, service_account):  # noqa: F811
    serve(upstream, json_reply(wire.message([wire.text("ok")])))
    closed = make_proxy()
    with pytest.raises(anthropic.NotFoundError, match="ARCHESTRA_ANTHROPIC_VERTEX_AI_ENABLED"):
        client(closed).messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}])

    proxy = vertex_proxy(make_proxy, upstream, service_account[0], cloud_auth_open=False)
    with pytest.raises(anthropic.AuthenticationError, match="X-Archestra-Token"):
        client(proxy).messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert calls(upstream) == []
    pid = proxy.api("POST", "/profiles", json={"name": "vertex"}).json()["id"]
    token = proxy.api("POST", f"/profiles/{pid}/token").json()["token"]
    answer = client(proxy, profile=pid, default_headers={"X-Archestra-Token": token}).messages.create(
        model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert answer.content[0].text == "ok" and len(calls(upstream)) == 1


def test_mantle_chat_completions(proxy, upstream):
    import openai

    from tests.fakes import openai_wire

    upstream.reply_with(json_reply(openai_wire.completion("Hi from Mantle")))
    mantle = openai.OpenAI(api_key="bedrock-api-key", base_url=proxy.base("mantle"), max_retries=0)
    answer = mantle.chat.completions.create(model="openai.gpt-oss-120b", messages=[{"role": "user", "content": "x"}])
    assert answer.choices[0].message.content == "Hi from Mantle"
    assert upstream.received[-1].path == "/chat/completions"
    assert upstream.received[-1].headers["Authorization"] == "Bearer bedrock-api-key"
    assert json.loads(upstream.received[-1].body)["model"] == "openai.gpt-oss-120b"
