"""Gemini (AI Studio) through the proxy, driven by the real google-genai SDK."""
from __future__ import annotations

import json

import pytest
import requests
from google import genai
from google.genai import errors, types

from tests.fakes import gemini_wire as wire
from tests.fakes.server import json_reply, sse_reply
from tests.test_hooks import BLOCK_EMAIL, expected_refusal, hook_file

EMAIL = types.Tool(function_declarations=[
    types.FunctionDeclaration(name="send_email", description="mail",
                              parameters_json_schema={"type": "object", "properties": {"to": {"type": "string"}}}),
    types.FunctionDeclaration(name="get_weather", description="w",
                              parameters=types.Schema(type="OBJECT",
                                                      properties={"city": types.Schema(type="STRING")}))])


_alive: list[genai.Client] = []  # a genai.Client closes its HTTP client when garbage-collected


def client(proxy, profile_id=None, **options) -> genai.Client:
    made = genai.Client(api_key="AIza-client-key", http_options=types.HttpOptions(
        base_url=proxy.base("gemini", profile_id), **options))
    _alive.append(made)
    return made


def test_generate_content(proxy, upstream):
    upstream.reply_with(json_reply(wire.chunk([{"text": "Hi there"}], "STOP")))
    answer = client(proxy).models.generate_content(model="gemini-2.5-flash", contents="hi",
                                                   config=types.GenerateContentConfig(system_instruction="be brief"))
    assert answer.text == "Hi there" and answer.usage_metadata.prompt_token_count == 52
    got = upstream.received[-1]
    assert got.path == "/v1/models/gemini-2.5-flash:generateContent"
    assert got.headers["x-goog-api-key"] == "AIza-client-key"
    assert got.json["systemInstruction"]["parts"][0]["text"] == "be brief"


def test_v1beta_path_and_key_in_query(proxy, upstream):
    upstream.reply_with(json_reply(wire.chunk([{"text": "ok"}], "STOP")))
    response = requests.post(proxy.base("gemini") + "/v1beta/models/gemini-2.5-flash:generateContent?key=AIza-q",
                             json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, timeout=10)
    assert response.status_code == 200 and response.json()["candidates"][0]["content"]["parts"][0]["text"] == "ok"
    assert upstream.received[-1].path == "/v1beta/models/gemini-2.5-flash:generateContent?key=AIza-q"


def test_sse_stream_relayed_byte_for_byte(proxy, upstream):
    events = wire.sse([wire.chunk([{"text": "Okay, let's <b>"}]), wire.chunk([{"text": " go"}], "STOP", (4, 97))])
    upstream.reply_with(sse_reply(events))
    response = requests.post(proxy.base("gemini") + "/v1beta/models/m:streamGenerateContent?alt=sse", timeout=10,
                             json={"contents": [{"parts": [{"text": "hi"}]}]}, headers={"x-goog-api-key": "k"})
    assert response.content == b"".join(events)

    upstream.reply_with(sse_reply(events))
    chunks = list(client(proxy).models.generate_content_stream(model="m", contents="hi"))
    assert "".join(c.text for c in chunks) == "Okay, let's <b> go"
    assert chunks[-1].usage_metadata.candidates_token_count == 97


def test_json_array_stream_relayed_byte_for_byte(proxy, upstream):
    pieces = wire.json_array([wire.chunk([{"text": "a"}]), wire.chunk([{"text": "b"}], "STOP")])
    upstream.reply_with(sse_reply(pieces, headers={"Content-Type": "application/json"}))
    response = requests.post(proxy.base("gemini") + "/v1beta/models/m:streamGenerateContent", timeout=10,
                             json={"contents": [{"parts": [{"text": "hi"}]}]})
    assert response.content == b"".join(pieces)
    assert [c["candidates"][0]["content"]["parts"][0]["text"] for c in response.json()] == ["a", "b"]


def test_function_call_round_trip_and_the_view(tmp_path, make_proxy, upstream):
    seen = tmp_path / "seen.json"
    proxy = make_proxy(hooks=hook_file(tmp_path, f"""
        import json
        def on_request(exchange):
            with open({str(seen)!r}, "w") as out:
                json.dump({{"model": exchange.model, "tools": [t.name for t in exchange.tools],
                           "results": [(r.name, json.loads(r.content)) for r in exchange.tool_results],
                           "calls": [(c.name, c.arguments) for m in exchange.messages for c in m.tool_calls]}}, out)
    """))
    upstream.reply_with(json_reply(wire.chunk([wire.function_call("get_weather", {"city": "Paris"})], "STOP")))
    first = client(proxy).models.generate_content(model="gemini-2.5-flash", contents="weather?",
                                                  config=types.GenerateContentConfig(tools=[EMAIL]))
    call = first.function_calls[0]
    assert (call.name, call.args) == ("get_weather", {"city": "Paris"})

    upstream.reply_with(json_reply(wire.chunk([{"text": "21 C"}], "STOP")))
    contents = [types.Content(role="user", parts=[types.Part(text="weather?")]), first.candidates[0].content,
                types.Content(role="user", parts=[types.Part.from_function_response(
                    name="get_weather", response={"temp_c": 21})])]
    final = client(proxy).models.generate_content(model="gemini-2.5-flash", contents=contents,
                                                  config=types.GenerateContentConfig(tools=[EMAIL]))
    assert final.text == "21 C"
    sent_parts = upstream.received[-1].json["contents"][1]["parts"][0]
    assert sent_parts["thoughtSignature"] == "CikBcsjaU2ln"  # echoed back untouched
    assert json.loads(seen.read_text()) == {"model": "gemini-2.5-flash", "tools": ["send_email", "get_weather"],
                                            "results": [["get_weather", {"temp_c": 21}]],
                                            "calls": [["get_weather", {"city": "Paris"}]]}


def test_snake_case_request_fields_are_understood(tmp_path, make_proxy, upstream):
    proxy = make_proxy(hooks=hook_file(tmp_path, """
        def on_request(exchange):
            exchange.tools = [t for t in exchange.tools if t.name != "send_email"]
            exchange.messages[0].text = "redacted system"
    """))
    upstream.reply_with(json_reply(wire.chunk([{"text": "ok"}], "STOP")))
    body = {"system_instruction": {"parts": [{"text": "secret system"}]},
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "tools": [{"function_declarations": [{"name": "send_email"}, {"name": "get_weather"}]}]}
    requests.post(proxy.base("gemini") + "/v1beta/models/m:generateContent", json=body, timeout=10)
    sent = upstream.received[-1].json
    assert sent["system_instruction"] == {"parts": [{"text": "redacted system"}]}
    assert sent["tools"] == [{"function_declarations": [{"name": "get_weather"}]}]


@pytest.mark.parametrize("status,name,error_class", [(400, "INVALID_ARGUMENT", errors.ClientError),
                                                     (429, "RESOURCE_EXHAUSTED", errors.ClientError),
                                                     (503, "UNAVAILABLE", errors.ServerError)])
def test_upstream_errors(proxy, upstream, status, name, error_class):
    upstream.reply_with(json_reply(wire.error(status, "API key not valid.", name), status=status))
    with pytest.raises(error_class) as caught:
        client(proxy).models.generate_content(model="m", contents="x")
    assert caught.value.code == status and caught.value.status == name


def test_proxy_errors_in_google_format(proxy):
    with pytest.raises(errors.ClientError) as caught:
        client(proxy, "6f1c1a7e-0000-4000-8000-000000000000").models.generate_content(model="m", contents="x")
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"


def test_broken_stream_raises_in_the_sdk(proxy, upstream):
    upstream.reply_with(sse_reply(wire.sse([wire.chunk([{"text": "a"}]), wire.chunk([{"text": "b"}])]) * 3,
                                  reset_after=2))
    with pytest.raises(errors.APIError, match="upstream stream broke off"):
        list(client(proxy).models.generate_content_stream(model="m", contents="x"))


def test_blocked_function_call_streamed_and_not(tmp_path, make_proxy, upstream):
    proxy = make_proxy(hooks=hook_file(tmp_path, BLOCK_EMAIL))
    refusal = expected_refusal({"to": "e@x.io"})
    upstream.reply_with(json_reply(wire.chunk([wire.function_call("send_email", {"to": "e@x.io"})], "STOP")))
    answer = client(proxy).models.generate_content(model="m", contents="x",
                                                   config=types.GenerateContentConfig(tools=[EMAIL]))
    assert answer.function_calls is None and answer.text == refusal
    assert answer.candidates[0].finish_reason == "STOP"

    upstream.reply_with(sse_reply(wire.sse([wire.chunk([{"text": "Sure. "}]),
                                            wire.chunk([wire.function_call("send_email", {"to": "e@x.io"})], "STOP")])))
    chunks = list(client(proxy).models.generate_content_stream(
        model="m", contents="x", config=types.GenerateContentConfig(tools=[EMAIL])))
    assert not any(c.function_calls for c in chunks)
    assert "".join(c.text for c in chunks) == "Sure. " + refusal
    assert chunks[-1].usage_metadata.prompt_token_count == 52

    upstream.reply_with(sse_reply(wire.json_array([wire.chunk([wire.function_call("send_email", {"to": "e@x.io"})],
                                                              "STOP")]), headers={"Content-Type": "application/json"}))
    response = requests.post(proxy.base("gemini") + "/v1beta/models/m:streamGenerateContent", timeout=10,
                             json={"contents": [{"parts": [{"text": "hi"}]}]})
    body = response.json()
    assert [c["candidates"][0]["content"]["parts"] for c in body] == [[{"text": refusal}]]
