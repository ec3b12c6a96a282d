"""The OpenAI chat completions codec (archestra/families/openai_chat*.py), both halves, against the real
openai SDK: the requests it reads are the bodies the SDK sends, the answers and streams it renders are read by
the SDK (``create``, ``create(stream=True)`` and the ``.stream()`` accumulator), and what it reads from an
upstream is the wire of tests/fakes/openai_wire.py."""
from __future__ import annotations

import base64
import json
from typing import Any, Callable

import httpx2
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from archestra.families.neutral import (ChatAnswer, ChatRequest, Image, Message, Reasoning, ReasoningDelta,
                                       StreamEnd, StreamError, StreamStart, Text, TextDelta, ToolCallDelta,
                                       ToolCallPart, ToolCallStart, ToolResultPart, Untranslatable, Usage)
from archestra.families.openai_chat import OPENAI_CHAT, OpenAIChat
from archestra.families.openai_chat_request import DROPPED_FIELDS
from tests.fakes import openai_wire as wire

CODEC = OpenAIChat(clock=lambda: wire.CREATED)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image").decode()
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Get weather",
                                            "parameters": SCHEMA}}
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": [{"type": "text", "text": "Weather where these are?"},
                                 {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                                 {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c":21}'},
    {"role": "tool", "tool_call_id": "call_2", "content": '{"temp_c":3}'},
    {"role": "assistant", "content": "Paris 21, Oslo 3."},
    {"role": "user", "content": "Thanks"},
]


def sdk(handler: Callable[[httpx2.Request], httpx2.Response]) -> openai.OpenAI:
    return openai.OpenAI(api_key="k", base_url="http://router.test/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))


def sent(**kwargs: Any) -> dict[str, Any]:
    """The JSON body the openai SDK sends for ``chat.completions.create(**kwargs)``."""
    bodies = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        bodies.append(json.loads(request.read()))
        return httpx2.Response(200, json=wire.completion())

    sdk(handler).chat.completions.create(**kwargs)
    return bodies[0]


def serving(body: bytes | dict) -> openai.OpenAI:
    """A client whose every request is answered with ``body`` (stream bytes or a JSON answer)."""
    if isinstance(body, dict):
        return sdk(lambda request: httpx2.Response(200, json=body))
    return sdk(lambda request: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body))


# -- front: reading what the SDK sends ------------------------------------------------------------------------
def test_read_request_of_a_tool_conversation_the_sdk_sent():
    body = sent(model="gpt-4o", messages=CONVERSATION, tools=[{**WEATHER, "function": {
        **WEATHER["function"], "strict": True}}], tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False, max_completion_tokens=300, temperature=0.2, top_p=0.9, stop="END",
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": SCHEMA, "strict": True}},
        user="u-1", seed=7, metadata={"k": "v"})
    req = CODEC.read_request(body)
    assert req.model == "gpt-4o" and req.system == [Text("You are terse.")]
    assert req.messages[0] == Message("user", [Text("Weather where these are?"), Image("image/png", PNG),
                                               Image(url="https://example.com/a.jpg")])
    assert req.messages[1] == Message("assistant", [ToolCallPart("call_1", "get_weather", '{"city":"Paris"}'),
                                                    ToolCallPart("call_2", "get_weather", '{"city":"Oslo"}')])
    # consecutive tool messages: one user message with both results, in order, named from the history
    assert req.messages[2] == Message("user", [ToolResultPart("call_1", [Text('{"temp_c":21}')], name="get_weather"),
                                               ToolResultPart("call_2", [Text('{"temp_c":3}')], name="get_weather")])
    assert req.messages[3:] == [Message("assistant", [Text("Paris 21, Oslo 3.")]), Message("user", [Text("Thanks")])]
    assert req.tools[0].name == "get_weather" and req.tools[0].parameters == SCHEMA
    assert (req.tool_choice, req.parallel_tool_calls, req.max_tokens) == ("get_weather", False, 300)
    assert (req.temperature, req.top_p, req.stop, req.stream) == (0.2, 0.9, ["END"], False)
    assert req.response_format == {"type": "json_schema", "name": "w", "schema": SCHEMA, "strict": True}


def test_read_request_stream_options_developer_role_and_text_parts():
    body = sent(model="m", stream=True, stream_options={"include_usage": True}, max_tokens=5, stop=["a", "b"],
                response_format={"type": "json_object"}, tool_choice="required", tools=[WEATHER], messages=[
                    {"role": "developer", "content": [{"type": "text", "text": "Rule 1"}]},
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": [{"type": "text", "text": "I "},
                                                      {"type": "refusal", "refusal": "won't"}],
                     "reasoning_content": "thinking"},
                    {"role": "tool", "tool_call_id": "c9", "content": [{"type": "text", "text": "r"}]}])
    req = CODEC.read_request(body)
    assert req.system == [Text("Rule 1")] and (req.stream, req.include_usage) == (True, True)
    assert (req.max_tokens, req.stop, req.tool_choice) == (5, ["a", "b"], "required")
    assert req.response_format == {"type": "json_object"}
    assert req.messages[1].parts == [Reasoning("thinking"), Text("I "), Text("won't")]
    assert req.messages[2].parts == [ToolResultPart("c9", [Text("r")])]
    named = {**body, "messages": [*body["messages"][:3], {**body["messages"][3], "name": "lookup"}]}
    assert CODEC.read_request(named).messages[2].parts[0].name == "lookup"
    assert CODEC.read_request({**body, "stream_options": None}).include_usage is False


def test_dropped_fields_change_nothing():
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    values = {"user": "u", "metadata": {}, "store": True, "seed": 1, "service_tier": "auto",
              "prompt_cache_key": "k", "safety_identifier": "s", "frequency_penalty": 0.5,
              "presence_penalty": 0.5, "reasoning_effort": "low", "verbosity": "low",
              "prompt_cache_retention": "24h", "prompt_cache_options": {"mode": "implicit"}}
    assert set(values) == DROPPED_FIELDS
    assert CODEC.read_request({**base, **values}) == CODEC.read_request(base)
    inert = {"n": 1, "logprobs": False, "modalities": ["text"], "audio": None}
    assert CODEC.read_request({**base, **inert}) == CODEC.read_request(base)


USER = {"role": "user", "content": "hi"}


@pytest.mark.parametrize("extra, field", [
    ({"n": 2}, "n"), ({"logprobs": True}, "logprobs"), ({"top_logprobs": 3}, "top_logprobs"),
    ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"), ({"modalities": ["text", "audio"]}, "modalities"),
    ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
    ({"web_search_options": {}}, "web_search_options"), ({"functions": [{"name": "f"}]}, "functions"),
    ({"function_call": "auto"}, "function_call"), ({"logit_bias": {"50256": -100}}, "logit_bias"),
    ({"thinking": {"type": "enabled"}}, "thinking"), ({"brand_new_field": 1}, "brand_new_field"),
    ({"tools": [{"type": "custom", "custom": {"name": "grep"}}]}, "tools[0]"),
    ({"tools": [{"type": "function", "function": {"name": "f", "x_extra": 1}}]}, "tools[0].function.x_extra"),
    ({"tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}}, "tool_choice"),
    ({"response_format": {"type": "grammar", "grammar": "x"}}, "response_format"),
    ({"stream_options": {"include_usage": True, "chunk_size": 3}}, "stream_options"),
])
def test_untranslatable_request_fields(extra, field):
    with pytest.raises(Untranslatable) as caught:
        CODEC.read_request({"model": "m", "messages": [USER], **extra})
    assert caught.value.field == field


@pytest.mark.parametrize("message, field", [
    ({"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]},
     "messages[1].content[0]"),
    ({"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}, "messages[1].content[0]"),
    ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]},
     "messages[1].content[0].image_url.url"),
    ({"role": "user", "content": "hi", "name": "mallory"}, "messages[1].name"),
    ({"role": "function", "name": "f", "content": "r"}, "messages[1].role"),
    ({"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
     "messages[1].function_call"),
    ({"role": "assistant", "content": None, "audio": {"id": "audio_1"}}, "messages[1].audio"),
    ({"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "custom": {"name": "g", "input": "x"}}]},
     "messages[1].tool_calls[0]"),
    ({"role": "system", "content": "late rule"}, "messages[1].role"),
    ({"role": "tool", "content": "r"}, "messages[1].tool_call_id"),
])
def test_untranslatable_messages(message, field):
    with pytest.raises(Untranslatable) as caught:
        CODEC.read_request({"model": "m", "messages": [USER, message]})
    assert caught.value.field == field


# -- round trip and the upstream request ----------------------------------------------------------------------
def test_write_request_of_read_request_keeps_messages_tools_and_choice():
    body = sent(model="gpt-4o", messages=CONVERSATION, tools=[WEATHER], tool_choice="auto",
                parallel_tool_calls=True, temperature=0.5, stop=["x"])
    written = CODEC.write_request(CODEC.read_request(body))
    assert written == body
    named = {**body, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
    assert CODEC.write_request(CODEC.read_request(named))["tool_choice"] == named["tool_choice"]


def test_write_request_is_what_the_sdk_sends_for_it():
    """Every field written is a parameter of ``chat.completions.create``, sent unchanged."""
    req = ChatRequest(model="gpt-4o", system=[Text("s1"), Text("s2")], messages=[
        Message("user", [Text("look"), Image("image/png", PNG)]),
        Message("assistant", [Reasoning("hmm", signature="sig"), Text("calling"),
                              ToolCallPart("toolu_1", "get_weather", '{"city":"Rome"}')]),
        Message("user", [ToolResultPart("toolu_1", [Text("sunny"), Text(" 25C")], is_error=False), Text("and?")]),
    ], tools=[CODEC.read_request({"model": "m", "messages": [], "tools": [WEATHER]}).tools[0]],
        tool_choice="get_weather", max_tokens=64, response_format={"type": "json_schema", "name": "n",
                                                                   "schema": SCHEMA, "strict": True},
        stream=True, include_usage=True)
    written = CODEC.write_request(req)
    assert sent(**written) == written
    assert written["messages"] == [
        {"role": "system", "content": "s1"}, {"role": "system", "content": "s2"},
        {"role": "user", "content": [{"type": "text", "text": "look"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
        {"role": "assistant", "content": "calling", "tool_calls": [
            {"id": "toolu_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": [{"type": "text", "text": "sunny"},
                                                                {"type": "text", "text": " 25C"}]},
        {"role": "user", "content": "and?"}]
    assert written["stream_options"] == {"include_usage": True} and written["max_completion_tokens"] == 64
    assert written["response_format"] == {"type": "json_schema", "json_schema": {"name": "n", "schema": SCHEMA,
                                                                                 "strict": True}}
    compat = OpenAIChat(max_tokens_field="max_tokens", stream_options=False).write_request(req)
    assert compat["max_tokens"] == 64 and "stream_options" not in compat


def test_write_request_refuses_images_in_tool_results():
    req = ChatRequest(model="m", messages=[Message("user", [ToolResultPart("c", [Image("image/png", PNG)])])])
    with pytest.raises(Untranslatable):
        CODEC.write_request(req)


def test_path():
    assert OPENAI_CHAT.path("gpt-4o", True) == ("chat/completions", "")
    assert (OPENAI_CHAT.name, OPENAI_CHAT.stream_content_type) == ("openai_chat", "text/event-stream")


# -- front: answers ---------------------------------------------------------------------------------------------
ANSWER = ChatAnswer(id="chatcmpl-r1", model="claude-x", parts=[
    Reasoning("let me see", signature="sig"), Text("Checking "), Text("both."),
    ToolCallPart("toolu_1", "get_weather", '{"city":"Paris"}'), ToolCallPart("toolu_2", "get_time", "{}")],
    finish_reason="tool_calls", usage=Usage(input_tokens=40, output_tokens=12, cache_read_tokens=30))


def test_render_answer_is_a_chat_completion_the_sdk_reads():
    rendered = CODEC.render_answer(ANSWER)
    parsed = ChatCompletion.model_validate(rendered)
    assert parsed.model_dump(mode="json", exclude_unset=True) == rendered
    got = serving(rendered).chat.completions.create(model="claude-x", messages=[USER])
    message = got.choices[0].message
    assert (got.id, got.model, got.created, got.choices[0].finish_reason) == \
        ("chatcmpl-r1", "claude-x", wire.CREATED, "tool_calls")
    assert message.content == "Checking both." and message.reasoning_content == "let me see"
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls] == [
        ("toolu_1", "get_weather", '{"city":"Paris"}'), ("toolu_2", "get_time", "{}")]
    assert (got.usage.prompt_tokens, got.usage.completion_tokens, got.usage.total_tokens) == (40, 12, 52)
    assert got.usage.prompt_tokens_details.cached_tokens == 30


@pytest.mark.parametrize("reason", ["stop", "length", "tool_calls", "content_filter"])
def test_render_answer_finish_reasons_and_content_none_for_calls_only(reason):
    calls_only = ChatAnswer("a", "m", [ToolCallPart("c", "f", "{}")], reason)
    rendered = ChatCompletion.model_validate(CODEC.render_answer(calls_only))
    assert rendered.choices[0].message.content is None and rendered.choices[0].finish_reason == reason
    assert ChatCompletion.model_validate(CODEC.render_answer(ChatAnswer("a", "m", [], reason))) \
        .choices[0].message.content == ""


def test_render_answer_refuses_an_error_finish():
    with pytest.raises(Untranslatable):
        CODEC.render_answer(ChatAnswer("a", "m", [Text("half")], "error"))


# -- front: streams ---------------------------------------------------------------------------------------------
EVENTS = [StreamStart("chatcmpl-s1", "claude-x"), ReasoningDelta("hm"), ReasoningDelta(signature="sig"),
          TextDelta("Hel"), TextDelta("lo ✓"), ToolCallStart(0, "toolu_1", "get_weather"),
          ToolCallDelta(0, '{"ci'), ToolCallDelta(0, 'ty":"Paris"}'), ToolCallStart(1, "toolu_2", "get_time"),
          ToolCallDelta(1, "{}"), StreamEnd("tool_calls", Usage(input_tokens=10, output_tokens=7))]


def written(events: list, include_usage: bool = True) -> bytes:
    writer = CODEC.stream_writer(ChatRequest(model="claude-x", messages=[], stream=True,
                                             include_usage=include_usage))
    return b"".join(writer.write(event) for event in events) + writer.finish()


def test_stream_chunks_are_chat_completion_chunks():
    body = written(EVENTS)
    frames = body.split(b"\n\n")
    assert frames[-2:] == [b"data: [DONE]", b""]
    chunks = [json.loads(frame[len(b"data: "):]) for frame in frames[:-2]]
    for chunk in chunks:
        assert ChatCompletionChunk.model_validate(chunk).model_dump(mode="json", exclude_unset=True) == chunk
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 17
    starts = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:-2]
              if "tool_calls" in c["choices"][0]["delta"]]
    assert starts[0] == {"index": 0, "id": "toolu_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": ""}}
    assert starts[1] == {"index": 0, "function": {"arguments": '{"ci'}}


def test_sdk_create_stream_sees_the_events():
    chunks = list(serving(written(EVENTS)).chat.completions.create(model="m", messages=[USER], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert (text, reasoning) == ("Hello ✓", "hm")
    assert chunks[-1].usage.prompt_tokens == 10 and chunks[-1].usage.completion_tokens == 7
    assert {c.id for c in chunks} == {"chatcmpl-s1"}


def test_sdk_stream_helper_accumulates_the_answer():
    with serving(written(EVENTS)).chat.completions.stream(model="m", messages=[USER]) as stream:
        done = [(e.name, e.arguments) for e in stream if e.type == "tool_calls.function.arguments.done"]
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert done == [("get_weather", '{"city":"Paris"}'), ("get_time", "{}")]
    assert message.content == "Hello ✓" and final.choices[0].finish_reason == "tool_calls"
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls] == [
        ("toolu_1", "get_weather", '{"city":"Paris"}'), ("toolu_2", "get_time", "{}")]
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (10, 7)


def test_stream_without_include_usage_has_no_usage_chunk():
    chunks = list(serving(written(EVENTS, include_usage=False)).chat.completions.create(
        model="m", messages=[USER], stream=True))
    assert all(c.choices and c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_a_streamed_calls_only_answer_has_no_content_as_unstreamed():
    events = [StreamStart("s", "m"), ToolCallStart(0, "c", "f"), ToolCallDelta(0, "{}"), StreamEnd("tool_calls")]
    with serving(written(events)).chat.completions.stream(model="m", messages=[USER]) as stream:
        message = stream.get_final_completion().choices[0].message
    assert message.content is None and message.tool_calls[0].function.arguments == "{}"


@pytest.mark.parametrize("end", [StreamError("upstream overloaded"), StreamEnd("error"), None])
def test_stream_error_raises_in_the_sdk(end):
    body = written([StreamStart("s", "m"), TextDelta("par"), *([end] if end else [])])
    assert not body.endswith(b"[DONE]\n\n")
    seen = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in serving(body).chat.completions.create(model="m", messages=[USER], stream=True):
            seen.append(chunk)
    assert [c.choices[0].delta.content for c in seen] == ["", "par"]
    if isinstance(end, StreamError):
        assert caught.value.message == "upstream overloaded"


# -- upstream: answers, streams, errors ----------------------------------------------------------------------------
def test_read_answer_of_the_wire():
    answer = CODEC.read_answer(wire.completion("Let me check.", [wire.tool_call("get_weather", {"city": "Paris"})]))
    assert answer.parts == [Text("Let me check."), ToolCallPart("call_abc123", "get_weather", '{"city": "Paris"}')]
    assert (answer.id, answer.model, answer.finish_reason) == ("chatcmpl-x1", wire.MODEL, "tool_calls")
    assert answer.usage == Usage(input_tokens=44, output_tokens=16, cache_read_tokens=0)
    body = wire.completion(None, finish_reason="content_filter")
    body["choices"][0]["message"].update(refusal="I can't.", reasoning_content="policy")
    assert CODEC.read_answer(body).parts == [Reasoning("policy"), Text("I can't.")]
    assert CODEC.read_answer(body).finish_reason == "content_filter"


def _with_message(**fields: Any) -> dict:
    body = wire.completion("x")
    body["choices"][0]["message"].update(fields)
    return body


@pytest.mark.parametrize("body, field", [
    (wire.completion(None, [wire.custom_tool_call("grep", "x")]), "choices[0].message.tool_calls[0]"),
    (wire.function_call_completion("f", {}), "choices[0].message.function_call"),
    (wire.choices_completion([{"content": "a"}, {"content": "b"}], ["stop", "stop"]), "choices"),
    (_with_message(annotations=[{"type": "url_citation", "url_citation": {"url": "https://x"}}]),
     "choices[0].message.annotations"),
    (_with_message(audio={"id": "a", "data": "AA", "transcript": "hi"}), "choices[0].message.audio"),
    (_with_message(images=[{"type": "image_url"}]), "choices[0].message.images"),
    (_with_message(content=[{"type": "image_url", "image_url": {"url": "x"}}]), "choices[0].message.content[0]"),
])
def test_read_answer_untranslatable(body, field):
    with pytest.raises(Untranslatable) as caught:
        CODEC.read_answer(body)
    assert caught.value.field == field


def read_stream(chunks: list[bytes], bytewise: bool = False) -> list:
    reader = CODEC.stream_reader()
    data = b"".join(chunks)
    pieces = [data[i:i + 1] for i in range(len(data))] if bytewise else chunks
    events = [event for piece in pieces for event in reader.feed(piece)]
    return events + reader.finish()


def sdk_final(body: bytes) -> ChatCompletion:
    with serving(body).chat.completions.stream(model="m", messages=[USER]) as stream:
        return stream.get_final_completion()


def sdk_view(final: ChatCompletion) -> tuple:
    """What an application reads from a streamed answer: text, calls, finish reason, usage."""
    message = final.choices[0].message
    calls = [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []]
    return message.content, calls, final.choices[0].finish_reason, \
        final.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"})


def test_stream_reader_of_the_wire_split_anywhere():
    chunks = wire.tool_stream([("call_1", "get_weather", ['{"ci', 'ty":"Paris"}']), ("call_2", "get_time", ["{}"])],
                              text=["Sure ", "thing"])
    events = read_stream(chunks)
    assert events == read_stream(chunks, bytewise=True)
    assert events == [StreamStart("chatcmpl-ABfw", wire.MODEL), TextDelta("Sure "), TextDelta("thing"),
                      ToolCallStart(0, "call_1", "get_weather"), ToolCallDelta(0, '{"ci'),
                      ToolCallDelta(0, 'ty":"Paris"}'), ToolCallStart(1, "call_2", "get_time"),
                      ToolCallDelta(1, "{}"), StreamEnd("tool_calls", Usage(44, 16))]


def test_stream_reader_whole_calls_and_usage_with_the_finish():
    assert read_stream(wire.mistral_tool_stream("get_weather", {"city": "Paris"}))[1:] == [
        ToolCallStart(0, "D681PevKs", "get_weather"), ToolCallDelta(0, '{"city": "Paris"}'),
        StreamEnd("tool_calls", Usage(10, 20))]
    assert read_stream(wire.mistral_text_stream(["a", "b"]))[-1] == StreamEnd("stop", Usage(10, 5))
    # Ollama: every parallel call says index 0; a new id is a new call
    ollama = [wire.chunk(wire.choice({"tool_calls": [{"index": 0, "id": f"c{i}", "type": "function", "function": {
        "name": f"f{i}", "arguments": "{}"}}]})) for i in range(2)]
    ollama.append(wire.chunk(wire.choice({}, finish_reason="tool_calls")))
    events = read_stream(wire.chunks_stream(ollama))
    assert [e for e in events if isinstance(e, ToolCallStart)] == [ToolCallStart(0, "c0", "f0"),
                                                                   ToolCallStart(1, "c1", "f1")]


def test_stream_reader_reasoning_and_refusal():
    chunks = [wire.chunk(wire.choice({"role": "assistant", "reasoning_content": "think"})),
              wire.chunk(wire.choice({"reasoning": " more", "content": None})),
              wire.chunk(wire.choice({"refusal": "no"})), wire.chunk(wire.choice({}, finish_reason="stop"))]
    assert read_stream(wire.chunks_stream(chunks))[1:] == [ReasoningDelta("think"), ReasoningDelta(" more"),
                                                           TextDelta("no"), StreamEnd("stop", Usage(44, 16))]


def test_stream_reader_ends_and_errors():
    text = wire.text_stream(["hi"])
    assert read_stream(text[:-1])[-1] == StreamEnd("stop", Usage(44, 16))  # no [DONE]: ends at finish()
    assert read_stream(text[:2])[-1] == StreamError("the upstream stream ended before its finish reason")
    assert read_stream(text[:2] + [b"data: [DONE]\n\n"])[-1].__class__ is StreamError
    failed = read_stream(text[:2] + [wire.event(wire.error_body("overloaded", "server_error"))] + text[2:])
    assert failed[-1] == StreamError("overloaded") and sum(isinstance(e, (StreamEnd, StreamError)) for e in failed) == 1
    assert read_stream([]) == [StreamError("the upstream stream ended before its finish reason")]
    mistral = {"object": "error", "message": "Service unavailable", "type": "internal_error", "code": None}
    assert read_stream(text[:2] + [wire.event(mistral)])[-1] == StreamError("Service unavailable")


@pytest.mark.parametrize("chunks, field", [
    (wire.chunks_stream([wire.chunk(wire.choice({"tool_calls": [wire.fragment(0, "c", "grep", "x", kind="custom")]}))]),
     "choices[0].delta.tool_calls[0]"),
    (wire.function_call_stream(["f"], ["{}"]), "choices[0].delta.function_call"),
    (wire.chunks_stream([wire.chunk(wire.choice({"content": "a"}), wire.choice({"content": "b"}, index=1))]),
     "choices"),
    (wire.chunks_stream([wire.chunk(wire.choice({"content": "a"}, finish_reason="function_call"))]),
     "choices[0].finish_reason"),
    (wire.chunks_stream([wire.chunk(wire.choice({"tool_calls": [wire.fragment(0, "c", None, "{}")]}))]),
     "choices[0].delta.tool_calls[0]"),
    (wire.chunks_stream([wire.chunk(wire.choice({"annotations": [{"type": "url_citation"}]}))]),
     "choices[0].delta.annotations"),
    ([b"event: thread.message\ndata: {}\n\n"], "event thread.message"),
    (wire.chunks_stream([wire.chunk(wire.choice({"tool_calls": [wire.fragment("1", "c", "f", "{}")]}))]),
     "choices[0].delta.tool_calls[0].index"),
    (wire.chunks_stream([wire.chunk(wire.choice({"tool_calls": [{**wire.fragment(0, "c", "f", "{"),
                                                                 "custom": {"input": "rm -rf"}}]}))]),
     "choices[0].delta.tool_calls[0].custom"),
])
def test_stream_reader_untranslatable(chunks, field):
    with pytest.raises(Untranslatable) as caught:
        read_stream(chunks)
    assert caught.value.field == field


def test_upstream_stream_relayed_to_the_sdk_reads_as_the_upstream_itself():
    """Differential: the SDK reading the upstream wire and the SDK reading it through reader -> writer agree."""
    upstream = b"".join(wire.tool_stream([("call_1", "get_weather", ['{"city"', ':"Paris"}'])], text=["On it."]))
    relayed = written(read_stream([upstream]))
    assert sdk_view(sdk_final(relayed)) == sdk_view(sdk_final(upstream)) == (
        "On it.", [("call_1", "get_weather", '{"city":"Paris"}')], "tool_calls",
        {"prompt_tokens": 44, "completion_tokens": 16, "total_tokens": 60})


@settings(max_examples=60, deadline=None)
@given(text=st.lists(st.text(min_size=1, max_size=6), max_size=4),
       calls=st.lists(st.tuples(st.sampled_from(["get_weather", "send_email"]),
                                st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=4)), max_size=3),
       cuts=st.lists(st.integers(min_value=0, max_value=100_000), max_size=8))
def test_any_upstream_stream_reaches_the_sdk_as_it_was(text, calls, cuts):
    """Differential: whatever text and calls an upstream streams, cut anywhere, the SDK reading it through
    reader -> writer sees what it sees reading the upstream itself."""
    if calls:
        upstream = b"".join(wire.tool_stream([(f"call_{i}", name, frags) for i, (name, frags) in enumerate(calls)],
                                             text=text))
    else:
        upstream = b"".join(wire.text_stream(text))
    points = sorted({cut % (len(upstream) + 1) for cut in cuts})
    pieces = [upstream[a:b] for a, b in zip([0, *points], [*points, len(upstream)])]
    relayed = written(read_stream(pieces))
    assert sdk_view(sdk_final(relayed)) == sdk_view(sdk_final(upstream))


@pytest.mark.parametrize("status, kind", [(400, "invalid_request"), (401, "authentication"), (403, "permission"),
                                          (404, "not_found"), (429, "rate_limit"), (500, "api_error"),
                                          (503, "overloaded")])
def test_read_error(status, kind):
    error = CODEC.read_error(status, json.dumps(wire.error_body("Rate limit reached", "requests", "rate")).encode())
    assert (error.status, error.message, error.kind) == (status, "Rate limit reached", kind)


def test_read_error_other_bodies():
    assert CODEC.read_error(502, b"<html>Bad gateway</html>").message == "the upstream answered HTTP 502"
    mistral = {"object": "error", "message": "Tool call id was x", "type": "invalid_request_error"}
    assert CODEC.read_error(400, json.dumps(mistral).encode()).message == "Tool call id was x"
    assert CODEC.read_error(404, b'{"error": "model not found"}').message == "model not found"
