"""The Anthropic Messages codec (archestra/families/anthropic_messages*.py), differential against the real SDKs:
what it renders is parsed by the anthropic SDK (answers by ``Message.model_validate``, streams by
``messages.stream`` over a mock transport), what it reads is what the anthropic SDK and Claude Code really send
and what the fakes of the upstream wire formats answer, and its Bedrock / Vertex paths are the ones botocore and
``AnthropicVertex`` call and the providers route.
"""
from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import unquote

import anthropic
import boto3
import httpx2
import pytest
from anthropic.types import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archestra.families.anthropic_messages import (ANTHROPIC_BEDROCK, ANTHROPIC_MESSAGES, ANTHROPIC_VERTEX,
                                                   DEFAULT_MAX_TOKENS)
from archestra.families.neutral import (ChatAnswer, ChatRequest, Image, Message as Turn, Reasoning,
                                        ReasoningDelta, StreamEnd, StreamError, StreamStart, Text, TextDelta,
                                        ToolCallDelta, ToolCallPart, ToolCallStart, ToolResultPart, ToolSpec,
                                        Untranslatable, Usage)
from archestra.providers.anthropic import Anthropic as AnthropicProvider
from archestra.providers.bedrock import Bedrock
from archestra.streaming.eventstream import encode_event, encode_exception
from tests.fakes import anthropic_wire as wire
from tests.fakes import claude_code_wire, invoke_wire
from tests.fakes.server import sse_reply
from tests.test_claude_code import AT_FILE, claude_cli, run_claude, workdir  # noqa: F401 (fixtures)

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake").decode()
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


# -- helpers: the real SDK on both ends ---------------------------------------------------------------------
def _client(handler) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="k", max_retries=0,
                               http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))


def sdk_sends(**kwargs: Any) -> dict[str, Any]:
    """The JSON body the anthropic SDK sends for ``messages.create(**kwargs)``."""
    sent: list[bytes] = []

    def handler(request):
        sent.append(request.content)
        return httpx2.Response(200, json=wire.message([wire.text("ok")]))
    _client(handler).messages.create(**kwargs)
    return json.loads(sent[0])


def sdk_kwargs(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as ``messages.create`` arguments: anthropic 2.x (API version 2026-10-21) no longer declares
    ``temperature`` / ``top_p``, which older API versions (and other families' clients) still use."""
    knobs = {key: body[key] for key in ("temperature", "top_p") if key in body}
    return {**{k: v for k, v in body.items() if k not in knobs}, **({"extra_body": knobs} if knobs else {})}


def sdk_streams(body: bytes) -> tuple[Message, str]:
    """What ``messages.stream`` makes of an SSE body: the final message and the text it streamed."""
    client = _client(lambda request: httpx2.Response(200, headers={"content-type": "text/event-stream"},
                                                     content=body))
    with client.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as stream:
        text = "".join(stream.text_stream)
        return stream.get_final_message(), text


def written(events: list, request: ChatRequest | None = None) -> bytes:
    writer = ANTHROPIC_MESSAGES.stream_writer(request or ChatRequest(model="m", messages=[]))
    return b"".join(writer.write(event) for event in events) + writer.finish()


def read_all(reader, chunks: list[bytes]) -> list:
    return [event for chunk in chunks for event in reader.feed(chunk)] + reader.finish()


def user(*blocks: dict) -> dict:
    return {"role": "user", "content": list(blocks)}


def body(*messages: dict, **fields: Any) -> dict[str, Any]:
    return {"model": "claude-x", "max_tokens": 100, "messages": list(messages) or [user(wire.text("hi"))], **fields}


# -- front: requests as the SDK and Claude Code send them ---------------------------------------------------
def test_a_full_sdk_request_reads_into_the_neutral_form():
    sent = sdk_sends(
        model="claude-x", max_tokens=300, stop_sequences=["END"], metadata={"user_id": "u1"},
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        thinking={"type": "enabled", "budget_tokens": 1024}, service_tier="auto",
        tools=[{"name": "get_weather", "description": "Weather", "input_schema": WEATHER,
                "cache_control": {"type": "ephemeral"}}],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        output_config={"effort": "high", "format": {"type": "json_schema", "schema": WEATHER}},
        extra_body={"temperature": 0.5, "top_p": 0.9, "top_k": 5},
        messages=[
            {"role": "user", "content": [wire.text("Look:"), {"type": "image", "source": {
                "type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Paris?", "signature": "sig1"},
                {"type": "redacted_thinking", "data": "ENC"}, wire.text("Checking."),
                wire.tool_use("get_weather", {"city": "Paris"}, "toolu_1")]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True, "content": [
                    wire.text("timeout"), {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                       "data": PNG}}]},
                wire.text("Again?")]},
            {"role": "assistant", "content": "Sure."},
        ])
    request = ANTHROPIC_MESSAGES.read_request(sent)
    assert request == ChatRequest(
        model="claude-x", max_tokens=300, temperature=0.5, top_p=0.9, stop=["END"], system=[Text("Be brief.")],
        tools=[ToolSpec("get_weather", "Weather", WEATHER)], tool_choice="get_weather", parallel_tool_calls=False,
        response_format={"type": "json_schema", "name": "output", "schema": WEATHER, "strict": True},
        messages=[
            Turn("user", [Text("Look:"), Image("image/png", PNG), Image(url="https://example.com/a.png")]),
            Turn("assistant", [Reasoning("Paris?", signature="sig1"), Reasoning(encrypted="ENC"), Text("Checking."),
                               ToolCallPart("toolu_1", "get_weather", '{"city": "Paris"}')]),
            Turn("user", [ToolResultPart("toolu_1", [Text("timeout"), Image("image/png", PNG)], is_error=True,
                                         name="get_weather"), Text("Again?")]),
            Turn("assistant", [Text("Sure.")])])


@pytest.mark.parametrize("choice, neutral", [({"type": "auto"}, ("auto", None)), ({"type": "any"}, ("required", None)),
                                             ({"type": "none"}, ("none", None)),
                                             ({"type": "auto", "disable_parallel_tool_use": False}, ("auto", True))])
def test_tool_choices(choice, neutral):
    request = ANTHROPIC_MESSAGES.read_request(sdk_sends(**body(tool_choice=choice, tools=[
        {"name": "f", "input_schema": {"type": "object"}}])))
    assert (request.tool_choice, request.parallel_tool_calls) == neutral


def test_claude_code_bodies_from_the_fakes_read():
    sent = json.loads(claude_code_wire.request("unused", model="claude-sonnet-4-5", stream=True))
    del sent["anthropic_version"]  # the cloud routes' field: the front reads direct Messages bodies
    request = ANTHROPIC_MESSAGES.read_request(sent)
    assert [text.text for text in request.system] == [
        "x-anthropic-billing-header: cc_version=2.1.332;",
        "You are Claude Code, Anthropic's official CLI for Claude.", "Available agents: general-purpose"]
    assert [turn.role for turn in request.messages] == ["user"] and request.stream and request.max_tokens == 32000
    assert request.tools[0].name == "Bash" and request.tools[0].parameters["required"] == ["command"]
    at_file = ANTHROPIC_MESSAGES.read_request(body(*AT_FILE))
    assert [turn.role for turn in at_file.messages] == ["user", "user"]
    assert at_file.system == [Text("# Environment\nPrimary working directory: /w")]
    assert "top secret 42" in at_file.messages[1].parts[0].text


def test_the_real_claude_code_cli_on_written_streams(claude_cli, workdir, upstream):  # noqa: F811
    """Claude Code 2.1.332 against streams the writer made from neutral events (as from another family's model):
    it runs the Read call and sends back the signed thinking, the call and its result; its own bodies (adaptive
    thinking, context_management, output_config.effort, deferred tools, system messages) read without error."""
    path = json.dumps({"file_path": str(workdir / "secret.txt")})
    first = [StreamStart("resp_1", "gpt-x"), ReasoningDelta("I should read it."), ReasoningDelta(signature="sig-R"),
             TextDelta("Reading."), ToolCallStart(0, "toolu_R", "Read"), ToolCallDelta(0, path[:9]),
             ToolCallDelta(0, path[9:]), StreamEnd("tool_calls", Usage(100, 20))]
    second = [StreamStart("resp_2", "gpt-x"), TextDelta("Do"), TextDelta("ne."), StreamEnd("stop", Usage(150, 5))]

    def handler(received):
        if received.method != "POST":
            return sse_reply([])
        return sse_reply([written(second if "toolu_R" in json.dumps(received.json["messages"]) else first)])
    upstream.reply_with(handler)
    result = run_claude(claude_cli, upstream.url, workdir, "Look at secret.txt")
    assert result["result"] == "Done."
    bodies = [r.json for r in upstream.received if r.method == "POST" and r.path.startswith("/v1/messages")]
    requests = [ANTHROPIC_MESSAGES.read_request(sent) for sent in bodies]
    assert requests[-1].stream and len(requests[-1].tools) >= 5
    replayed = next(turn for turn in requests[-1].messages if turn.role == "assistant")
    assert replayed.parts == [Reasoning("I should read it.", signature="sig-R"), Text("Reading."),
                              ToolCallPart("toolu_R", "Read", path)]
    result_part = next(part for turn in requests[-1].messages for part in turn.parts
                       if isinstance(part, ToolResultPart))
    assert result_part.call_id == "toolu_R" and result_part.name == "Read"
    assert "top secret value 42" in "".join(item.text for item in result_part.content if isinstance(item, Text))


@pytest.mark.parametrize("fields, where", [
    (body(user({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}})),
     "messages.0.content.0"),
    (body(user({"type": "search_result", "source": "s", "title": "t", "content": [wire.text("x")]})),
     "messages.0.content.0"),
    (body(user(wire.text("q")), {"role": "assistant", "content": [wire.server_tool_use("web_search", {"q": 1})]}),
     "messages.1.content.0"),
    (body(user(wire.text("q")), {"role": "assistant", "content": [wire.web_search_result("srvtoolu_01", "T")]}),
     "messages.1.content.0"),
    (body(user({"type": "container_upload", "file_id": "file_1"})), "messages.0.content.0"),
    (body(user(wire.text("q")), {"role": "assistant", "content": [wire.mcp_tool_use("crm", "find", {})]}),
     "messages.1.content.0"),
    (body(user(wire.mcp_tool_result("mcptoolu_01", "x"))), "messages.0.content.0"),
    (body(user({"type": "image", "source": {"type": "file", "file_id": "file_1"}})), "messages.0.content.0.source"),
    (body(user(wire.text("q")), {"role": "assistant", "content": [
        {**wire.tool_use("f", {}), "caller": {"type": "code_execution_20250825", "tool_id": "srvtoolu_1"}}]}),
     "messages.1.content.0.caller"),
    (body(user(wire.tool_use("f", {}))), "messages.0.content.0"),
    (body(user({**wire.text("x"), "citations": [{"type": "char_location"}]})), "messages.0.content.0.citations"),
    (body(user({**wire.text("x"), "surprise": 1})), "messages.0.content.0.surprise"),
    (body(tools=[{"type": "web_search_20250305", "name": "web_search"}]), "tools.0"),
    (body(tools=[{"type": "bash_20250124", "name": "bash"}]), "tools.0"),
    (body(tools=[{"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}]), "tools.0"),
    (body(tools=[{"type": "computer_20250124", "name": "computer", "display_width_px": 1, "display_height_px": 1}]),
     "tools.0"),
    (body(tools=[{"type": "code_execution_20250825", "name": "code_execution"}]), "tools.0"),
    (body(tools=[wire.web_fetch_tool()]), "tools.0"),
    (body(tools=[{"type": "memory_20250818", "name": "memory"}]), "tools.0"),
    (body(tools=[{"name": "f", "input_schema": {}, "input_examples": [{}]}]), "tools.0.input_examples"),
    (body(mcp_servers=[wire.mcp_server("crm", "https://crm.example/mcp")]), "mcp_servers"),
    (body(container="container_1"), "container"),
    (body(speed="fast"), "speed"),
    (body(output_config={"format": {"type": "json_schema", "schema": {}, "name": "x"}}), "output_config.format"),
    (body(tool_choice={"type": "sometimes"}), "tool_choice"),
    (body({"role": "developer", "content": "x"}), "messages.0.role"),
], ids=["document", "search_result", "server_tool_use", "web_search_tool_result", "container_upload",
        "mcp_tool_use", "mcp_tool_result", "file image", "code-execution caller", "tool_use from the user",
        "citations", "unknown block key", "web_search tool", "bash tool", "text_editor tool", "computer tool",
        "code_execution tool", "web_fetch tool", "memory tool", "input_examples", "mcp_servers", "container",
        "speed", "format with a name", "unknown tool_choice", "unknown role"])
def test_what_other_families_cannot_take_is_untranslatable(fields, where):
    with pytest.raises(Untranslatable) as raised:
        ANTHROPIC_MESSAGES.read_request(fields)
    assert raised.value.field == where


def test_server_tools_are_named():
    with pytest.raises(Untranslatable, match="'web_search'.*web_search_20250305"):
        ANTHROPIC_MESSAGES.read_request(body(tools=[{"type": "web_search_20250305", "name": "web_search"}]))


def test_count_tokens_bodies_read():
    request = ANTHROPIC_MESSAGES.read_count_tokens({"model": "claude-x", "messages": [user(wire.text("hi"))],
                                                    "system": "Be brief.", "thinking": {"type": "adaptive"}})
    assert request.max_tokens is None and request.system == [Text("Be brief.")]


# -- front: answers and streams the SDK parses --------------------------------------------------------------
CALL = ToolCallPart("call_1", "get_weather", '{"city": "Paris", "days": [1, 2]}')
USAGE = Usage(input_tokens=12, output_tokens=7, cache_read_tokens=3, cache_write_tokens=2)
ANSWERS = {
    "text": ChatAnswer("chatcmpl-1", "gpt-x", [Text("Hello "), Text("there")], "stop", USAGE),
    "tool calls": ChatAnswer("msg_2", "gpt-x", [Reasoning("Hmm.", signature="sig"), Text("Checking."), CALL,
                                                ToolCallPart("call_2", "now", "")], "tool_calls", USAGE),
    "unsigned reasoning": ChatAnswer("r3", "gpt-x", [Reasoning("hidden"), Text("Hi")], "length", Usage(5, 9)),
    "refusal": ChatAnswer("r4", "gpt-x", [Text("No.")], "content_filter", Usage()),
}


def events_of(answer: ChatAnswer, pieces: int = 3) -> list:
    """The stream an upstream would give for ``answer``: texts and arguments in fragments."""
    events: list = [StreamStart(answer.id, answer.model)]
    calls = 0
    for part in answer.parts:
        if isinstance(part, Text):
            step = max(1, len(part.text) // pieces)
            events += [TextDelta(part.text[i:i + step]) for i in range(0, len(part.text), step)]
        elif isinstance(part, Reasoning):
            events += [ReasoningDelta(part.text), *([ReasoningDelta(signature=part.signature)]
                                                    if part.signature else [])]
        else:
            events.append(ToolCallStart(calls, part.id, part.name))
            step = max(1, len(part.arguments) // pieces)
            events += [ToolCallDelta(calls, part.arguments[i:i + step]) for i in range(0, len(part.arguments), step)]
            calls += 1
    return [*events, StreamEnd(answer.finish_reason, answer.usage)]


def expected_content(answer: ChatAnswer, join_text: bool = True) -> list[dict[str, Any]]:
    """The content blocks an Anthropic client gets for ``answer``: unsigned reasoning left out and, streamed,
    adjacent texts in one block."""
    out: list[dict[str, Any]] = []
    for part in answer.parts:
        if isinstance(part, Text):
            if join_text and out and out[-1]["type"] == "text":
                out[-1]["text"] += part.text  # adjacent text is one block once streamed
            else:
                out.append({"type": "text", "text": part.text})
        elif isinstance(part, ToolCallPart):
            out.append({"type": "tool_use", "id": part.id, "name": part.name,
                        "input": json.loads(part.arguments or "{}")})
        elif part.signature:
            out.append({"type": "thinking", "thinking": part.text, "signature": part.signature})
    return out


def content_of(message: Message) -> list[dict[str, Any]]:
    keep = {"text": ("type", "text"), "tool_use": ("type", "id", "name", "input"),
            "thinking": ("type", "thinking", "signature")}
    return [{key: block.to_dict()[key] for key in keep[block.type]} for block in message.content]


@pytest.mark.parametrize("name", ANSWERS)
def test_rendered_answers_parse_in_the_sdk(name):
    answer = ANSWERS[name]
    message = Message.model_validate(ANTHROPIC_MESSAGES.render_answer(answer))
    assert [b for b in content_of(message) if b["type"] != "text"] == \
        [b for b in expected_content(answer) if b["type"] != "text"]
    assert "".join(b.text for b in message.content if b.type == "text") == \
        "".join(p.text for p in answer.parts if isinstance(p, Text))
    assert message.id.startswith("msg_") and message.model == "gpt-x"
    assert message.stop_reason == {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens",
                                   "content_filter": "refusal"}[answer.finish_reason]
    cached = (answer.usage.cache_read_tokens or 0) + (answer.usage.cache_write_tokens or 0)
    assert (message.usage.input_tokens, message.usage.output_tokens) == \
        (max((answer.usage.input_tokens or 0) - cached, 0), answer.usage.output_tokens or 0)
    assert message.usage.cache_read_input_tokens == answer.usage.cache_read_tokens
    assert message.usage.cache_creation_input_tokens == answer.usage.cache_write_tokens


@pytest.mark.parametrize("name", ANSWERS)
def test_written_streams_give_the_sdk_the_same_message(name):
    """The SDK's final message from the written stream equals the rendered answer (same content, stop, usage)."""
    answer = ANSWERS[name]
    final, text = sdk_streams(written(events_of(answer)))
    assert content_of(final) == expected_content(answer)
    assert text == "".join(p.text for p in answer.parts if isinstance(p, Text))
    rendered = Message.model_validate(ANTHROPIC_MESSAGES.render_answer(answer))
    assert (final.stop_reason, final.usage.input_tokens, final.usage.output_tokens) == \
        (rendered.stop_reason, rendered.usage.input_tokens, rendered.usage.output_tokens)
    assert final.usage.cache_read_input_tokens == rendered.usage.cache_read_input_tokens


PARTS = st.one_of(
    st.builds(Text, st.text(min_size=1, max_size=12)),
    st.builds(lambda i, args: ToolCallPart(f"call_{i}", f"tool_{i % 3}", json.dumps(args) if args else ""),
              st.integers(0, 99), st.dictionaries(st.sampled_from(["a", "b", "ü"]),
                                                  st.one_of(st.integers(), st.text(max_size=5), st.none()))),
    st.builds(Reasoning, st.text(max_size=8), st.one_of(st.none(), st.text(min_size=1, max_size=8))))


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(parts=st.lists(PARTS, max_size=6).filter(lambda parts: not any(  # a stream has no reasoning part boundary
           isinstance(a, Reasoning) and isinstance(b, Reasoning) for a, b in zip(parts, parts[1:]))),
       pieces=st.integers(1, 4), finish=st.sampled_from(["stop", "length", "tool_calls", "content_filter"]))
def test_any_neutral_stream_gives_the_sdk_the_answer_it_carries(parts, pieces, finish):
    answer = ChatAnswer("x", "m", parts, finish, Usage(3, 4))
    final, text = sdk_streams(written(events_of(answer, pieces)))
    assert content_of(final) == expected_content(answer)
    assert text == "".join(p.text for p in parts if isinstance(p, Text))
    assert content_of(Message.model_validate(ANTHROPIC_MESSAGES.render_answer(answer))) == \
        expected_content(answer, join_text=False)


def test_a_written_stream_has_consecutive_block_indexes_and_starts_itself():
    events = [TextDelta("a"), ReasoningDelta("r", "s"), TextDelta("b"), ToolCallStart(0, "c1", "f"),
              ToolCallStart(1, "c2", "g"), ToolCallDelta(1, "{}"), StreamEnd("tool_calls", Usage(1, 2))]
    out = written(events, ChatRequest(model="asked-model", messages=[]))
    lines = [json.loads(line[6:]) for line in out.decode().split("\n") if line.startswith("data: ")]
    assert lines[0]["message"]["model"] == "asked-model"
    assert [e["index"] for e in lines if e["type"] == "content_block_start"] == [0, 1, 2, 3, 4]
    final, _ = sdk_streams(out)
    assert [b.type for b in final.content] == ["text", "thinking", "text", "tool_use", "tool_use"]


def test_a_stream_error_is_raised_by_the_sdk():
    out = written([StreamStart("x", "m"), TextDelta("partial"), StreamError("upstream overloaded")])
    with pytest.raises(anthropic.APIStatusError) as raised:
        sdk_streams(out)
    assert raised.value.body["error"] == {"type": "api_error", "message": "upstream overloaded"}


def test_untranslatable_answers():
    with pytest.raises(Untranslatable, match="not JSON"):
        ANTHROPIC_MESSAGES.render_answer(ChatAnswer("a", "m", [ToolCallPart("c", "f", "{oops")], "tool_calls"))
    with pytest.raises(Untranslatable, match="not a JSON object"):
        ANTHROPIC_MESSAGES.render_answer(ChatAnswer("a", "m", [ToolCallPart("c", "f", "[1]")], "tool_calls"))
    with pytest.raises(Untranslatable, match="finish_reason"):
        ANTHROPIC_MESSAGES.render_answer(ChatAnswer("a", "m", [Text("x")], "error"))
    with pytest.raises(Untranslatable, match="after its block ended"):
        written([ToolCallStart(0, "a", "f"), ToolCallStart(1, "b", "g"), ToolCallDelta(0, "{}")])


# -- upstream: requests written for the direct API, Bedrock and Vertex -------------------------------------
FULL = ChatRequest(
    model="claude-x", system=[Text("Be brief."), Text("Use tools.")], max_tokens=200, temperature=0.3, top_p=0.8,
    stop=["END"], tools=[ToolSpec("get_weather", "Weather", WEATHER), ToolSpec("now")], tool_choice="required",
    parallel_tool_calls=False, stream=True,
    messages=[Turn("user", [Text("Look:"), Image("image/png", PNG), Image(url="https://example.com/a.png")]),
              Turn("assistant", [Reasoning("Paris?", signature="sig1"), Reasoning(encrypted="ENC"),
                                 Text("Checking."), ToolCallPart("toolu_1", "get_weather", '{"city": "Paris"}'),
                                 ToolCallPart("toolu_2", "now", "")]),
              Turn("user", [ToolResultPart("toolu_1", [Text("21C")], name="get_weather")]),
              Turn("user", [ToolResultPart("toolu_2", [Text("noon"), Image("image/png", PNG)], is_error=True,
                                           name="now")]),
              Turn("user", [Text("Thanks")])])


def test_a_written_request_is_what_the_sdk_sends_and_reads_back():
    written_body = ANTHROPIC_MESSAGES.write_request(FULL)
    assert sdk_sends(**sdk_kwargs(written_body)) == written_body  # every field is a parameter of messages.create
    assert written_body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert [m["role"] for m in written_body["messages"]] == ["user", "assistant", "user"]
    assert [b["type"] for b in written_body["messages"][2]["content"]] == ["tool_result", "tool_result", "text"]
    back = ANTHROPIC_MESSAGES.read_request(written_body)
    assert back.messages[2] == Turn("user", [*FULL.messages[2].parts, *FULL.messages[3].parts,
                                             *FULL.messages[4].parts])
    assert back.messages[1].parts[4] == ToolCallPart("toolu_2", "now", "{}")
    assert (back.system, back.tools[0], back.tool_choice, back.parallel_tool_calls, back.stop, back.stream) == \
        (FULL.system, FULL.tools[0], "required", False, ["END"], True)
    assert back.tools[1].parameters == {"type": "object", "properties": {}}


def test_write_defaults_and_knobs():
    plain = ANTHROPIC_MESSAGES.write_request(ChatRequest(model="m", messages=[Turn("user", [Text("x")])],
                                                         temperature=1.7))
    assert plain == {"model": "m", "max_tokens": DEFAULT_MAX_TOKENS, "temperature": 1.0,
                     "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}
    unsigned = ANTHROPIC_MESSAGES.write_request(ChatRequest(model="m", messages=[
        Turn("user", [Text("x")]), Turn("assistant", [Reasoning("thought"), Text("y")])]))
    assert unsigned["messages"][1]["content"] == [{"type": "text", "text": "y"}]  # unverifiable thinking left out
    schema = ANTHROPIC_MESSAGES.write_request(ChatRequest(model="m", messages=[], response_format={
        "type": "json_schema", "name": "w", "schema": WEATHER, "strict": True}))
    assert schema["output_config"] == {"format": {"type": "json_schema", "schema": WEATHER}}
    assert sdk_sends(**schema)["output_config"] == schema["output_config"]


@pytest.mark.parametrize("codec, request_, where", [
    (ANTHROPIC_MESSAGES, ChatRequest(model="m", messages=[], response_format={"type": "json_object"}),
     "response_format"),
    (ANTHROPIC_BEDROCK, ChatRequest(model="m", messages=[], response_format={
        "type": "json_schema", "name": "w", "schema": WEATHER}), "response_format"),
    (ANTHROPIC_VERTEX, ChatRequest(model="m", messages=[], response_format={
        "type": "json_schema", "name": "w", "schema": WEATHER}), "response_format"),
    (ANTHROPIC_MESSAGES, ChatRequest(model="m", messages=[Turn("user", [Image(data=PNG)])]),
     "messages.0.parts.0"),
    (ANTHROPIC_MESSAGES, ChatRequest(model="m", messages=[Turn("assistant", [ToolCallPart("c", "f", "{x")])]),
     "messages.0.parts.0"),
    (ANTHROPIC_MESSAGES, ChatRequest(model="m", messages=[], tool_choice="required"), "tool_choice"),
], ids=["json_object", "schema on bedrock", "schema on vertex", "image without type", "bad arguments",
        "required without tools"])
def test_unwritable_requests(codec, request_, where):
    with pytest.raises(Untranslatable) as raised:
        codec.write_request(request_)
    assert raised.value.field == where


def same_but_version(sdk_sent: dict[str, Any], ours: dict[str, Any], version: str) -> bool:
    """anthropic 2.x writes its own API version (2026-10-21) as ``anthropic_version`` on both clouds; the
    codec writes the platform versions the providers document (provider-wire-formats.md, Claude Code)."""
    assert ours["anthropic_version"] == version
    return {**sdk_sent, "anthropic_version": version} == ours


def test_vertex_body_and_path_are_what_anthropic_vertex_sends_and_the_provider_routes():
    sent = []

    def handler(request):
        sent.append(request)
        return httpx2.Response(200, json=wire.message([wire.text("ok")]))
    client = anthropic.AnthropicVertex(region="us-east5", project_id="p1", access_token="t",
                                       http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
    for stream in (False, True):
        request = ChatRequest(model="claude-sonnet-4-5@20250929", messages=FULL.messages, stream=stream)
        kwargs = sdk_kwargs(ANTHROPIC_MESSAGES.write_request(request))
        if stream:
            with client.messages.stream(**{k: v for k, v in kwargs.items() if k != "stream"}):
                pass
        else:
            client.messages.create(**kwargs)
        assert same_but_version(json.loads(sent[-1].content), ANTHROPIC_VERTEX.write_request(request),
                                "vertex-2023-10-16")
        path, query = ANTHROPIC_VERTEX.path(request.model, stream)
        assert query == ""
        assert sent[-1].url.raw_path.decode().split("/publishers/")[1] == path.split("/publishers/")[1]
        route = AnthropicProvider().route("POST", path, {})
        assert (route.model, route.stream) == (request.model, stream)


def test_bedrock_body_and_path_are_what_the_sdks_send_and_the_provider_routes():
    sent = []

    def handler(request):
        sent.append(request)
        return httpx2.Response(200, json=wire.message([wire.text("ok")]))
    client = anthropic.AnthropicBedrock(aws_access_key="a", aws_secret_key="b", aws_region="us-east-1",
                                        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
    model = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"
    request = ChatRequest(model=model, messages=FULL.messages, tools=FULL.tools)
    client.messages.create(**sdk_kwargs(ANTHROPIC_MESSAGES.write_request(request)))
    assert same_but_version(json.loads(sent[-1].content), ANTHROPIC_BEDROCK.write_request(request),
                            "bedrock-2023-05-31")
    assert not {"model", "stream"} & set(ANTHROPIC_BEDROCK.write_request(FULL))
    path, _ = ANTHROPIC_BEDROCK.path(model, False)
    assert unquote(sent[-1].url.raw_path.decode()) == "/" + unquote(path)

    urls = []

    class Sent(Exception):
        pass

    def capture(request, **kwargs):
        urls.append(request.url)
        raise Sent
    boto = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url="https://bedrock.test",
                        aws_access_key_id="a", aws_secret_access_key="b")
    boto.meta.events.register("before-send.bedrock-runtime.*", capture)
    for stream, call in ((False, boto.invoke_model), (True, boto.invoke_model_with_response_stream)):
        with pytest.raises(Sent):
            call(modelId=model, body=b"{}")
        path, query = ANTHROPIC_BEDROCK.path(model, stream)
        assert (urls[-1], query) == (f"https://bedrock.test/{path}", "")
        route = Bedrock().route("POST", unquote(path), {})  # Flask hands the provider the decoded path
        assert (route.model, route.stream) == (model, stream)
    assert ANTHROPIC_MESSAGES.path("claude-x", True) == ("v1/messages", "")
    assert AnthropicProvider().route("POST", "v1/messages", {}) is not None


# -- upstream: answers, streams and errors read back --------------------------------------------------------
def test_answers_from_the_fakes_read():
    answer = ANTHROPIC_MESSAGES.read_answer(wire.message([
        {"type": "thinking", "thinking": "Hmm", "signature": "sig"}, {"type": "redacted_thinking", "data": "ENC"},
        wire.text("Checking."), wire.tool_use("get_weather", {"city": "Paris"})], "tool_use"))
    assert answer == ChatAnswer("msg_01", wire.MODEL, [
        Reasoning("Hmm", signature="sig"), Reasoning(encrypted="ENC"), Text("Checking."),
        ToolCallPart("toolu_01A", "get_weather", '{"city": "Paris"}')], "tool_calls", Usage(377, 65, 0, 0))
    cached = wire.message([wire.text("x")])
    cached["usage"].update(cache_read_input_tokens=100, cache_creation_input_tokens=20)
    assert ANTHROPIC_MESSAGES.read_answer(cached).usage == Usage(497, 65, 100, 20)  # the neutral count: cached included


@pytest.mark.parametrize("stop, finish", [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
                                          ("tool_use", "tool_calls"), ("refusal", "content_filter"),
                                          ("model_context_window_exceeded", "length")])
def test_stop_reasons(stop, finish):
    assert ANTHROPIC_MESSAGES.read_answer(wire.message([wire.text("x")], stop)).finish_reason == finish


@pytest.mark.parametrize("content, stop, where", [
    ([wire.server_tool_use("web_search", {"query": "x"})], "end_turn", "content.0"),
    ([wire.text("a"), wire.web_search_result("srvtoolu_01", "T")], "end_turn", "content.1"),
    ([wire.mcp_tool_use("crm", "find", {})], "end_turn", "content.0"),
    ([{**wire.text("cited"), "citations": [{"type": "web_search_result_location"}]}], "end_turn", "content.0"),
    ([{"type": "mystery"}], "end_turn", "content.0"),
    ([wire.text("x")], "pause_turn", "stop_reason"),
    ([wire.text("x")], "something_new", "stop_reason"),
], ids=["server_tool_use", "web_search_tool_result", "mcp_tool_use", "citations", "unknown block", "pause_turn",
        "unknown stop"])
def test_unreadable_answers(content, stop, where):
    with pytest.raises(Untranslatable) as raised:
        ANTHROPIC_MESSAGES.read_answer(wire.message(content, stop))
    assert raised.value.field == where


FAKE_STREAMS = {
    "text": wire.text_stream(["Hel", "lo ", "wörld"]),
    "tool": wire.tool_stream("get_weather", ['{"locati', 'on": "P', 'ar', 'is"}']),
    "thinking": claude_code_wire.answer(),
    "input in start": wire.answer_stream([wire.text("Two calls."), wire.tool_use("a", {"x": [1, {"y": None}]}),
                                          wire.tool_use("b", {}, "toolu_02")], input_in_start=True),
    "fragments": wire.answer_stream([wire.tool_use("a", {"x": "é" * 20}), wire.tool_use("b", {}, "toolu_02")],
                                    fragments=5),
}


@pytest.mark.parametrize("name", FAKE_STREAMS)
def test_upstream_streams_read_back_into_the_same_message(name):
    """Upstream SSE -> neutral events -> the front's SSE: the SDK makes the same message of both."""
    events = read_all(ANTHROPIC_MESSAGES.stream_reader(), FAKE_STREAMS[name])
    original, original_text = sdk_streams(b"".join(FAKE_STREAMS[name]))
    again, again_text = sdk_streams(written(events))
    assert content_of(again) == content_of(original) and again_text == original_text
    assert (again.id, again.model, again.stop_reason) == (original.id, original.model, original.stop_reason)
    assert again.usage.to_dict() == {key: value for key, value in original.usage.to_dict().items()
                                     if key not in ("service_tier",)}


BLOCKS = st.one_of(st.builds(wire.text, st.text(min_size=1, max_size=10)),
                   st.builds(lambda i, args: wire.tool_use(f"tool_{i % 3}", args, f"toolu_{i}"), st.integers(0, 99),
                             st.dictionaries(st.sampled_from(["q", "n", "ä"]),
                                             st.one_of(st.integers(), st.text(max_size=6), st.none()))))


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(content=st.lists(BLOCKS, max_size=5), stop=st.sampled_from(["end_turn", "tool_use", "max_tokens"]),
       input_in_start=st.booleans(), fragments=st.integers(1, 4), cuts=st.lists(st.integers(0, 4000), max_size=6),
       bedrock=st.booleans())
def test_any_upstream_stream_reads_back_into_the_same_message(content, stop, input_in_start, fragments, cuts,
                                                               bedrock):
    sse = wire.answer_stream(content, stop, input_in_start=input_in_start, fragments=fragments)
    whole = b"".join(invoke_wire.from_sse(sse) if bedrock else sse)
    cuts = sorted({cut % (len(whole) + 1) for cut in cuts})
    chunks = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)])]
    events = read_all((ANTHROPIC_BEDROCK if bedrock else ANTHROPIC_MESSAGES).stream_reader(), chunks)
    original, _ = sdk_streams(b"".join(sse))
    again, _ = sdk_streams(written(events))
    assert content_of(again) == joined(content_of(original)) and again.stop_reason == original.stop_reason


def joined(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adjacent text blocks as one: neutral stream events carry no boundary between them."""
    out: list[dict[str, Any]] = []
    for block in content:
        if out and block["type"] == out[-1]["type"] == "text":
            out[-1] = {**out[-1], "text": out[-1]["text"] + block["text"]}
        else:
            out.append(block)
    return out


@pytest.mark.parametrize("name", FAKE_STREAMS)
def test_streams_split_anywhere_read_the_same(name):
    whole = b"".join(FAKE_STREAMS[name])
    expected = read_all(ANTHROPIC_MESSAGES.stream_reader(), [whole])
    assert merged(read_all(ANTHROPIC_MESSAGES.stream_reader(), [whole[i:i + 1] for i in range(len(whole))])) == \
        merged(expected)
    assert isinstance(expected[-1], StreamEnd)


def merged(events: list) -> list:
    """Events with adjacent text deltas joined (how finely text is cut depends on where the chunks end)."""
    out: list = []
    for event in events:
        if out and type(event) is type(out[-1]) is TextDelta:
            out[-1] = TextDelta(out[-1].text + event.text)
        else:
            out.append(event)
    return out


@pytest.mark.parametrize("name", FAKE_STREAMS)
def test_bedrock_event_streams_read_like_the_sse_they_carry(name):
    frames = invoke_wire.from_sse(FAKE_STREAMS[name])
    bedrock = read_all(ANTHROPIC_BEDROCK.stream_reader(), frames)
    assert ANTHROPIC_BEDROCK.stream_reader().framing == "eventstream"
    assert bedrock == read_all(ANTHROPIC_MESSAGES.stream_reader(), FAKE_STREAMS[name])
    whole = b"".join(frames)
    assert read_all(ANTHROPIC_BEDROCK.stream_reader(), [whole[i:i + 7] for i in range(0, len(whole), 7)]) == bedrock


def test_stream_ends_and_errors():
    reader = ANTHROPIC_MESSAGES.stream_reader()
    cut = wire.text_stream(["Hi"])[:-1]  # no message_stop
    assert read_all(reader, cut)[-1] == StreamError("the upstream stream ended before message_stop")
    errored = [*wire.text_stream(["Hi"])[:3], wire.event("error", wire.error("overloaded_error", "Overloaded"))]
    assert read_all(ANTHROPIC_MESSAGES.stream_reader(), errored)[-1] == StreamError("Overloaded")
    bedrock_cut = invoke_wire.from_sse(wire.text_stream(["Hi"]))[:-1]
    assert read_all(ANTHROPIC_BEDROCK.stream_reader(), bedrock_cut)[-1] == \
        StreamError("the upstream stream ended before message_stop")
    thrown = [*invoke_wire.from_sse(wire.text_stream(["Hi"]))[:2],
              encode_exception("modelStreamErrorException", "model failed")]
    assert read_all(ANTHROPIC_BEDROCK.stream_reader(), thrown)[-1] == \
        StreamError("modelStreamErrorException: model failed")


@pytest.mark.parametrize("bad, where", [
    (wire.event("mystery_event", {"type": "mystery_event"}), "stream.mystery_event"),
    (wire.event("content_block_start", {"type": "content_block_start", "index": 1, "content_block":
                                        wire.server_tool_use("web_search", {})}),
     "stream.content_block_start.server_tool_use"),
    (wire.event("content_block_start", {"type": "content_block_start", "index": 1, "content_block":
                                        {"type": "text", "text": "", "citations": [{"type": "x"}]}}),
     "stream.content_block_start.citations"),
    (wire.event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta":
                                        {"type": "citations_delta", "citation": {}}}),
     "stream.content_block_delta.citations_delta"),
    (wire.event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta":
                                        {"type": "input_json_delta", "partial_json": "{}"}}),
     "stream.content_block_delta.input_json_delta"),
], ids=["unknown event", "server tool block", "citations", "citations delta", "delta of another block type"])
def test_unreadable_stream_events(bad, where):
    start, block_start, *_ = wire.text_stream(["Hi"])
    with pytest.raises(Untranslatable) as raised:
        read_all(ANTHROPIC_MESSAGES.stream_reader(), [start, block_start, bad])
    assert raised.value.field == where


def test_unknown_bedrock_frames_are_unreadable():
    start = invoke_wire.from_sse(wire.text_stream(["Hi"]))[0]
    with pytest.raises(Untranslatable, match="unknown Bedrock stream event"):
        read_all(ANTHROPIC_BEDROCK.stream_reader(), [start, encode_event("metadata", b"{}")])
    with pytest.raises(Untranslatable, match="stream.chunk"):
        read_all(ANTHROPIC_BEDROCK.stream_reader(), [encode_event("chunk", b'{"bytes": "not base64!"}')])


@pytest.mark.parametrize("status, body_, expected", [
    (429, json.dumps(wire.error("rate_limit_error", "Slow down")).encode(), ("Slow down", "rate_limit")),
    (529, json.dumps(wire.error("overloaded_error", "Overloaded")).encode(), ("Overloaded", "overloaded")),
    (400, json.dumps(wire.error("invalid_request_error", "max_tokens: required")).encode(),
     ("max_tokens: required", "invalid_request")),
    (403, b'{"message": "You don\'t have access to the model"}', ("You don't have access to the model", "permission")),
    (404, b'{"error": {"code": 404, "message": "Publisher model not found", "status": "NOT_FOUND"}}',
     ("Publisher model not found", "not_found")),
    (502, b"<html>Bad gateway</html>", ("<html>Bad gateway</html>", "api_error")),
    (500, b"", ("the upstream answered HTTP 500", "api_error")),
], ids=["anthropic rate limit", "anthropic overloaded", "anthropic invalid", "bedrock", "vertex", "html", "empty"])
def test_upstream_errors(status, body_, expected):
    error = ANTHROPIC_MESSAGES.read_error(status, body_)
    assert (error.status, error.message, error.kind) == (status, *expected)


def test_dropped_fields_read_and_change_nothing():
    plain = ANTHROPIC_MESSAGES.read_request(body(tools=[{"name": "f", "input_schema": WEATHER}]))
    dropped = ANTHROPIC_MESSAGES.read_request(body(
        tools=[{"name": "f", "input_schema": WEATHER, "defer_loading": True, "eager_input_streaming": True,
                "strict": True, "cache_control": {"type": "ephemeral"}, "allowed_callers": ["direct"]}],
        cache_control={"type": "ephemeral"}, context_management={"edits": [{"type": "clear_thinking_20251015"}]},
        metadata={"user_id": "u"}, top_k=3, thinking={"type": "adaptive"}, service_tier="auto",
        output_config={"effort": "low"}))
    assert dropped == plain


def test_redacted_thinking_in_a_stream_is_left_out():
    start, *rest = wire.text_stream(["Hi"])
    redacted = [wire.event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
                    "type": "redacted_thinking", "data": "ENC"}}),
                wire.event("content_block_stop", {"type": "content_block_stop", "index": 0})]
    events = read_all(ANTHROPIC_MESSAGES.stream_reader(),
                      [start, *redacted, *[e.replace(b'"index":0', b'"index":1') for e in rest]])
    assert [type(e) for e in events] == [StreamStart, TextDelta, StreamEnd]


def test_empty_texts_are_not_written():
    """Other families put "" beside tool calls; the Messages API refuses empty text blocks."""
    written_body = ANTHROPIC_MESSAGES.write_request(ChatRequest(model="m", messages=[
        Turn("user", [Text("x")]), Turn("assistant", [Text(""), ToolCallPart("c", "f", "{}")]),
        Turn("user", [ToolResultPart("c", [Text("")])]), Turn("user", [Text("  ")])]))
    assert written_body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "x"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "c", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c", "content": []}]}]
