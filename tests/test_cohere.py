"""Cohere v2 through the proxy, driven by the real cohere SDK (ClientV2)."""
from __future__ import annotations

import json

import cohere
import pytest

from tests.fakes import cohere_wire as wire
from tests.fakes.server import json_reply, sse_reply
from tests.test_hooks import BLOCK_EMAIL, expected_refusal, hook_file

TOOLS = [{"type": "function", "function": {"name": name, "description": name,
                                           "parameters": {"type": "object", "properties": {}}}}
         for name in ("get_weather", "send_email")]


def client(proxy, profile_id=None) -> cohere.ClientV2:
    return cohere.ClientV2(api_key="co-key", base_url=proxy.base("cohere", profile_id))


def test_chat_and_tool_round_trip(proxy, upstream):
    upstream.reply_with(json_reply(wire.response(calls=[wire.tool_call("get_weather", {"city": "Paris"})])))
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = client(proxy).chat(model="command-a-03-2025", messages=messages, tools=TOOLS)
    call = first.message.tool_calls[0]
    assert first.finish_reason == "TOOL_CALL" and json.loads(call.function.arguments) == {"city": "Paris"}
    got = upstream.received[-1]
    assert got.path == "/v2/chat" and got.headers["Authorization"] == "Bearer co-key"

    upstream.reply_with(json_reply(wire.response("21 C in Paris.")))
    messages += [{"role": "assistant", "tool_plan": first.message.tool_plan,
                  "tool_calls": [call.dict(exclude_none=True)]},
                 {"role": "tool", "tool_call_id": call.id,
                  "content": [{"type": "document", "document": {"data": '{"temp_c": 21}'}}]}]
    final = client(proxy).chat(model="command-a-03-2025", messages=messages, tools=TOOLS)
    assert final.message.content[0].text == "21 C in Paris."
    assert final.usage.tokens.input_tokens == 913


def test_stream_relayed_byte_for_byte_and_parsed(proxy, upstream):
    events = wire.tool_stream("get_weather", ['{\n    "', "city", '": "', "Paris", '"\n}'])
    upstream.reply_with(sse_reply(events))
    seen = list(client(proxy).chat_stream(model="command-a-03-2025", tools=TOOLS,
                                          messages=[{"role": "user", "content": "w"}]))
    assert [e.type for e in seen] == ["message-start", "tool-plan-delta", "tool-call-start"] + \
        ["tool-call-delta"] * 5 + ["tool-call-end", "message-end"]
    assert seen[-1].delta.usage.tokens.output_tokens == 83
    assert upstream.received[-1].json["stream"] is True


def test_text_stream(proxy, upstream):
    upstream.reply_with(sse_reply(wire.text_stream(["It", " is", " sunny"])))
    seen = list(client(proxy).chat_stream(model="command-a-03-2025", messages=[{"role": "user", "content": "w"}]))
    assert "".join(e.delta.message.content.text for e in seen if e.type == "content-delta") == "It is sunny"


@pytest.mark.parametrize("status,error_class", [(400, cohere.BadRequestError), (429, cohere.TooManyRequestsError),
                                                (500, cohere.InternalServerError)])
def test_upstream_errors(proxy, upstream, status, error_class):
    upstream.reply_with(json_reply({"id": "e1", "message": f"failed {status}"}, status=status))
    with pytest.raises(error_class) as caught:
        client(proxy).chat(model="m", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["message"] == f"failed {status}"


def test_unknown_profile_in_cohere_format(proxy):
    with pytest.raises(cohere.NotFoundError) as caught:
        client(proxy, "6f1c1a7e-0000-4000-8000-000000000000").chat(
            model="m", messages=[{"role": "user", "content": "x"}])
    assert "does not exist" in caught.value.body["message"]


def test_blocked_tool_call_streamed_and_not(tmp_path, make_proxy, upstream):
    proxy = make_proxy(hooks=hook_file(tmp_path, BLOCK_EMAIL))
    upstream.reply_with(json_reply(wire.response(calls=[wire.tool_call("send_email", {"to": "e@x.io"})])))
    answer = client(proxy).chat(model="m", tools=TOOLS, messages=[{"role": "user", "content": "x"}])
    assert answer.finish_reason == "COMPLETE" and not answer.message.tool_calls
    assert answer.message.content[0].text == expected_refusal({"to": "e@x.io"})

    upstream.reply_with(sse_reply(wire.tool_stream("send_email", ['{"to": ', '"e@x.io"}'])))
    seen = list(client(proxy).chat_stream(model="m", tools=TOOLS, messages=[{"role": "user", "content": "x"}]))
    assert not any(e.type.startswith("tool-call") for e in seen)
    assert "".join(e.delta.message.content.text for e in seen if e.type == "content-delta") == \
        expected_refusal({"to": "e@x.io"})
    assert seen[-1].type == "message-end" and seen[-1].delta.finish_reason == "COMPLETE"


def test_broken_stream_ends_with_an_error_message_end(proxy, upstream):
    upstream.reply_with(sse_reply(wire.text_stream(["It", " is", " sunny"]), reset_after=3))
    seen = list(client(proxy).chat_stream(model="m", messages=[{"role": "user", "content": "w"}]))
    assert [e.type for e in seen] == ["message-start", "content-start", "content-delta", "message-end"]
    assert seen[-1].delta.finish_reason == "ERROR"
    assert "upstream stream broke off" in seen[-1].delta.error
