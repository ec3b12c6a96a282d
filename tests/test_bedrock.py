"""Bedrock Converse / ConverseStream through the proxy over HTTPS, driven by boto3 with a Bedrock API key."""
from __future__ import annotations

import json

import boto3
import botocore.exceptions
import pytest
import requests

from tests.fakes import bedrock_wire as wire
from tests.fakes.server import Reply, json_reply
from tests.test_hooks import BLOCK_EMAIL, expected_refusal, hook_file

MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0"
TOOLS = {"tools": [{"toolSpec": {"name": name, "description": name,
                                 "inputSchema": {"json": {"type": "object", "properties": {}}}}}
                   for name in ("get_weather", "send_email")]}
EVENTSTREAM = {"Content-Type": "application/vnd.amazon.eventstream"}


@pytest.fixture(autouse=True)
def bedrock_api_key(monkeypatch):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-123")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def tls_proxy(make_proxy, tls_cert):
    return make_proxy(tls=tls_cert)


def client(proxy, tls_cert, profile_id=None):
    return boto3.client("bedrock-runtime", region_name="us-east-1", verify=tls_cert[0],
                        endpoint_url=proxy.base("bedrock", profile_id),
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def stream_reply(frames: list[bytes], **kwargs) -> Reply:
    return Reply(200, EVENTSTREAM, frames, **kwargs)


def test_converse_with_system_and_inference_config(tls_proxy, tls_cert, upstream):
    upstream.reply_with(json_reply(wire.converse([{"text": "Hello from Bedrock"}])))
    answer = client(tls_proxy, tls_cert).converse(
        modelId=MODEL, system=[{"text": "be brief"}], inferenceConfig={"maxTokens": 100, "temperature": 0.2},
        messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert answer["output"]["message"]["content"][0]["text"] == "Hello from Bedrock"
    assert answer["usage"]["inputTokens"] == 400 and answer["metrics"]["latencyMs"] == 1200
    got = upstream.received[-1]
    assert got.path == "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse"
    assert got.headers["Authorization"] == "Bearer bedrock-api-key-123"
    assert got.json["system"] == [{"text": "be brief"}] and got.json["inferenceConfig"]["maxTokens"] == 100


def test_tool_use_round_trip(tls_proxy, tls_cert, upstream):
    content = [{"text": "Checking."}, wire.tool_use("get_weather", {"city": "Paris"})]
    upstream.reply_with(json_reply(wire.converse(content, "tool_use")))
    bedrock = client(tls_proxy, tls_cert)
    messages = [{"role": "user", "content": [{"text": "weather?"}]}]
    first = bedrock.converse(modelId=MODEL, messages=messages, toolConfig=TOOLS)
    use = first["output"]["message"]["content"][1]["toolUse"]
    assert first["stopReason"] == "tool_use" and use["input"] == {"city": "Paris"}

    upstream.reply_with(json_reply(wire.converse([{"text": "21 C"}])))
    messages += [first["output"]["message"], {"role": "user", "content": [{"toolResult": {
        "toolUseId": use["toolUseId"], "content": [{"json": {"temp_c": 21}}], "status": "success"}}]}]
    final = bedrock.converse(modelId=MODEL, messages=messages, toolConfig=TOOLS)
    assert final["output"]["message"]["content"][0]["text"] == "21 C"
    assert upstream.received[-1].json["messages"][2]["content"][0]["toolResult"]["content"] == [
        {"json": {"temp_c": 21}}]


def test_converse_stream_relays_frames_unchanged(tls_proxy, tls_cert, upstream):
    frames = wire.tool_stream("get_weather", ['{"city":', ' "Paris"}'])
    upstream.reply_with(stream_reply(frames))
    response = requests.post(tls_proxy.base("bedrock") + f"/model/{MODEL}/converse-stream", verify=tls_cert[0],
                             json={"messages": [{"role": "user", "content": [{"text": "w"}]}]},
                             headers={"Authorization": "Bearer k"}, timeout=10)
    assert response.headers["Content-Type"] == "application/vnd.amazon.eventstream"
    assert response.content == b"".join(frames)

    upstream.reply_with(stream_reply(frames))
    events = list(client(tls_proxy, tls_cert).converse_stream(
        modelId=MODEL, messages=[{"role": "user", "content": [{"text": "w"}]}], toolConfig=TOOLS)["stream"])
    inputs = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events
                     if "toolUse" in e.get("contentBlockDelta", {}).get("delta", {}))
    assert json.loads(inputs) == {"city": "Paris"}
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"
    assert events[-1]["metadata"]["usage"]["totalTokens"] == 460


def test_text_stream(tls_proxy, tls_cert, upstream):
    upstream.reply_with(stream_reply(wire.text_stream(["Hel", "lo"])))
    events = list(client(tls_proxy, tls_cert).converse_stream(
        modelId=MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}])["stream"])
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e) == "Hello"


@pytest.mark.parametrize("status,kind", [(400, "ValidationException"), (429, "ThrottlingException"),
                                         (503, "ServiceUnavailableException")])
def test_upstream_errors_raise_the_right_boto3_exception(tls_proxy, tls_cert, upstream, status, kind):
    upstream.reply_with(json_reply({"message": "upstream says no"}, status=status, headers={
        "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}))
    bedrock = client(tls_proxy, tls_cert)
    with pytest.raises(getattr(bedrock.exceptions, kind)) as caught:
        bedrock.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert caught.value.response["Error"]["Message"] == "upstream says no"


def test_proxy_errors_in_bedrock_format(tls_proxy, tls_cert):
    bedrock = client(tls_proxy, tls_cert, "6f1c1a7e-0000-4000-8000-000000000000")
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException, match="does not exist"):
        bedrock.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "x"}]}])


def test_mid_stream_exception_and_broken_stream(tls_proxy, tls_cert, upstream):
    frames = wire.text_stream(["a"])[:2] + [wire.exception("throttlingException", "Too many tokens")]
    upstream.reply_with(stream_reply(frames))
    bedrock = client(tls_proxy, tls_cert)
    with pytest.raises(botocore.exceptions.EventStreamError, match="Too many tokens"):
        list(bedrock.converse_stream(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "x"}]}])["stream"])

    upstream.reply_with(stream_reply(wire.text_stream(["a", "b", "c"]), reset_after=2))
    with pytest.raises(botocore.exceptions.EventStreamError, match="upstream stream broke off"):
        list(bedrock.converse_stream(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "x"}]}])["stream"])


def test_corrupt_upstream_frame_is_a_clean_stream_error(tls_proxy, tls_cert, upstream):
    bad = bytearray(wire.text_stream(["a"])[1])
    bad[-1] ^= 0xFF
    upstream.reply_with(stream_reply([wire.text_stream(["a"])[0], bytes(bad)]))
    with pytest.raises(botocore.exceptions.EventStreamError, match="EventStreamError"):
        list(client(tls_proxy, tls_cert).converse_stream(
            modelId=MODEL, messages=[{"role": "user", "content": [{"text": "x"}]}])["stream"])


def test_inference_profile_prefix(make_proxy, tls_cert, upstream):
    proxy = make_proxy(tls=tls_cert, bedrock_inference_profile_prefix="us")
    upstream.reply_with(json_reply(wire.converse([{"text": "ok"}])))
    bedrock = client(proxy, tls_cert)
    for model, sent in [(MODEL, "us." + MODEL), ("eu.amazon.nova-pro-v1:0", "eu.amazon.nova-pro-v1:0"),
                        ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0",
                         "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0")]:
        bedrock.converse(modelId=model, messages=[{"role": "user", "content": [{"text": "x"}]}])
        from urllib.parse import quote
        assert upstream.received[-1].path == f"/model/{quote(sent, safe='-._~')}/converse"


def test_sigv4_requests_are_refused_clearly(tls_proxy, tls_cert, upstream):
    response = requests.post(tls_proxy.base("bedrock") + f"/model/{MODEL}/converse", verify=tls_cert[0],
                             json={"messages": []}, timeout=10,
                             headers={"Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=abc"})
    assert response.status_code == 400 and "Bedrock API key" in response.json()["message"]
    assert response.headers["x-amzn-ErrorType"].startswith("ValidationException")
    assert upstream.received == []


def test_bedrock_disabled_without_base_url(make_proxy, tls_cert):
    proxy = make_proxy(tls=tls_cert, base_urls={"bedrock": None})
    bedrock = client(proxy, tls_cert)
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException, match="ARCHESTRA_BEDROCK_BASE_URL"):
        bedrock.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "x"}]}])


def test_blocked_tool_use_streamed_and_not(tmp_path, make_proxy, tls_cert, upstream):
    proxy = make_proxy(tls=tls_cert, hooks=hook_file(tmp_path, BLOCK_EMAIL))
    bedrock = client(proxy, tls_cert)
    refusal = expected_refusal({"to": "e@x.io"})
    upstream.reply_with(json_reply(wire.converse([wire.tool_use("send_email", {"to": "e@x.io"})], "tool_use")))
    answer = bedrock.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "x"}]}], toolConfig=TOOLS)
    assert answer["stopReason"] == "end_turn"
    assert answer["output"]["message"]["content"] == [{"text": refusal}]

    upstream.reply_with(stream_reply(wire.tool_stream("send_email", ['{"to": ', '"e@x.io"}'])))
    events = list(bedrock.converse_stream(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "x"}]}],
                                          toolConfig=TOOLS)["stream"])
    assert not any("contentBlockStart" in e for e in events)
    text = "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)
    assert text == "Checking." + refusal
    assert [e for e in events if "messageStop" in e][0]["messageStop"]["stopReason"] == "end_turn"
    assert events[-1]["metadata"]["usage"]["totalTokens"] == 460
