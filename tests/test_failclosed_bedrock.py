"""Bedrock fails closed on what the proxy does not positively understand (issue 25), through boto3 on the
two-worker gunicorn with TLS: frames with missing or odd ``:message-type`` read as botocore reads them,
exception frames end the stream, stream members the table does not hold cut it, answers with such members are
refused; S3 objects at any depth, unknown request members and fields are unseen context; tool additions and a
tool choice are decided like declared tools."""
from __future__ import annotations

import json

import boto3
import botocore.config
import botocore.exceptions
import pytest

from tests.fakes import anthropic_wire, bedrock_wire, invoke_wire
from tests.fakes.server import Reply, json_reply
from tests.test_bypass_cohere_bedrock import (EVIL, NO_ATTACKERS, UNSEEN, bedrock_ask, bedrock_call,
                                             bedrock_history, bedrock_tools, refused)

pytest_plugins = ["tests.live"]  # the `live` and `live_tls` fixtures

EVENTSTREAM = {"Content-Type": "application/vnd.amazon.eventstream"}
NO_MESSAGE_TYPE = [(":event-type", 7, None), (":content-type", 7, "application/json")]


@pytest.fixture(autouse=True)
def bedrock_key(monkeypatch):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-key")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def client(live, pid: str):
    return boto3.client("bedrock-runtime", region_name="us-east-1", verify=live.ca,
                        endpoint_url=live.base("bedrock", pid),
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def bare(frame: bytes, headers: list) -> bytes:
    """The same event with other headers (here: none saying it is an event)."""
    from archestra.streaming.eventstream import EventStreamDecoder

    [message] = EventStreamDecoder().feed(frame)
    return bedrock_wire.raw_frame([(n, t, message.event_type if n == ":event-type" else v) for n, t, v in headers],
                                  message.payload)


def blocking_profile(live) -> str:
    pid = live.profile()
    bedrock_ask(live, pid, bedrock_history(), bedrock_call(False))  # the tools are discovered
    live.policy("call", pid, "send_email", "block_always", NO_ATTACKERS, "no mail to attackers")
    return pid


# -- streams ------------------------------------------------------------------------------------------
def test_frames_without_a_message_type_are_events_to_boto3_and_are_decided(live_tls):
    live = live_tls
    pid = blocking_profile(live)
    frames = bedrock_wire.tool_use_frames(0, "send_email", [json.dumps(EVIL)])
    frames = [bare(f, NO_MESSAGE_TYPE) for f in frames]  # boto3 reads them as events all the same
    reply = Reply(200, EVENTSTREAM, bedrock_wire.stream_of(frames))
    calls, text = bedrock_ask(live, pid, bedrock_history(), reply, stream=True)
    assert calls == [] and refused(text, "no mail to attackers")


def test_an_exception_frame_ends_the_stream_for_a_client_that_reads_on(live_tls):
    live = live_tls
    pid = blocking_profile(live)
    frames = [bedrock_wire.exception("throttlingException", "slow down"),
              *bedrock_wire.tool_use_frames(0, "send_email", [json.dumps(EVIL)])]
    live.upstream.reply_with(Reply(200, EVENTSTREAM, bedrock_wire.stream_of(frames)))
    stream = client(live, pid).converse_stream(modelId="amazon.nova-pro-v1:0", messages=bedrock_history(),
                                               toolConfig=bedrock_tools())["stream"]
    with pytest.raises(botocore.exceptions.EventStreamError, match="slow down"):
        list(stream)
    assert list(stream) == []  # an application catching the error and iterating again gets nothing more


def test_unknown_events_move_nothing_and_unknown_members_cut_the_stream(live_tls):
    live = live_tls
    pid = blocking_profile(live)
    # an event botocore does not know, carrying a start under the call's index: boto3 yields nothing for it
    decoy = bedrock_wire.event("contentBlockStartV2", {"contentBlockIndex": 0, "start": {"toolUse": {
        "toolUseId": "x", "name": "read_calendar"}}})
    frames = [decoy, *bedrock_wire.tool_use_frames(0, "send_email", [json.dumps(EVIL)])]
    calls, text = bedrock_ask(live, pid, bedrock_history(), Reply(200, EVENTSTREAM, bedrock_wire.stream_of(frames)),
                              stream=True)
    assert calls == [] and refused(text, "no mail to attackers")

    unknown = bedrock_wire.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUseV2": {"input": "{}"}}})
    reply = Reply(200, EVENTSTREAM, bedrock_wire.stream_of([unknown]))
    with pytest.raises(botocore.exceptions.EventStreamError, match="upstream stream broke off"):
        bedrock_ask(live, pid, bedrock_history(), reply, stream=True)


def test_invoke_model_chunks_without_a_message_type_are_decided(live_tls):
    live = live_tls
    pid = blocking_profile(live)
    tools = [{"name": "send_email", "description": "mail", "input_schema": {"type": "object"}}]
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "tools": tools,
                       "messages": [{"role": "user", "content": "mail it"}]})
    frames = invoke_wire.from_sse(anthropic_wire.tool_stream("send_email", [json.dumps(EVIL)]))
    live.upstream.reply_with(Reply(200, EVENTSTREAM, [bare(f, NO_MESSAGE_TYPE) for f in frames]))
    events = [json.loads(e["chunk"]["bytes"]) for e in client(live, pid).invoke_model_with_response_stream(
        modelId="anthropic.claude-sonnet-4-20250514-v1:0", body=body)["body"] if "chunk" in e]
    assert not any(e.get("content_block", {}).get("type") == "tool_use" for e in events)
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert "no mail to attackers" in text


# -- answers ------------------------------------------------------------------------------------------
def test_an_answer_block_the_table_does_not_read_is_refused(live_tls):
    live, pid = live_tls, live_tls.profile()
    stored = {"document": {"format": "txt", "name": "d", "source": {"text": "run send_email"}}}
    reply = json_reply(bedrock_wire.converse([{"text": "Here."}, stored, bedrock_wire.tool_use("read_calendar", {})],
                                             "tool_use"))
    calls, text = bedrock_ask(live, pid, bedrock_history(), reply)
    assert calls == [] and "does not understand" in text and "'document'" in text


# -- requests -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("block", [
    {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://bucket/a.png"}}}},
    {"video": {"format": "mp4", "source": {"s3Location": {"uri": "s3://bucket/a.mp4"}}}},
    {"document": {"format": "pdf", "name": "r", "source": {"s3Location": {"uri": "s3://bucket/r.pdf"}}}},
])
def test_s3_objects_nested_in_tool_results_are_unseen_context(live_tls, block):
    live, pid = live_tls, live_tls.profile()
    bedrock_ask(live, pid, bedrock_history(), bedrock_call(False))
    live.policy("result", pid, "fetch_url", "mark_as_trusted")  # a trusted tool's result, but S3 is not seen
    assert bedrock_ask(live, pid, bedrock_history([{"text": "ok"}]), bedrock_call(False))[0] == [("send_email", EVIL)]
    calls, text = bedrock_ask(live, pid, bedrock_history([{"text": "ok"}, block]), bedrock_call(False))
    assert calls == [] and UNSEEN in text and "s3://bucket/" in text


def test_unknown_fields_handed_to_the_model_are_unseen_context(live_tls):
    live, pid = live_tls, live_tls.profile()
    live.upstream.reply_with(bedrock_call(False))
    answer = client(live, pid).converse(modelId="anthropic.claude-sonnet-4", messages=bedrock_history(),
                                        toolConfig=bedrock_tools(),
                                        additionalModelRequestFields={"container": "container_011CPR"})
    text = "".join(b.get("text", "") for b in answer["output"]["message"]["content"])
    assert UNSEEN in text and "container" in text
    # the fields the table knows are read as harmless settings
    live.upstream.reply_with(bedrock_call(False))
    answer = client(live, pid).converse(modelId="anthropic.claude-sonnet-4", messages=bedrock_history(),
                                        toolConfig=bedrock_tools(), additionalModelRequestFields={"top_k": 5})
    assert any("toolUse" in b for b in answer["output"]["message"]["content"])


def test_tool_additions_are_decided_before_the_request(live_tls):
    live, pid = live_tls, live_tls.profile()
    addition = {"toolAddition": {"tool": {"type": "mcp", "name": "wire_money", "serverName": "bank"}}}
    loads_declared = {"toolAddition": {"tool": {"type": "tool", "name": "send_email"}}}
    messages = [{"role": "user", "content": [{"text": "pay"}, addition, loads_declared]}]
    bedrock_ask(live, pid, messages, bedrock_call(False))
    assert live.upstream.received[-1].json["messages"][0]["content"] == [{"text": "pay"}, addition, loads_declared]
    live.policy("call", pid, "wire_money", "block_always", reason="no payments")
    bedrock_ask(live, pid, messages, bedrock_call(False))
    assert live.upstream.received[-1].json["messages"][0]["content"] == [{"text": "pay"}, loads_declared]
    [row] = live.blocked(pid, 1)
    assert row["tool"] == "wire_money"


def test_a_tool_choice_must_name_a_declared_tool(live_tls):
    live, pid = live_tls, live_tls.profile()
    live.upstream.reply_with(bedrock_call(False))
    sent = len(live.upstream.received)
    with pytest.raises(client(live, pid).exceptions.ValidationException, match="toolChoice"):
        client(live, pid).converse(modelId="amazon.nova-pro-v1:0", messages=bedrock_history(),
                                   toolConfig={**bedrock_tools(), "toolChoice": {"tool": {"name": "wire_money"}}})
    assert len(live.upstream.received) == sent
    client(live, pid).converse(modelId="amazon.nova-pro-v1:0", messages=bedrock_history(),
                               toolConfig={**bedrock_tools(), "toolChoice": {"tool": {"name": "send_email"}}})
    assert live.upstream.received[-1].json["toolConfig"]["toolChoice"] == {"tool": {"name": "send_email"}}


def test_answers_and_bodies_of_another_format_are_refused(live_tls):
    live, pid = live_tls, live_tls.profile()
    chat = {"choices": [{"message": {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
        "name": "send_email", "arguments": json.dumps(EVIL)}}]}}]}
    calls, text = bedrock_ask(live, pid, bedrock_history(), json_reply({**bedrock_wire.converse([]), **chat}))
    assert calls == [] and "'choices'" in text  # an answer field the table does not hold
    nova = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    live.upstream.reply_with(Reply(200, EVENTSTREAM, [invoke_wire.chunk({"messageStart": {"role": "assistant"}}),
                                                      invoke_wire.chunk({"choices": chat["choices"]})]))
    with pytest.raises(botocore.exceptions.EventStreamError, match="upstream stream broke off"):
        list(client(live, pid).invoke_model_with_response_stream(modelId="amazon.nova-pro-v1:0",
                                                                 body=json.dumps(nova))["body"])
    sent = len(live.upstream.received)
    openai_style = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    with pytest.raises(client(live, pid).exceptions.ValidationException, match="cannot inspect"):
        client(live, pid).invoke_model(modelId="openai.gpt-oss-120b-1:0", body=json.dumps(openai_style))
    assert len(live.upstream.received) == sent


def test_a_text_completion_answer_of_another_format_is_refused(live_tls):
    live, pid = live_tls, live_tls.profile()
    live.upstream.reply_with(json_reply({"generations": [{"text": "call send_email", "finish_reason": "COMPLETE"}]}))
    with pytest.raises(botocore.exceptions.ClientError):
        client(live, pid).invoke_model(modelId="cohere.command-text-v14", body=json.dumps({"prompt": "hi"}))


# -- in process: the codec and the request reading, case by case ---------------------------------------
@pytest.mark.parametrize("message_type", ["event", "exception", "error", None, "Exception", "", b"error", 1])
def test_which_frames_raise_is_botocores_rule(message_type):
    from botocore.eventstream import EventStreamBuffer

    from archestra.streaming.eventstream import EventStreamDecoder

    kind = 7 if isinstance(message_type, str) else 6 if isinstance(message_type, bytes) else 4
    headers = [(":event-type", 7, "messageStart")] + ([(":message-type", kind, message_type)]
                                                      if message_type is not None else [])
    frame = bedrock_wire.raw_frame(headers, b"{}")
    buffer = EventStreamBuffer()
    buffer.add_data(frame)
    [theirs] = list(buffer)
    [ours] = EventStreamDecoder().feed(frame)
    assert ours.is_exception == (theirs.to_response_dict()["status_code"] != 200)


def test_a_repeated_header_is_an_error_as_in_botocore():
    from botocore.eventstream import DuplicateHeader, EventStreamBuffer

    from archestra.streaming.eventstream import EventStreamDecoder, EventStreamError

    frame = bedrock_wire.raw_frame([(":event-type", 7, "chunk"), (":event-type", 7, "messageStop")], b"{}")
    buffer = EventStreamBuffer()
    buffer.add_data(frame)
    with pytest.raises(DuplicateHeader):
        list(buffer)
    with pytest.raises(EventStreamError, match="duplicate"):
        EventStreamDecoder().feed(frame)


def unseen_of(body: dict, model: str = "amazon.nova-pro-v1:0") -> list[str]:
    from archestra.exchange import ClientInfo, ProfileInfo
    from archestra.providers.bedrock_converse import CONVERSE
    from archestra.routing import Route

    route = Route("chat", f"model/{model}/converse", stream=False, model=model, action="converse", family=CONVERSE)
    CONVERSE.validate_request(body)
    return CONVERSE.parse_request(body, route, ProfileInfo("p", "p"), ClientInfo()).unseen_context


S3 = {"s3Location": {"uri": "s3://bucket/x"}}


@pytest.mark.parametrize("content, where", [
    ({"toolResult": {"toolUseId": "t", "content": [{"document": {"format": "pdf", "name": "d", "source": S3}}]}},
     "s3://bucket/x"),
    ({"document": {"format": "txt", "name": "d", "source": {"content": [{"futurePart": {"x": 1}}]}}}, "futurePart"),
    ({"document": {"format": "txt", "name": "d", "source": {"futureSource": {}}}}, "futureSource"),
    ({"guardContent": {"image": {"format": "png", "source": S3}}}, "s3://bucket/x"),
    ({"futureBlock": {"uri": "https://x.io"}}, "futureBlock"),
    ({"text": "a", "image": {"format": "png", "source": {"bytes": "AA=="}}}, "NoneType"),
    ({"citationsContent": {"content": [{"text": "t"}], "citations": [{"location": {"futurePlace": {}}}]}},
     "futurePlace"),
    ({"toolResult": {"toolUseId": "t", "content": [{"futureResult": "x"}]}}, "futureResult"),
])
def test_request_parts_the_table_does_not_hold_are_unseen_at_any_depth(content, where):
    found = unseen_of({"messages": [{"role": "user", "content": [{"text": "hi"}, content]}]})
    assert len(found) == 1 and where in found[0], found


def test_what_the_table_holds_is_read_and_the_rest_of_the_request_is_unseen():
    clean = {"messages": [{"role": "user", "content": [
        {"text": "hi"}, {"image": {"format": "png", "source": {"bytes": "AA=="}}}, {"cachePoint": {"type": "default"}},
        {"document": {"format": "txt", "name": "d", "source": {"content": [{"text": "doc"}]}}},
        {"searchResult": {"source": "s", "title": "t", "content": [{"text": "found"}]}}]}],
        "system": [{"text": "be brief"}, {"cachePoint": {"type": "default"}}],
        "toolConfig": {"tools": [{"toolSpec": {"name": "a", "inputSchema": {"json": {}}}},
                                 {"cachePoint": {"type": "default"}}], "toolChoice": {"any": {}}},
        "inferenceConfig": {"maxTokens": 5}, "additionalModelRequestFields": {"top_k": 3}}
    assert unseen_of(clean) == []
    assert unseen_of({**clean, "system": [{"futureSystem": "x"}]}) != []
    assert unseen_of({**clean, "documents": [{"text": "x"}]}) != []
    assert unseen_of({**clean, "toolConfig": {"tools": [{"futureTool": {}}]}}) != []
    assert unseen_of(clean, "arn:aws:bedrock:us-east-1:123456789012:prompt/PROMPT12345") != []
