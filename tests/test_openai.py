"""OpenAI through the proxy, driven by the real openai SDK against a byte-faithful fake upstream."""
from __future__ import annotations

import json
import time

import openai
import pytest

from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply, sse_reply

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
KEY = "sk-test-client-key-123"


def client(proxy, profile_id=None, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(api_key=KEY, base_url=proxy.base("openai", profile_id), max_retries=0, **kwargs)


def test_non_streamed_completion_reaches_upstream_unchanged(proxy, upstream):
    upstream.reply_with(json_reply(wire.completion("Bonjour!"), headers={"x-request-id": "req_42"}))
    sent = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hi"}], "temperature": 0.2}

    raw = client(proxy).chat.completions.with_raw_response.create(**sent)
    answer = raw.parse()

    assert answer.choices[0].message.content == "Bonjour!"
    assert answer.usage.prompt_tokens == 44 and answer.usage.completion_tokens == 16
    assert raw.headers["x-request-id"] == "req_42"
    got = upstream.received[-1]
    assert got.path == "/chat/completions"
    assert got.json == sent  # nothing added or dropped
    assert got.headers["Authorization"] == f"Bearer {KEY}"


def test_tool_call_round_trip(proxy, upstream):
    call = wire.tool_call("get_weather", {"city": "Paris"})
    upstream.reply_with(json_reply(wire.completion(None, [call])))
    messages = [{"role": "user", "content": "Weather in Paris?"}]

    answer = client(proxy).chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
    made = answer.choices[0].message.tool_calls[0]
    assert answer.choices[0].finish_reason == "tool_calls"
    assert (made.function.name, json.loads(made.function.arguments)) == ("get_weather", {"city": "Paris"})

    upstream.reply_with(json_reply(wire.completion("It is 21 C in Paris.")))
    messages += [answer.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": made.id, "content": '{"temp_c": 21}'}]
    final = client(proxy).chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
    assert final.choices[0].message.content == "It is 21 C in Paris."
    assert upstream.received[-1].json["messages"][-1] == {
        "role": "tool", "tool_call_id": "call_abc123", "content": '{"temp_c": 21}'}


@pytest.mark.parametrize("include_usage", [True, False])
def test_streamed_text_is_relayed_byte_for_byte(proxy, upstream, include_usage):
    events = wire.text_stream(["Hel", "lo", " world"], include_usage=include_usage)
    upstream.reply_with(sse_reply(events))
    kwargs = {"stream_options": {"include_usage": True}} if include_usage else {}

    with client(proxy).chat.completions.with_streaming_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True, **kwargs) as response:
        body = b"".join(response.iter_bytes())
    assert body == b"".join(events)

    chunks = list(client(proxy).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True, **kwargs))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello world"
    assert (chunks[-1].usage is not None) == include_usage


def test_streamed_parallel_tool_calls_accumulate_in_the_sdk(proxy, upstream):
    events = wire.tool_stream([("call_1", "get_weather", ['{"', 'city', '":"', 'Paris"}']),
                               ("call_2", "get_weather", ['{"city":', '"Rome"}'])])
    upstream.reply_with(sse_reply(events))

    with client(proxy).chat.completions.stream(model="gpt-4o", messages=[{"role": "user", "content": "w"}],
                                               tools=TOOLS, stream_options={"include_usage": True}) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert [(c.id, json.loads(c.function.arguments)) for c in calls] == [
        ("call_1", {"city": "Paris"}), ("call_2", {"city": "Rome"})]
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage.total_tokens == 60


def test_models_list_passes_through(proxy, upstream):
    upstream.reply_with(json_reply({"object": "list", "data": [
        {"id": "gpt-4o", "object": "model", "created": 1, "owned_by": "openai"}]}))
    models = client(proxy).models.list()
    assert [m.id for m in models.data] == ["gpt-4o"]
    assert upstream.received[-1].method == "GET" and upstream.received[-1].path == "/models"


@pytest.mark.parametrize("status,error_class", [
    (400, openai.BadRequestError), (401, openai.AuthenticationError), (404, openai.NotFoundError),
    (429, openai.RateLimitError), (500, openai.InternalServerError)])
def test_upstream_errors_keep_status_and_body(proxy, upstream, status, error_class):
    body = wire.error_body(f"failure {status}", "some_error_type", code=f"code_{status}")
    upstream.reply_with(json_reply(body, status=status))
    with pytest.raises(error_class) as caught:
        client(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == status
    assert caught.value.code == f"code_{status}"
    assert caught.value.body["message"] == f"failure {status}"


def test_stream_that_breaks_upstream_ends_with_an_error_event(proxy, upstream):
    events = wire.text_stream(["one ", "two ", "three"])
    upstream.reply_with(sse_reply(events, reset_after=3))
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client(proxy).chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True):
            received.append(chunk.choices[0].delta.content)
    assert received == ["", "one ", "two "]
    assert "upstream stream broke off" in str(caught.value.message)


def test_upstream_mid_stream_error_event_reaches_the_sdk(proxy, upstream):
    events = wire.text_stream(["partial"])[:2] + [wire.event(wire.error_body("overloaded", "server_error"))]
    upstream.reply_with(sse_reply(events))
    with pytest.raises(openai.APIError, match="overloaded"):
        list(client(proxy).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True))


def test_unreachable_upstream_is_a_502_in_openai_format(make_proxy):
    proxy = make_proxy(base_urls={"openai": "http://127.0.0.1:9"})
    with pytest.raises(openai.APIStatusError) as caught:
        client(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    assert caught.value.body["type"] == "upstream_error"
    assert caught.value.code == "upstream_unreachable"


def test_slow_upstream_is_a_504(make_proxy, upstream):
    proxy = make_proxy(upstream_read_timeout=0.3)

    def slow(request):
        time.sleep(1.0)  # headers come later than the proxy's read timeout
        return json_reply(wire.completion())

    upstream.reply_with(slow)
    with pytest.raises(openai.APIStatusError) as caught:
        client(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 504
    assert caught.value.code == "upstream_timeout"
