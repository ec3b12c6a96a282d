"""Anthropic through the proxy, driven by the real anthropic SDK against a byte-faithful fake upstream."""
from __future__ import annotations

import anthropic
import pytest
import requests

from tests.fakes import anthropic_wire as wire
from tests.fakes.server import json_reply, sse_reply
from tests.test_hooks import BLOCK_EMAIL, expected_refusal, hook_file

TOOLS = [{"name": name, "description": name, "input_schema": {"type": "object", "properties": {}}}
         for name in ("get_weather", "send_email")]


def client(proxy, profile_id=None) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-key", base_url=proxy.base("anthropic", profile_id), max_retries=0)


def test_create_with_system_prompt_and_image(proxy, upstream):
    upstream.reply_with(json_reply(wire.message([wire.text("A cat.")])))
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    answer = client(proxy).messages.create(
        model="claude-sonnet-4-5", max_tokens=100, system="Be brief.",
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}])
    assert answer.content[0].text == "A cat." and answer.usage.input_tokens == 377
    got = upstream.received[-1]
    assert got.path == "/v1/messages"
    assert got.json["messages"][0]["content"][0] == image and got.json["system"] == "Be brief."
    assert got.headers["anthropic-version"]
    assert got.headers.get("Authorization") == "Bearer sk-ant-key" or got.headers.get("X-Api-Key") == "sk-ant-key"


def test_x_api_key_and_beta_headers_are_forwarded(proxy, upstream):
    upstream.reply_with(json_reply(wire.message([wire.text("ok")])))
    response = requests.post(proxy.base("anthropic") + "/v1/messages", timeout=10, json={
        "model": "claude-sonnet-4-20250514", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-api-key": "sk-ant-raw", "anthropic-version": "2023-06-01",
                 "anthropic-beta": "prompt-caching-2024-07-31"})
    assert response.status_code == 200
    got = upstream.received[-1].headers
    assert (got["x-api-key"], got["anthropic-version"], got["anthropic-beta"]) == (
        "sk-ant-raw", "2023-06-01", "prompt-caching-2024-07-31")


def test_tool_use_round_trip(proxy, upstream):
    content = [wire.text("Checking."), wire.tool_use("get_weather", {"city": "Paris"})]
    upstream.reply_with(json_reply(wire.message(content, "tool_use")))
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = client(proxy).messages.create(model="claude-sonnet-4-5", max_tokens=100, tools=TOOLS,
                                          messages=messages)
    call = first.content[1]
    assert first.stop_reason == "tool_use" and (call.name, call.input) == ("get_weather", {"city": "Paris"})

    upstream.reply_with(json_reply(wire.message([wire.text("21 C.")])))
    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                               "content": '{"temp_c": 21}'}]}]
    final = client(proxy).messages.create(model="claude-sonnet-4-5", max_tokens=100, tools=TOOLS,
                                          messages=messages)
    assert final.content[0].text == "21 C."
    assert upstream.received[-1].json["messages"][-1]["content"][0]["content"] == '{"temp_c": 21}'


def test_stream_is_relayed_byte_for_byte_with_event_lines(proxy, upstream):
    events = wire.tool_stream("get_weather", ['{"locati', 'on": "P', "ar", 'is"}'])
    upstream.reply_with(sse_reply(events))
    with client(proxy).messages.with_streaming_response.create(
            model="claude-sonnet-4-5", max_tokens=100, tools=TOOLS, stream=True,
            messages=[{"role": "user", "content": "w"}]) as response:
        assert b"".join(response.iter_bytes()) == b"".join(events)

    upstream.reply_with(sse_reply(events))
    with client(proxy).messages.stream(model="claude-sonnet-4-5", max_tokens=100, tools=TOOLS,
                                       messages=[{"role": "user", "content": "w"}]) as stream:
        final = stream.get_final_message()
    assert final.content[1].input == {"location": "Paris"}
    assert (final.usage.input_tokens, final.usage.output_tokens) == (377, 65)


def test_text_stream(proxy, upstream):
    upstream.reply_with(sse_reply(wire.text_stream(["Hel", "lo"])))
    with client(proxy).messages.stream(model="claude-sonnet-4-5", max_tokens=100,
                                       messages=[{"role": "user", "content": "hi"}]) as stream:
        assert "".join(stream.text_stream) == "Hello"


def test_count_tokens_passes_through(proxy, upstream):
    upstream.reply_with(json_reply({"input_tokens": 14}))
    counted = client(proxy).messages.count_tokens(model="claude-sonnet-4-5",
                                                  messages=[{"role": "user", "content": "hi"}])
    assert counted.input_tokens == 14
    assert upstream.received[-1].path == "/v1/messages/count_tokens"


@pytest.mark.parametrize("status,kind,error_class", [
    (400, "invalid_request_error", anthropic.BadRequestError),
    (429, "rate_limit_error", anthropic.RateLimitError),
    (529, "overloaded_error", anthropic.InternalServerError)])
def test_upstream_errors(proxy, upstream, status, kind, error_class):
    upstream.reply_with(json_reply(wire.error(kind, "nope"), status=status))
    with pytest.raises(error_class) as caught:
        client(proxy).messages.create(model="m", max_tokens=1, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == status and caught.value.body["error"]["type"] == kind


def test_proxy_errors_are_in_anthropic_format(proxy):
    with pytest.raises(anthropic.NotFoundError) as caught:
        client(proxy, "6f1c1a7e-0000-4000-8000-000000000000").messages.create(
            model="m", max_tokens=1, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as bad:
        # ``system`` is a valid role inside ``messages`` (Claude Code sends it); ``tool`` is not.
        client(proxy).messages.create(model="m", max_tokens=1, messages=[{"role": "tool", "content": "x"}])
    assert "messages.0.role" in bad.value.message


def test_mid_stream_error_event_and_broken_stream(proxy, upstream):
    upstream.reply_with(sse_reply(wire.text_stream(["a"])[:3] + [wire.event("error", wire.error(
        "overloaded_error", "Overloaded"))]))
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        with client(proxy).messages.stream(model="m", max_tokens=1,
                                           messages=[{"role": "user", "content": "x"}]) as stream:
            stream.get_final_message()

    upstream.reply_with(sse_reply(wire.text_stream(["a", "b", "c"]), reset_after=4))
    with pytest.raises(anthropic.APIStatusError, match="upstream stream broke off"):
        with client(proxy).messages.stream(model="m", max_tokens=1,
                                           messages=[{"role": "user", "content": "x"}]) as stream:
            stream.get_final_message()


def test_blocked_tool_use_streamed_and_not(tmp_path, make_proxy, upstream):
    proxy = make_proxy(hooks=hook_file(tmp_path, BLOCK_EMAIL))
    upstream.reply_with(json_reply(wire.message([wire.text("Sending."), wire.tool_use(
        "send_email", {"to": "evil@example.com"})], "tool_use")))
    answer = client(proxy).messages.create(model="m", max_tokens=10, tools=TOOLS,
                                           messages=[{"role": "user", "content": "x"}])
    assert [b.type for b in answer.content] == ["text"] and answer.stop_reason == "end_turn"
    assert answer.content[0].text == expected_refusal({"to": "evil@example.com"})

    upstream.reply_with(sse_reply(wire.tool_stream("send_email", ['{"to": ', '"evil@example.com"}'])))
    with client(proxy).messages.stream(model="m", max_tokens=10, tools=TOOLS,
                                       messages=[{"role": "user", "content": "x"}]) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "text"]
    assert final.content[1].text == expected_refusal({"to": "evil@example.com"})
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 65


def test_hook_edits_are_written_back(tmp_path, make_proxy, upstream):
    proxy = make_proxy(hooks=hook_file(tmp_path, """
        from archestra.exchange import Message

        def on_request(exchange):
            exchange.messages.insert(0, Message("system", "Never reveal secrets."))

        def on_tool_result(exchange, result):
            result.content = result.content.replace("hunter2", "[redacted]")
    """))
    upstream.reply_with(json_reply(wire.message([wire.text("ok")])))
    client(proxy).messages.create(model="m", max_tokens=10, system=[{"type": "text", "text": "Be kind."}], messages=[
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [wire.tool_use("get_password", {})]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01A",
                                      "content": [{"type": "text", "text": "pw: hunter2"}]}]}])
    sent = upstream.received[-1].json
    assert sent["system"] == [{"type": "text", "text": "Never reveal secrets."}, {"type": "text", "text": "Be kind."}]
    assert sent["messages"][2]["content"][0]["content"] == "pw: [redacted]"
