"""Mistral through the proxy: the mistralai SDK (which adds /v1) and the openai SDK."""
from __future__ import annotations

import json

import openai
import pytest
from mistralai.client import Mistral
from mistralai.client import errors as mistral_errors

from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply, sse_reply

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "w",
                                           "parameters": {"type": "object", "properties": {}}}}]


def mistral(proxy, profile_id=None) -> Mistral:
    return Mistral(api_key="mistral-key", server_url=proxy.base("mistral", profile_id))


def test_mistral_sdk_complete(proxy, upstream):
    body = wire.completion("Salut")
    body["model"] = "mistral-large-latest"
    upstream.reply_with(json_reply(body))
    answer = mistral(proxy).chat.complete(model="mistral-large-latest",
                                          messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "Salut"
    got = upstream.received[-1]
    assert got.path == "/chat/completions"  # the SDK's /v1 is the base URL's /v1
    assert got.headers["Authorization"] == "Bearer mistral-key"


def test_mistral_sdk_stream_with_whole_tool_call(proxy, upstream):
    upstream.reply_with(sse_reply(wire.mistral_tool_stream("get_weather", {"city": "Paris"})))
    events = list(mistral(proxy).chat.stream(model="mistral-large-latest", tools=TOOLS,
                                             messages=[{"role": "user", "content": "weather?"}]))
    calls = [call for e in events for call in (e.data.choices[0].delta.tool_calls or [])]
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("D681PevKs", "get_weather", {"city": "Paris"})]
    assert events[-1].data.choices[0].finish_reason == "tool_calls"
    assert events[-1].data.usage.total_tokens == 30


def test_mistral_sdk_text_stream(proxy, upstream):
    upstream.reply_with(sse_reply(wire.mistral_text_stream(["Bon", "jour"])))
    events = list(mistral(proxy).chat.stream(model="mistral-large-latest",
                                             messages=[{"role": "user", "content": "hi"}]))
    assert "".join(e.data.choices[0].delta.content or "" for e in events) == "Bonjour"


def test_stream_options_are_not_sent_to_mistral(proxy, upstream):
    upstream.reply_with(sse_reply(wire.mistral_text_stream(["ok"])))
    client = openai.OpenAI(api_key="k", base_url=proxy.base("mistral"), max_retries=0)
    chunks = list(client.chat.completions.create(model="mistral-small", stream=True,
                                                 messages=[{"role": "user", "content": "hi"}],
                                                 stream_options={"include_usage": True}))
    assert "stream_options" not in upstream.received[-1].json
    assert chunks[-1].usage.total_tokens == 15


def test_mistral_errors_reach_the_sdk(proxy, upstream):
    upstream.reply_with(json_reply({"object": "error", "message": "Unauthorized", "type": "invalid_request_error",
                                    "param": None, "code": None}, status=401))
    with pytest.raises(mistral_errors.SDKError) as caught:
        mistral(proxy).chat.complete(model="mistral-small", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 401


def test_unknown_mistral_profile_is_a_404_in_mistral_format(proxy):
    client = openai.OpenAI(api_key="k", base_url=proxy.base("mistral", "00000000-0000-4000-8000-000000000000"),
                           max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["object"] == "error"
    assert caught.value.body["code"] == "profile_not_found"
