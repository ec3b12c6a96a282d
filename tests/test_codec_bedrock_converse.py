"""The Bedrock Converse upstream codec, checked against botocore: its request validator and serializer for what
the codec writes, its event-stream parser (through a boto3 client) for what the codec reads, and the Bedrock
provider's own route table for the path."""
from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import unquote

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator

from archestra.families.bedrock_converse import BEDROCK_CONVERSE, DROPPED_FIELDS
from archestra.families.bedrock_converse_answer import UNCALLABLE_TOOL
from archestra.families.bedrock_converse_request import EMPTY_RESULT, UNCALLABLE_TOOL_SPEC
from archestra.families.neutral import (ChatRequest, Image, Message, Reasoning, ReasoningDelta, StreamEnd,
                                        StreamError, StreamStart, Text, TextDelta, ToolCallDelta, ToolCallPart,
                                        ToolCallStart, ToolResultPart, ToolSpec, Untranslatable, Usage)
from archestra.providers.bedrock import Bedrock
from tests.fakes import bedrock_wire as wire

MODEL = botocore.session.get_session().get_service_model("bedrock-runtime")
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nnot really").decode()
WEATHER = ToolSpec("get_weather", "Weather of a city",
                   {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


# -- botocore as the judge ------------------------------------------------------------------------------
class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        yield self._data

    def read(self, *args: Any) -> bytes:
        return self._data


def boto3_client(status: int = 200, body: bytes = b"{}", seen: list | None = None) -> Any:
    """A real boto3 bedrock-runtime client whose HTTP send is replaced: it records the request and answers
    ``body``, so boto3's own serializer and parsers run on both sides."""
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                          aws_secret_access_key="secret", endpoint_url="https://bedrock.example")

    def send(request: Any, **kwargs: Any) -> AWSResponse:
        if seen is not None:
            seen.append(request)
        content_type = "application/vnd.amazon.eventstream" if request.url.endswith("-stream") \
            else "application/json"
        return AWSResponse(request.url, status, {"content-type": content_type}, _Raw(body))

    client.meta.events.register("before-send.bedrock-runtime.*", send)
    return client


def as_boto3_params(body: dict[str, Any], model: str = "anthropic.claude-3-haiku") -> dict[str, Any]:
    """The JSON wire body as boto3 parameters: blobs are raw bytes there, base64 on the wire."""
    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"bytes"} and isinstance(value["bytes"], str):
                return {"bytes": base64.b64decode(value["bytes"])}
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value
    return {"modelId": model, **walk(body)}


def assert_valid_converse(body: dict[str, Any]) -> None:
    """botocore's validator accepts it, and boto3 serialises the same parameters to the very same JSON."""
    params = as_boto3_params(body)
    report = ParamValidator().validate(params, MODEL.operation_model("Converse").input_shape)
    assert not report.has_errors(), report.generate_report()
    seen: list = []
    answer = json.dumps(wire.converse([{"text": "ok"}])).encode()
    boto3_client(body=answer, seen=seen).converse(**params)
    assert json.loads(seen[0].body) == body


def request(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model="anthropic.claude-3-haiku", messages=list(messages), **fields)


def user(*parts: Any) -> Message:
    return Message("user", list(parts))


def assistant(*parts: Any) -> Message:
    return Message("assistant", list(parts))


TOOL_HISTORY = (user(Text("Weather in Paris?")),
                assistant(Text("Checking."), ToolCallPart("call_1", "get_weather", '{"city": "Paris"}')),
                user(ToolResultPart("call_1", [Text("21C")])))


# -- write_request ------------------------------------------------------------------------------------------
def test_a_full_request_is_the_converse_body_botocore_validates_and_serialises_identically():
    req = request(*TOOL_HISTORY,
                  assistant(Reasoning("think", signature="sig=="), Text("It is 21C.")),
                  user(Text("And this?"), Image("image/png", PNG),
                       ToolResultPart("call_2", [Text("bad"), Image("image/jpeg", PNG)], is_error=True)),
                  system=[Text("be brief")], tools=[WEATHER, ToolSpec("now")], tool_choice="auto",
                  max_tokens=100, temperature=0.2, top_p=0.9, stop=["END"],
                  response_format={"type": "json_schema", "name": "weather", "strict": True,
                                   "schema": {"type": "object", "properties": {"c": {"type": "number"}}}})
    body = BEDROCK_CONVERSE.write_request(req)
    assert_valid_converse(body)
    assert "modelId" not in body and "stream" not in body
    assert body["system"] == [{"text": "be brief"}]
    assert body["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]}
    assert body["toolConfig"]["toolChoice"] == {"auto": {}}
    assert body["toolConfig"]["tools"][1] == {"toolSpec": {"name": "now", "inputSchema": {"json": {
        "type": "object", "properties": {}}}}}
    assert body["messages"][1]["content"][1] == {"toolUse": {"toolUseId": "call_1", "name": "get_weather",
                                                             "input": {"city": "Paris"}}}
    assert body["messages"][3]["content"][0] == {"reasoningContent": {"reasoningText": {"text": "think",
                                                                                        "signature": "sig=="}}}
    last = body["messages"][4]["content"]
    assert last[1] == {"image": {"format": "png", "source": {"bytes": PNG}}}
    assert last[2] == {"toolResult": {"toolUseId": "call_2", "status": "error", "content": [
        {"text": "bad"}, {"image": {"format": "jpeg", "source": {"bytes": PNG}}}]}}
    text_format = body["outputConfig"]["textFormat"]
    assert text_format["type"] == "json_schema"
    assert json.loads(text_format["structure"]["jsonSchema"]["schema"])["properties"] == {"c": {"type": "number"}}


def test_same_role_turns_are_merged_in_order_and_blank_text_left_out():
    # chat completions sends each tool result as its own message, then the user's next words
    req = request(user(Text("a")), user(Text("b")),
                  assistant(Text(""), ToolCallPart("c1", "get_weather", '{"city":"A"}'),
                            ToolCallPart("c2", "get_weather", '{"city":"B"}')),
                  user(ToolResultPart("c1", [Text("1")])), user(ToolResultPart("c2", [Text("2")])),
                  user(Text("thanks")), assistant(Text(" ")), user(Text("more")), tools=[WEATHER])
    body = BEDROCK_CONVERSE.write_request(req)
    assert_valid_converse(body)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"] == [{"text": "a"}, {"text": "b"}]
    assert [next(iter(b)) for b in body["messages"][2]["content"]] == ["toolResult", "toolResult", "text", "text"]


def test_tool_choice_required_and_named():
    any_tool = BEDROCK_CONVERSE.write_request(request(user(Text("x")), tools=[WEATHER], tool_choice="required"))
    named = BEDROCK_CONVERSE.write_request(request(user(Text("x")), tools=[WEATHER], tool_choice="get_weather"))
    assert any_tool["toolConfig"]["toolChoice"] == {"any": {}}
    assert named["toolConfig"]["toolChoice"] == {"tool": {"name": "get_weather"}}
    assert_valid_converse(named)


def test_tool_choice_none_without_tool_history_leaves_the_tools_out():
    body = BEDROCK_CONVERSE.write_request(request(user(Text("x")), tools=[WEATHER], tool_choice="none"))
    assert "toolConfig" not in body
    assert_valid_converse(body)


@pytest.mark.parametrize("tools, choice", [([WEATHER], "none"), ([], None), ([], "auto")])
def test_a_tool_history_where_no_tool_may_be_called_declares_only_the_uncallable_tool(tools: list, choice: Any):
    # Bedrock rejects toolUse blocks without toolConfig, and declaring the client's tools lets the model call them.
    body = BEDROCK_CONVERSE.write_request(request(*TOOL_HISTORY, tools=tools, tool_choice=choice))
    assert_valid_converse(body)
    assert body["toolConfig"] == {"tools": [UNCALLABLE_TOOL_SPEC]}


def test_a_call_of_the_uncallable_tool_is_refused_in_answers_and_streams():
    with pytest.raises(Untranslatable) as caught:
        BEDROCK_CONVERSE.read_answer(wire.converse([wire.tool_use(UNCALLABLE_TOOL, {})], stop="tool_use"))
    assert caught.value.field == "output.message.content[0].toolUse.name"
    reader = BEDROCK_CONVERSE.stream_reader()
    with pytest.raises(Untranslatable) as caught:
        for frame in wire.tool_stream(UNCALLABLE_TOOL, ["{}"]):
            reader.feed(frame)
    assert caught.value.field == "contentBlockStart.start.toolUse.name"


def test_an_empty_tool_result_is_not_a_blank_text_block():
    body = BEDROCK_CONVERSE.write_request(request(*TOOL_HISTORY[:2], user(ToolResultPart("call_1", [Text("")])),
                                                  tools=[WEATHER]))
    assert_valid_converse(body)
    assert body["messages"][2]["content"][0]["toolResult"]["content"] == [{"text": EMPTY_RESULT}]


def test_unsigned_reasoning_is_dropped_and_listed():
    body = BEDROCK_CONVERSE.write_request(request(user(Text("x")), assistant(Reasoning("hmm"), Text("y")),
                                                  user(Text("z"))))
    assert body["messages"][1]["content"] == [{"text": "y"}]
    assert any("Reasoning without signature" in key for key in DROPPED_FIELDS)


def test_ids_outside_converse_pattern_are_replaced_consistently():
    req = request(user(Text("x")), assistant(ToolCallPart("call/1 x", "get_weather", "")),
                  user(ToolResultPart("call/1 x", [Text("ok")])), tools=[WEATHER])
    body = BEDROCK_CONVERSE.write_request(req)
    assert_valid_converse(body)
    use = body["messages"][1]["content"][0]["toolUse"]
    assert use["input"] == {}
    assert use["toolUseId"] == body["messages"][2]["content"][0]["toolResult"]["toolUseId"] != "call/1 x"


@pytest.mark.parametrize("req, field", [
    (request(user(Image(url="https://example.com/a.png"))), "messages[0].parts[0]"),
    (request(user(Image("image/bmp", PNG))), "messages[0].parts[0]"),
    (request(user(Text("x")), assistant(ToolCallPart("c", "get_weather", "{not json")), tools=[WEATHER]),
     "messages[1].parts[0]"),
    (request(user(Text("x")), assistant(ToolCallPart("c", "get_weather", "[1]")), tools=[WEATHER]),
     "messages[1].parts[0]"),
    (request(user(ToolResultPart("c", [Image(url="https://example.com/a.png")]))), "messages[0].parts[0].content"),
    (request(user(Text("x")), response_format={"type": "json_object"}), "response_format"),
    (request(user(Text("x")), tools=[ToolSpec("mcp.search")]), "tools[0].name"),
    (request(user(Text("x")), tools=[ToolSpec(UNCALLABLE_TOOL)]), "tools[0].name"),
    (request(user(Text("x")), tools=[WEATHER], tool_choice="other"), "tool_choice"),
    (request(user(Text("x")), tool_choice="required"), "tool_choice"),
    (request(user(ToolCallPart("c", "get_weather", "{}"))), "messages[0].parts[0]"),
    (request(user(Text("x")), temperature=1.5), "temperature"),
    (request(user(Text("x")), top_p=-0.1), "top_p"),
], ids=["image-url", "image-bmp", "arguments-not-json", "arguments-not-object", "result-image-url",
        "json-object", "tool-name", "reserved-tool-name", "unknown-tool-choice", "required-without-tools",
        "call-in-user-turn", "temperature-above-1", "top-p-below-0"])
def test_untranslatable_requests(req: ChatRequest, field: str):
    with pytest.raises(Untranslatable) as caught:
        BEDROCK_CONVERSE.write_request(req)
    assert caught.value.field == field


# -- path ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["us.anthropic.claude-3-5-sonnet-20241022-v2:0",
                                   "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"])
@pytest.mark.parametrize("stream", [False, True])
def test_path_is_what_boto3_sends_and_the_bedrock_provider_routes_as_converse(model: str, stream: bool):
    path, query = BEDROCK_CONVERSE.path(model, stream)
    seen: list = []
    client = boto3_client(body=b"" if stream else json.dumps(wire.converse([{"text": "ok"}])).encode(), seen=seen)
    call = client.converse_stream if stream else client.converse
    call(modelId=model, messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert seen[0].url == f"https://bedrock.example/{path}" and query == ""
    route = Bedrock().route("POST", unquote(path), {})  # Flask hands the provider the decoded path
    assert route is not None and route.family is None  # Converse, not an InvokeModel family
    assert (route.model, route.action, route.stream) == (model, "converse-stream" if stream else "converse", stream)


# -- read_answer --------------------------------------------------------------------------------------------
def test_read_answer_text_tool_calls_usage():
    body = wire.converse([{"text": "Checking."}, wire.tool_use("get_weather", {"city": "Paris"})], stop="tool_use")
    body["usage"].update(cacheReadInputTokens=7, cacheWriteInputTokens=3)
    answer = BEDROCK_CONVERSE.read_answer(body)
    assert answer.parts[0] == Text("Checking.")
    call = answer.parts[1]
    assert isinstance(call, ToolCallPart) and (call.id, call.name) == ("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "get_weather")
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert answer.finish_reason == "tool_calls"
    assert answer.usage == Usage(400, 60, 7, 3)
    assert answer.id and answer.id != BEDROCK_CONVERSE.read_answer(body).id


def test_read_answer_gives_what_boto3_reads_from_the_same_body():
    body = wire.converse([{"text": "Checking."}, wire.tool_use("get_weather", {"city": "Paris", "days": [1, 2]}),
                          wire.tool_use("get_weather", {"city": "Z\u00fcrich"}, call_id="tooluse_2")],
                         stop="tool_use")
    theirs = boto3_client(body=json.dumps(body).encode()).converse(modelId="m", messages=[])
    ours = BEDROCK_CONVERSE.read_answer(json.loads(json.dumps(body)))
    expected: list[Any] = []
    for block in theirs["output"]["message"]["content"]:
        if "text" in block:
            expected.append(("text", block["text"]))
        else:
            expected.append((block["toolUse"]["toolUseId"], block["toolUse"]["name"], block["toolUse"]["input"]))
    assert [("text", p.text) if isinstance(p, Text) else (p.id, p.name, json.loads(p.arguments))
            for p in ours.parts] == expected
    assert (ours.usage.input_tokens, ours.usage.output_tokens) == (theirs["usage"]["inputTokens"],
                                                                   theirs["usage"]["outputTokens"])


def test_a_prompt_router_names_the_model_it_chose():
    body = wire.converse([{"text": "x"}])
    body["trace"] = {"promptRouter": {"invokedModelId": "arn:aws:bedrock:us-east-1::foundation-model/a.b-v1:0"}}
    assert BEDROCK_CONVERSE.read_answer(body).model == "arn:aws:bedrock:us-east-1::foundation-model/a.b-v1:0"
    assert BEDROCK_CONVERSE.read_answer(wire.converse([{"text": "x"}])).model == ""  # the router knows it


def test_read_answer_reasoning():
    body = wire.converse([{"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s1"}}},
                          {"reasoningContent": {"redactedContent": "cmVkYWN0ZWQ="}}, {"text": "42"}])
    assert BEDROCK_CONVERSE.read_answer(body).parts == [Reasoning("hmm", "s1"), Reasoning(encrypted="cmVkYWN0ZWQ="),
                                                        Text("42")]


@pytest.mark.parametrize("stop, finish", [("end_turn", "stop"), ("stop_sequence", "stop"), ("tool_use", "tool_calls"),
                                          ("max_tokens", "length"), ("model_context_window_exceeded", "length"),
                                          ("guardrail_intervened", "content_filter"),
                                          ("content_filtered", "content_filter"), ("malformed_tool_use", "error")])
def test_stop_reasons(stop: str, finish: str):
    assert BEDROCK_CONVERSE.read_answer(wire.converse([{"text": "x"}], stop=stop)).finish_reason == finish


@pytest.mark.parametrize("block, field", [
    (wire.web_citation("https://example.com", "sunny"), "output.message.content[0].citationsContent"),
    ({"image": {"format": "png", "source": {"bytes": PNG}}}, "output.message.content[0].image"),
    ({"document": {"format": "txt", "name": "d", "source": {"bytes": PNG}}}, "output.message.content[0].document"),
    ({"guardContent": {"text": {"text": "x"}}}, "output.message.content[0].guardContent"),
    (wire.server_tool_use("nova_grounding", {"q": "x"}), "output.message.content[0].toolUse.type"),
    (wire.server_tool_result([{"text": "r"}]), "output.message.content[0].toolResult"),
    ({"somethingNew": {}}, "output.message.content[0].somethingNew"),
    ({"text": "a", "image": {}}, "output.message.content[0]"),
], ids=["citations", "image", "document", "guard-content", "server-tool-use", "server-tool-result", "unknown",
        "two-members"])
def test_untranslatable_answers(block: dict, field: str):
    with pytest.raises(Untranslatable) as caught:
        BEDROCK_CONVERSE.read_answer(wire.converse([block]))
    assert caught.value.field == field


def test_unknown_stop_reason_is_untranslatable():
    with pytest.raises(Untranslatable) as caught:
        BEDROCK_CONVERSE.read_answer(wire.converse([{"text": "x"}], stop="new_reason"))
    assert caught.value.field == "stopReason"


# -- stream_reader ------------------------------------------------------------------------------------------
def read_stream(chunks: list[bytes]) -> list[Any]:
    reader = BEDROCK_CONVERSE.stream_reader()
    assert reader.framing == "eventstream"
    events = [event for chunk in chunks for event in reader.feed(chunk)]
    return events + reader.finish()


def gather(events: list[Any]) -> dict[str, Any]:
    """What a client of the neutral stream ends up with."""
    calls: dict[int, dict[str, str]] = {}
    out: dict[str, Any] = {"text": "", "reasoning": "", "signature": None, "end": None}
    for event in events:
        if isinstance(event, TextDelta):
            out["text"] += event.text
        elif isinstance(event, ReasoningDelta):
            out["reasoning"] += event.text
            out["signature"] = event.signature or out["signature"]
        elif isinstance(event, ToolCallStart):
            calls[event.index] = {"id": event.id, "name": event.name, "arguments": ""}
        elif isinstance(event, ToolCallDelta):
            calls[event.index]["arguments"] += event.arguments
        elif isinstance(event, StreamEnd):
            out["end"] = event
    out["calls"] = [calls[i] for i in sorted(calls)]
    return out


TWO_CALLS = wire.stream_of(
    [wire.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Let me"}}}),
     wire.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sg"}}}),
     wire.event("contentBlockStop", {"contentBlockIndex": 0}),
     wire.event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Checking "}}),
     wire.event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "both. \u00e9\u6c34"}}),
     wire.event("contentBlockStop", {"contentBlockIndex": 1})],
    wire.tool_use_frames(2, "get_weather", ['{"city":', ' "Paris"}'], call_id="tooluse_a"),
    wire.tool_use_frames(3, "get_weather", ["", '{"city": "Rome"}'], call_id="tooluse_b"))


def test_stream_events_in_order_with_call_indexes_from_zero():
    events = read_stream(TWO_CALLS)
    assert isinstance(events[0], StreamStart)
    assert [e for e in events if isinstance(e, ToolCallStart)] == [ToolCallStart(0, "tooluse_a", "get_weather"),
                                                                   ToolCallStart(1, "tooluse_b", "get_weather")]
    assert events[-1] == StreamEnd("tool_calls", Usage(400, 60))
    got = gather(events)
    assert (got["reasoning"], got["signature"], got["text"]) == ("Let me", "sg", "Checking both. \u00e9\u6c34")
    assert [json.loads(c["arguments"]) for c in got["calls"]] == [{"city": "Paris"}, {"city": "Rome"}]


def test_stream_split_at_every_byte_boundary():
    data = b"".join(TWO_CALLS)
    whole = gather(read_stream([data]))
    for cut in range(1, len(data)):
        assert gather(read_stream([data[:cut], data[cut:]])) == whole, cut
    assert gather(read_stream([bytes([b]) for b in data])) == whole


def test_stream_matches_what_boto3_reads_from_the_same_frames():
    data = b"".join(TWO_CALLS)
    ours = gather(read_stream([data]))
    text, reasoning, signature, calls, usage, order = "", "", None, {}, None, []
    for event in boto3_client(body=data).converse_stream(modelId="m", messages=[])["stream"]:
        if "contentBlockStart" in event:
            use = event["contentBlockStart"]["start"]["toolUse"]
            calls[event["contentBlockStart"]["contentBlockIndex"]] = {"id": use["toolUseId"], "name": use["name"],
                                                                      "arguments": ""}
            order.append(event["contentBlockStart"]["contentBlockIndex"])
        elif "contentBlockDelta" in event:
            delta = event["contentBlockDelta"]["delta"]
            text += delta.get("text", "")
            reasoning += delta.get("reasoningContent", {}).get("text", "")
            signature = delta.get("reasoningContent", {}).get("signature", signature)
            if "toolUse" in delta:
                calls[event["contentBlockDelta"]["contentBlockIndex"]]["arguments"] += delta["toolUse"]["input"]
        elif "metadata" in event:
            usage = event["metadata"]["usage"]
    assert (ours["text"], ours["reasoning"], ours["signature"]) == (text, reasoning, signature)
    assert ours["calls"] == [calls[i] for i in order]
    assert (ours["end"].usage.input_tokens, ours["end"].usage.output_tokens) == (usage["inputTokens"],
                                                                                  usage["outputTokens"])


def test_stream_without_metadata_ends_at_finish_and_without_message_stop_is_an_error():
    frames = wire.text_stream(["Hi"])
    no_metadata = read_stream(frames[:-1])
    assert isinstance(no_metadata[0], StreamStart)
    assert no_metadata[-1] == StreamEnd("stop") and gather(no_metadata)["text"] == "Hi"
    no_message_start = read_stream(frames[1:])
    assert isinstance(no_message_start[0], StreamStart) and gather(no_message_start)["text"] == "Hi"
    cut_off = read_stream(frames[:-2])
    assert isinstance(cut_off[-1], StreamError) and not any(isinstance(e, StreamEnd) for e in cut_off)
    half_frame = read_stream([b"".join(frames)[:-5]])
    assert isinstance(half_frame[-1], StreamError)


@pytest.mark.parametrize("kind", ["internalServerException", "modelStreamErrorException", "throttlingException",
                                  "validationException", "serviceUnavailableException"])
def test_exception_frames_are_stream_errors(kind: str):
    frames = wire.text_stream(["Hi"])
    events = read_stream([*frames[:2], wire.exception(kind, "boom"), *frames[2:]])
    assert events[-1] == StreamError(f"{kind}: boom")
    assert gather(events)["text"] == "Hi"  # what came before the error, and nothing after it
    assert not any(isinstance(e, StreamEnd) for e in events)


def test_generic_error_frame_is_a_stream_error():
    frame = wire.raw_frame([(":message-type", 7, "error"), (":error-code", 7, "Oops"),
                            (":error-message", 7, "bad")], b"")
    assert read_stream([frame])[-1] == StreamError("Oops: bad")


@pytest.mark.parametrize("frame, field", [
    (wire.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"citation": {"title": "t"}}}),
     "contentBlockDelta.delta.citation"),
    (wire.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {
        "redactedContent": "cmVk"}}}), "contentBlockDelta.delta.reasoningContent.redactedContent"),
    (wire.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{}"}}}),
     "contentBlockDelta.delta.toolUse"),
    (wire.tool_result_frames(0, [{"text": "r"}])[0], "contentBlockStart.start.toolResult"),
    (wire.tool_use_frames(0, "nova_grounding", [], server=True)[0], "contentBlockStart.start.toolUse.type"),
    (wire.event("somethingNew", {}), "event 'somethingNew'"),
], ids=["citation", "redacted-reasoning", "input-without-tool-start", "server-tool-result", "server-tool-use",
        "unknown-event"])
def test_untranslatable_stream_events(frame: bytes, field: str):
    reader = BEDROCK_CONVERSE.stream_reader()
    reader.feed(wire.event("messageStart", {"role": "assistant"}))
    with pytest.raises(Untranslatable) as caught:
        reader.feed(frame)
    assert caught.value.field == field


# -- read_error ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status, body, kind, message", [
    (400, b'{"message":"Malformed input request"}', "invalid_request", "Malformed input request"),
    (403, b'{"Message":"no access"}', "permission", "no access"),
    (404, b'{"message":"model not found"}', "not_found", "model not found"),
    (429, b'{"message":"Too many requests"}', "rate_limit", "Too many requests"),
    (500, b'{"message":"internal"}', "api_error", "internal"),
    (503, b'{"message":"unavailable"}', "overloaded", "unavailable"),
    (424, b'{"message":"model error"}', "api_error", "model error"),
    (502, b"<html>Bad gateway</html>", "api_error", "<html>Bad gateway</html>"),
    (500, b"", "api_error", "Bedrock answered HTTP 500"),
])
def test_read_error(status: int, body: bytes, kind: str, message: str):
    error = BEDROCK_CONVERSE.read_error(status, body)
    assert (error.status, error.kind, error.message) == (status, kind, message)
