"""Bedrock InvokeModel / InvokeModelWithResponseStream through the proxy, driven by the real boto3 and the
anthropic SDK's AnthropicBedrock, to a fake Bedrock that checks the proxy's SigV4 signature.

The proxy holds the AWS credentials (``bedrock_aws_auth``, botocore's chain reading the environment here);
clients send unsigned requests (boto3 ``signature_version=UNSIGNED``, Claude Code's skip-auth) or their own
Bedrock API key.
"""
from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import quote

import anthropic
import boto3
import botocore
import botocore.config
import botocore.exceptions
import pytest
import requests

from archestra.providers import aws_auth
from tests.fakes import anthropic_wire as wire
from tests.fakes import bedrock_wire, invoke_wire
from tests.fakes.server import Reply, json_reply
from tests.test_hooks import BLOCK_EMAIL, expected_refusal, hook_file

MODEL = "anthropic.claude-sonnet-4-20250514-v1:0"
EVENTSTREAM = {"Content-Type": "application/vnd.amazon.eventstream",
               "X-Amzn-Bedrock-Content-Type": "application/json"}
TOOLS = [{"name": name, "description": name, "input_schema": {"type": "object", "properties": {}}}
         for name in ("get_weather", "send_email")]


def body(**fields) -> bytes:
    return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                       "messages": [{"role": "user", "content": "hi"}], **fields}).encode()


@pytest.fixture(autouse=True)
def proxy_credentials(monkeypatch):
    """The proxy's AWS credentials (botocore's chain reads them from the environment); none for clients."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", invoke_wire.ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", invoke_wire.SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", invoke_wire.SESSION_TOKEN)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_BEARER_TOKEN_BEDROCK", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    aws_auth.reset()
    yield
    aws_auth.reset()


@pytest.fixture
def signing_proxy(make_proxy):
    return make_proxy(bedrock_aws_auth=True, bedrock_aws_region="us-east-1", cloud_auth_open=True)


def bedrock(proxy, profile_id=None, **config):
    return boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=proxy.base("bedrock", profile_id),
                        config=botocore.config.Config(signature_version=botocore.UNSIGNED,
                                                      retries={"max_attempts": 1}, **config))


class ProxySignedBedrock(anthropic.AnthropicBedrock):
    """AnthropicBedrock sending no AWS credentials (what CLAUDE_CODE_SKIP_BEDROCK_AUTH does)."""

    def _prepare_request(self, request):
        pass


def stream_reply(frames, **kwargs) -> Reply:
    return Reply(200, EVENTSTREAM, frames, **kwargs)


def signed(upstream) -> list:
    """Every request the fake Bedrock got, each with its SigV4 signature checked."""
    for received in upstream.received:
        assert invoke_wire.check_sigv4(received) == invoke_wire.ACCESS_KEY
        assert received.headers["X-Amz-Security-Token"] == invoke_wire.SESSION_TOKEN
    return upstream.received


def interactions(proxy) -> list[dict]:
    """Every interaction, newest first, with its request and response."""
    proxy.flush()
    return [proxy.api("GET", f"/interactions/{row['id']}").json()
            for row in proxy.api("GET", "/interactions").json()["data"]]


def test_invoke_model_is_inspected_signed_and_recorded_with_cost(signing_proxy, upstream):
    signing_proxy.api("POST", "/token-prices", json={"model": "claude-sonnet-4-20250514", "input_per_million": 3,
                                                    "output_per_million": 15})
    upstream.reply_with(json_reply(wire.message([wire.text("Hello from Bedrock")])))
    sent = body(system="be brief", anthropic_beta=["context-1m-2025-08-07"])
    answer = bedrock(signing_proxy).invoke_model(modelId=MODEL, body=sent)
    assert json.loads(answer["body"].read())["content"][0]["text"] == "Hello from Bedrock"
    [got] = signed(upstream)
    assert got.path == "/model/anthropic.claude-sonnet-4-20250514-v1%3A0/invoke"
    assert got.body == sent  # byte for byte: nothing was changed
    [row] = interactions(signing_proxy)
    assert (row["provider"], row["model"], row["input_tokens"], row["output_tokens"]) == ("bedrock", MODEL, 377, 65)
    assert Decimal(str(row["cost_usd"])) == (Decimal(377) * 3 + Decimal(65) * 15) / 1_000_000


def test_streamed_text_passes_byte_for_byte_with_the_metrics(signing_proxy, upstream):
    frames = invoke_wire.from_sse(wire.text_stream(["Hel", "lo"]))
    upstream.reply_with(stream_reply(frames))
    response = bedrock(signing_proxy).invoke_model_with_response_stream(modelId=MODEL, body=body())
    events = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
    assert "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta") == "Hello"
    assert events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 65
    assert signed(upstream)[0].path.endswith("/invoke-with-response-stream")

    upstream.reply_with(stream_reply(frames))
    raw = requests.post(signing_proxy.base("bedrock") + f"/model/{MODEL}/invoke-with-response-stream",
                        data=body(), headers={"Content-Type": "application/json"}, timeout=10)
    assert raw.headers["Content-Type"] == "application/vnd.amazon.eventstream" and raw.content == b"".join(frames)
    row = interactions(signing_proxy)[0]
    assert (row["input_tokens"], row["output_tokens"], row["response"]["text"]) == (377, 65, "Hello")


def test_tool_use_round_trip_and_a_blocked_call_streamed_and_not(tmp_path, make_proxy, upstream):
    proxy = make_proxy(bedrock_aws_auth=True, bedrock_aws_region="us-east-1", cloud_auth_open=True,
                       hooks=hook_file(tmp_path, BLOCK_EMAIL))
    client = bedrock(proxy)
    upstream.reply_with(json_reply(wire.message([wire.tool_use("get_weather", {"city": "Paris"})], "tool_use")))
    first = json.loads(client.invoke_model(modelId=MODEL, body=body(tools=TOOLS))["body"].read())
    assert first["content"][0]["input"] == {"city": "Paris"}

    refusal = expected_refusal({"to": "e@x.io"})
    upstream.reply_with(json_reply(wire.message([wire.tool_use("send_email", {"to": "e@x.io"})], "tool_use")))
    refused = json.loads(client.invoke_model(modelId=MODEL, body=body(tools=TOOLS))["body"].read())
    assert refused["content"] == [{"type": "text", "text": refusal}] and refused["stop_reason"] == "end_turn"

    upstream.reply_with(stream_reply(invoke_wire.from_sse(wire.tool_stream("send_email", ['{"to": ', '"e@x.io"}']))))
    response = client.invoke_model_with_response_stream(modelId=MODEL, body=body(tools=TOOLS))
    events = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
    assert not any(e.get("content_block", {}).get("type") == "tool_use" for e in events)
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == "I" + refusal
    assert [e for e in events if e["type"] == "message_delta"][0]["delta"]["stop_reason"] == "end_turn"
    assert events[-1]["type"] == "message_stop" and "amazon-bedrock-invocationMetrics" in events[-1]
    signed(upstream)


def test_anthropic_bedrock_sdk_signed_by_the_proxy(signing_proxy, upstream):
    client = ProxySignedBedrock(aws_region="us-east-1", base_url=signing_proxy.base("bedrock"), max_retries=0)
    upstream.reply_with(json_reply(wire.message([wire.text("Hi")])))
    message = client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert message.content[0].text == "Hi"
    assert "model" not in signed(upstream)[-1].json and upstream.received[-1].json["anthropic_version"]

    upstream.reply_with(stream_reply(invoke_wire.from_sse(wire.tool_stream("get_weather", ['{"city": "Paris"}']))))
    with client.messages.stream(model=MODEL, max_tokens=10, tools=TOOLS,
                                messages=[{"role": "user", "content": "w"}]) as stream:
        final = stream.get_final_message()
    assert final.content[1].input == {"city": "Paris"} and final.usage.output_tokens == 65
    assert "stream" not in signed(upstream)[-1].json


def test_bedrock_api_keys_keep_working_and_client_signatures_are_refused(make_proxy, tls_cert, upstream):
    proxy = make_proxy(tls=tls_cert, bedrock_aws_auth=True, bedrock_aws_region="us-east-1")
    upstream.reply_with(json_reply(wire.message([wire.text("Hi")])))
    keyed = anthropic.AnthropicBedrock(api_key="bedrock-api-key-1", aws_region="us-east-1", max_retries=0,
                                       base_url=proxy.base("bedrock"), http_client=_verifying(tls_cert))
    assert keyed.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}]).id
    assert upstream.received[-1].headers["Authorization"] == "Bearer bedrock-api-key-1"

    own_keys = anthropic.AnthropicBedrock(aws_access_key="AKIDCLIENT", aws_secret_key="s", aws_region="us-east-1",
                                          base_url=proxy.base("bedrock"), max_retries=0,
                                          http_client=_verifying(tls_cert))
    with pytest.raises(anthropic.BadRequestError, match="ARCHESTRA_BEDROCK_AWS_AUTH"):
        own_keys.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert len(upstream.received) == 1


def _verifying(tls_cert):
    import ssl

    import httpx2

    return httpx2.Client(verify=ssl.create_default_context(cafile=tls_cert[0]))


def test_the_proxys_credentials_need_the_profile_token_unless_open(make_proxy, upstream):
    proxy = make_proxy(bedrock_aws_auth=True, bedrock_aws_region="us-east-1")
    upstream.reply_with(json_reply(wire.message([wire.text("Hi")])))
    with pytest.raises(bedrock(proxy).exceptions.AccessDeniedException, match="X-Archestra-Token"):
        bedrock(proxy).invoke_model(modelId=MODEL, body=body())
    assert upstream.received == []

    pid = proxy.api("POST", "/profiles", json={"name": "claude"}).json()["id"]
    token = proxy.api("POST", f"/profiles/{pid}/token").json()["token"]
    client = bedrock(proxy, pid)
    client.meta.events.register("before-sign.*.*", lambda request, **_: request.headers.add_header(
        "X-Archestra-Token", token))
    assert json.loads(client.invoke_model(modelId=MODEL, body=body())["body"].read())["content"][0]["text"] == "Hi"
    assert "X-Archestra-Token" not in signed(upstream)[0].headers


@pytest.mark.parametrize("status,kind", [(400, "ValidationException"), (429, "ThrottlingException"),
                                         (403, "AccessDeniedException")])
def test_upstream_errors_reach_boto3_as_the_right_exception(signing_proxy, upstream, status, kind):
    upstream.reply_with(json_reply({"message": "upstream says no"}, status=status, headers={
        "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}))
    client = bedrock(signing_proxy)
    with pytest.raises(getattr(client.exceptions, kind), match="upstream says no"):
        client.invoke_model(modelId=MODEL, body=body())
    with pytest.raises(getattr(client.exceptions, kind), match="upstream says no"):
        client.invoke_model_with_response_stream(modelId=MODEL, body=body())


def test_mid_stream_exception_reaches_boto3(signing_proxy, upstream):
    frames = invoke_wire.from_sse(wire.text_stream(["a"]))[:2] + [bedrock_wire.exception("throttlingException",
                                                                                         "Too many tokens")]
    upstream.reply_with(stream_reply(frames))
    response = bedrock(signing_proxy).invoke_model_with_response_stream(modelId=MODEL, body=body())
    with pytest.raises(botocore.exceptions.EventStreamError, match="Too many tokens"):
        list(response["body"])


def test_bodies_the_proxy_cannot_inspect_are_refused(signing_proxy, upstream):
    client = bedrock(signing_proxy)
    for refused in ({"inputText": "hi", "textGenerationConfig": {}},  # Titan
                    {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},  # Mistral chat
                    {"anthropic_version": "bedrock-2023-05-31", "model": MODEL, "max_tokens": 5, "messages": []}):
        with pytest.raises(client.exceptions.ValidationException) as caught:
            client.invoke_model(modelId=MODEL, body=json.dumps(refused))
        assert "cannot inspect" in str(caught.value) or "extraneous key [model]" in str(caught.value)
    assert upstream.received == []


def test_arn_model_ids_and_inference_profile_prefix(make_proxy, upstream):
    proxy = make_proxy(bedrock_aws_auth=True, bedrock_aws_region="us-east-1", cloud_auth_open=True,
                       bedrock_inference_profile_prefix="us")
    upstream.reply_with(json_reply(wire.message([wire.text("ok")])))
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"
    for model, sent in [(MODEL, "us." + MODEL), (arn, arn)]:
        bedrock(proxy).invoke_model(modelId=model, body=body())
        assert upstream.received[-1].path == f"/model/{quote(sent, safe='-._~')}/invoke"
    signed(upstream)


def test_nova_text_and_a_blocked_tool_call(tmp_path, make_proxy, upstream):
    proxy = make_proxy(bedrock_aws_auth=True, bedrock_aws_region="us-east-1", cloud_auth_open=True,
                       hooks=hook_file(tmp_path, BLOCK_EMAIL))
    client, nova = bedrock(proxy), "us.amazon.nova-pro-v1:0"
    request = {"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "hi"}]}],
               "inferenceConfig": {"max_new_tokens": 50},
               "toolConfig": {"tools": [{"toolSpec": {"name": "send_email", "inputSchema": {"json": {}}}}]}}
    upstream.reply_with(json_reply(bedrock_wire.converse([{"text": "Hello from Nova"}])))
    answer = json.loads(client.invoke_model(modelId=nova, body=json.dumps(request))["body"].read())
    assert answer["output"]["message"]["content"][0]["text"] == "Hello from Nova"

    upstream.reply_with(json_reply(bedrock_wire.converse([bedrock_wire.tool_use("send_email", {"to": "e@x.io"})],
                                                         "tool_use")))
    answer = json.loads(client.invoke_model(modelId=nova, body=json.dumps(request))["body"].read())
    assert answer["output"]["message"]["content"] == [{"text": expected_refusal({"to": "e@x.io"})}]

    converse = bedrock_wire.tool_stream("send_email", ['{"to": ', '"e@x.io"}'])
    upstream.reply_with(stream_reply([invoke_wire.chunk({m.headers[":event-type"]: json.loads(m.payload)})
                                      for m in _messages(converse)]))
    events = [json.loads(e["chunk"]["bytes"]) for e in
              client.invoke_model_with_response_stream(modelId=nova, body=json.dumps(request))["body"]]
    assert not any("contentBlockStart" in e for e in events)
    text = "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)
    assert text == "Checking." + expected_refusal({"to": "e@x.io"})
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["end_turn"]
    signed(upstream)


def _messages(frames):
    from archestra.streaming.eventstream import EventStreamDecoder

    return EventStreamDecoder().feed(b"".join(frames))


def test_llama_and_mistral_text_with_usage(signing_proxy, upstream):
    client = bedrock(signing_proxy)
    upstream.reply_with(json_reply({"generation": "Hi there", "prompt_token_count": 12,
                                    "generation_token_count": 3, "stop_reason": "stop"}))
    llama = "meta.llama3-1-70b-instruct-v1:0"
    answer = client.invoke_model(modelId=llama, body=json.dumps({"prompt": "hi", "max_gen_len": 20}))
    assert json.loads(answer["body"].read())["generation"] == "Hi there"

    chunks = [{"generation": "Bon", "prompt_token_count": 12, "generation_token_count": 1, "stop_reason": None},
              {"outputs": [{"text": "jour", "stop_reason": "stop"}],
               "amazon-bedrock-invocationMetrics": {**invoke_wire.METRICS, "inputTokenCount": 12,
                                                    "outputTokenCount": 2}}]
    upstream.reply_with(stream_reply([invoke_wire.chunk(c) for c in chunks]))
    events = [json.loads(e["chunk"]["bytes"]) for e in client.invoke_model_with_response_stream(
        modelId="mistral.mistral-7b-instruct-v0:2", body=json.dumps({"prompt": "<s>[INST] hi [/INST]"}))["body"]]
    assert events == chunks
    rows = interactions(signing_proxy)
    assert [(r["input_tokens"], r["output_tokens"]) for r in rows] == [(12, 2), (12, 3)]
    assert rows[0]["response"]["text"] == "Bonjour"
    signed(upstream)


def test_claude_code_request_passes_byte_for_byte(signing_proxy, upstream):
    from tests.fakes import claude_code_wire as claude_code

    frames = invoke_wire.from_sse(claude_code.answer())
    upstream.reply_with(stream_reply(frames))
    sent = claude_code.request("bedrock-2023-05-31", anthropic_beta=claude_code.BETAS.split(","))
    response = requests.post(signing_proxy.base("bedrock") + f"/model/us.{MODEL}/invoke-with-response-stream",
                             data=sent, headers=claude_code.HEADERS, timeout=10)
    assert response.status_code == 200 and response.content == b"".join(frames)
    [got] = signed(upstream)
    assert got.body == sent and got.headers["anthropic-beta"] == claude_code.BETAS
    assert got.headers["x-claude-code-session-id"] == claude_code.SESSION
    [row] = interactions(signing_proxy)
    assert row["session_id"] == claude_code.SESSION and row["response"]["text"] == "Hi there"


def test_text_completions_cannot_carry_tools(signing_proxy, upstream):
    client = bedrock(signing_proxy)
    with pytest.raises(client.exceptions.ValidationException, match="tools cannot be used"):
        client.invoke_model(modelId="mistral.mistral-large-2402-v1:0",
                            body=json.dumps({"prompt": "hi", "tools": [{"name": "send_email"}]}))
    assert upstream.received == []
    upstream.reply_with(json_reply({"outputs": [{"text": "", "tool_calls": [{"function": {"name": "send_email"}}]}]}))
    with pytest.raises(client.exceptions.ServiceUnavailableException, match="does not have the shape"):
        client.invoke_model(modelId="mistral.mistral-large-2402-v1:0", body=json.dumps({"prompt": "hi"}))


def test_temporary_credentials_are_refreshed(tmp_path, monkeypatch, signing_proxy, upstream):
    """A credential_process handing out keys that expire within botocore's refresh window: each request is
    signed with fresh ones (key-1 is loaded, then every signature refreshes)."""
    import sys

    script, counter = tmp_path / "creds.py", tmp_path / "count"
    script.write_text(f"""import datetime, json, pathlib
count = pathlib.Path({str(counter)!r})
n = int(count.read_text()) + 1 if count.exists() else 1
count.write_text(str(n))
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
print(json.dumps({{"Version": 1, "AccessKeyId": f"AKIDTEMP{{n}}", "SecretAccessKey": {invoke_wire.SECRET_KEY!r},
                  "SessionToken": f"session-{{n}}", "Expiration": expires.isoformat()}}))
""")
    (tmp_path / "config").write_text(f"[default]\ncredential_process = {sys.executable} {script}\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    aws_auth.reset()
    upstream.reply_with(json_reply(wire.message([wire.text("ok")])))
    for _ in range(2):
        bedrock(signing_proxy).invoke_model(modelId=MODEL, body=body())
    keys = [invoke_wire.check_sigv4(received) for received in upstream.received]
    assert keys == ["AKIDTEMP2", "AKIDTEMP3"]
    assert [r.headers["X-Amz-Security-Token"] for r in upstream.received] == ["session-2", "session-3"]


def test_a_virtual_key_lets_the_proxy_sign(make_proxy, upstream):
    """AnthropicBedrock with a virtual key of the profile as its API key: the key never goes upstream, the proxy's
    AWS credentials sign (no held Bedrock key), though the profile has no access token and use is not open."""
    proxy = make_proxy(bedrock_aws_auth=True, bedrock_aws_region="us-east-1")
    pid = proxy.api("POST", "/profiles", json={"name": "vk"}).json()["id"]
    key = proxy.api("POST", "/virtual-keys", json={"profile_id": pid, "name": "claude"}).json()["key"]
    upstream.reply_with(json_reply(wire.message([wire.text("Hi")])))
    client = anthropic.AnthropicBedrock(api_key=key, aws_region="us-east-1", base_url=proxy.base("bedrock", pid),
                                        max_retries=0)
    assert client.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}]).id
    [got] = signed(upstream)
    assert key not in json.dumps(dict(got.headers))


def test_converse_is_signed_by_the_proxy_too(signing_proxy, upstream):
    upstream.reply_with(json_reply(bedrock_wire.converse([{"text": "Hello"}])))
    answer = bedrock(signing_proxy).converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert answer["output"]["message"]["content"][0]["text"] == "Hello"
    assert signed(upstream)[0].path.endswith("/converse")
