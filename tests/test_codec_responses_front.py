"""The Responses API front codec against the real openai SDK: what it renders is parsed by the SDK (a body by
``Response.model_validate``, a stream served through an httpx MockTransport to ``client.responses.create(
stream=True)`` and ``client.responses.stream(...)``), and what it reads is what the SDK really sends."""
from __future__ import annotations

import asyncio
import json
from typing import Any, Iterator

import agents
import httpx
import openai
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from archestra.exchange import Exchange, ProfileInfo
from archestra.families.neutral import (ChatAnswer, Image, Message, Reasoning, ReasoningDelta, StreamEnd,
                                        StreamError, StreamStart, Text, TextDelta, ToolCallDelta, ToolCallPart,
                                        ToolCallStart, ToolResultPart, ToolSpec, Untranslatable, Usage)
from archestra.families.responses_front import RESPONSES_FRONT, response_id
from archestra.providers.responses_stream import ResponsesStreamRelay
from tests.fakes import responses_wire
from tests.test_sdk_types_responses import sdk_types

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TEXT = "Let me look that up. Un instant… ✓"  # cut inside its UTF-8 characters by _split
USAGE = Usage(input_tokens=120, output_tokens=42, cache_read_tokens=100, cache_write_tokens=7)

ANSWER = ChatAnswer("msg_01XFDUDYJgAACzvnptvVoYEL", "claude-sonnet-4-5", [
    Reasoning("The user wants the weather.", signature="EqQBCkYIBxgCKkD"),
    Text("Let me look that up. "), Text("Un instant… ✓"),
    ToolCallPart("toolu_01A09q90qw90lq917835lq9", "get_weather", '{"city":"Paris"}'),
    ToolCallPart("toolu_01B", "get_weather", '{"city":"Lyon"}'),
], finish_reason="tool_calls", usage=USAGE)

EVENTS = [StreamStart(ANSWER.id, ANSWER.model), ReasoningDelta("The user wants "), ReasoningDelta("the weather."),
          ReasoningDelta(signature="EqQBCkYIBxgCKkD"), TextDelta("Let me look "), TextDelta("that up. Un instant… ✓"),
          ToolCallStart(0, "toolu_01A09q90qw90lq917835lq9", "get_weather"), ToolCallDelta(0, '{"city"'),
          ToolCallStart(1, "toolu_01B", "get_weather"), ToolCallDelta(0, ':"Paris"}'),
          ToolCallDelta(1, '{"city":"Lyon"}'), StreamEnd("tool_calls", USAGE)]


def _request(**fields: Any):
    return RESPONSES_FRONT.read_request({"model": "claude-sonnet-4-5", "input": "Weather in Paris and Lyon?",
                                         "tools": [WEATHER], **fields})


def _client(handler) -> openai.OpenAI:
    return openai.OpenAI(api_key="k", base_url="http://router.test/v1", max_retries=0,
                         http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def _serving(chunks: list[bytes]) -> openai.OpenAI:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": RESPONSES_FRONT.stream_content_type},
                              stream=httpx.ByteStream(b"".join(chunks)) if len(chunks) == 1 else _Chunks(chunks))
    return _client(handler)


class _Chunks(httpx.SyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks


def _stream_bytes(events, request=None) -> bytes:
    writer = RESPONSES_FRONT.stream_writer(request or _request(stream=True))
    return b"".join(writer.write(event) for event in events) + writer.finish()


def _split(data: bytes, size: int = 5) -> list[bytes]:
    """Cut anywhere, even inside a UTF-8 character."""
    return [data[i:i + size] for i in range(0, len(data), size)]


def _calls(response) -> list[tuple[str, str, str]]:
    return [(item.call_id, item.name, item.arguments) for item in response.output if item.type == "function_call"]


EXPECTED_CALLS = [("toolu_01A09q90qw90lq917835lq9", "get_weather", '{"city":"Paris"}'),
                  ("toolu_01B", "get_weather", '{"city":"Lyon"}')]


def _assert_usage(usage) -> None:
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (120, 42, 162)
    assert (usage.input_tokens_details.cached_tokens, usage.input_tokens_details.cache_write_tokens) == (100, 7)


# -- render_answer ------------------------------------------------------------------------------------------
def test_rendered_answer_parses_as_the_sdk_response_with_the_same_text_calls_and_usage():
    body = RESPONSES_FRONT.render_answer(ANSWER, _request())
    response = Response.model_validate(body)
    assert response.id == body["id"] == response_id(ANSWER.id) and response.id.startswith("resp_")
    assert response.status == "completed" and response.model == "claude-sonnet-4-5"
    assert response.output_text == TEXT
    assert _calls(response) == EXPECTED_CALLS
    assert [item.type for item in response.output] == ["reasoning", "message", "function_call", "function_call"]
    assert response.output[0].summary[0].text == "The user wants the weather."
    assert [tool.name for tool in response.tools] == ["get_weather"] and response.tool_choice == "auto"
    _assert_usage(response.usage)
    assert len({item.id for item in response.output}) == 4
    assert RESPONSES_FRONT.render_answer(ANSWER, _request())["output"] == body["output"]  # deterministic ids


def test_answer_cut_by_max_tokens_is_incomplete_and_an_openai_id_is_kept():
    answer = ChatAnswer("resp_abc", "gemini-2.5-pro", [Text("Once upon a")], finish_reason="length")
    response = Response.model_validate(RESPONSES_FRONT.render_answer(answer, _request(max_output_tokens=3)))
    assert (response.id, response.status, response.incomplete_details.reason) == ("resp_abc", "incomplete",
                                                                                  "max_output_tokens")
    assert response.output_text == "Once upon a" and response.max_output_tokens == 3 and response.usage is None


def test_rendered_output_sent_back_by_the_sdk_reads_as_the_same_conversation():
    """The usual loop: ``input += response.output`` plus the call outputs; the reasoning's signature survives
    the trip through the client (``store: false``)."""
    sent: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=RESPONSES_FRONT.render_answer(ANSWER, _request()))

    client = _client(handler)
    first = client.responses.create(model="claude-sonnet-4-5", input="Weather in Paris and Lyon?",
                                    tools=[WEATHER], store=False)
    client.responses.create(model="claude-sonnet-4-5", tools=[WEATHER], store=False, input=[
        {"role": "user", "content": "Weather in Paris and Lyon?"}, *first.output,
        {"type": "function_call_output", "call_id": "toolu_01A09q90qw90lq917835lq9", "output": "18C sunny"},
        {"type": "function_call_output", "call_id": "toolu_01B",
         "output": [{"type": "input_text", "text": "radar:"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"}]}])
    request = RESPONSES_FRONT.read_request(sent[1])
    assert request.messages == [
        Message("user", [Text("Weather in Paris and Lyon?")]),
        Message("assistant", [*ANSWER.parts[:1], Text(TEXT), *ANSWER.parts[3:]]),
        Message("user", [ToolResultPart("toolu_01A09q90qw90lq917835lq9", [Text("18C sunny")], name="get_weather"),
                         ToolResultPart("toolu_01B", [Text("radar:"), Image("image/png", PNG)], name="get_weather")]),
    ]


# -- stream_writer ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 7, 100000])
def test_stream_read_by_the_sdk_gives_the_same_text_calls_and_usage(size):
    data = _stream_bytes(EVENTS)
    client = _serving(_split(data, size))
    text, arguments, types = "", {}, []
    final = None
    for event in client.responses.create(model="claude-sonnet-4-5", input="Weather?", tools=[WEATHER], stream=True):
        types.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
        elif event.type == "response.function_call_arguments.delta":
            arguments[event.item_id] = arguments.get(event.item_id, "") + event.delta
        elif event.type == "response.completed":
            final = event.response
    assert text == TEXT == final.output_text
    assert sorted(arguments.values()) == ['{"city":"Lyon"}', '{"city":"Paris"}']
    assert _calls(final) == EXPECTED_CALLS
    _assert_usage(final.usage)
    assert final.id == response_id(ANSWER.id) and types[:2] == ["response.created", "response.in_progress"]
    assert final.output[0].encrypted_content == RESPONSES_FRONT.render_answer(ANSWER)["output"][0]["encrypted_content"]


def test_stream_helper_final_response_equals_the_rendered_answer():
    client = _serving(_split(_stream_bytes(EVENTS), 3))
    with client.responses.stream(model="claude-sonnet-4-5", input="Weather?",
                                 tools=[{**WEATHER, "strict": True}]) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    rendered = Response.model_validate(RESPONSES_FRONT.render_answer(ANSWER, _request()))
    assert "".join(deltas) == final.output_text == rendered.output_text
    assert _calls(final) == _calls(rendered) == EXPECTED_CALLS
    assert final.output[2].parsed_arguments == {"city": "Paris"}
    assert [(item.id, item.type) for item in final.output] == [(item.id, item.type) for item in rendered.output]
    assert final.output[0].encrypted_content == rendered.output[0].encrypted_content
    _assert_usage(final.usage)


def test_event_order_matches_the_apis_for_a_message_then_a_call():
    """The same output as the recorded wire fake: the same event types in the same order."""
    events = [StreamStart("x", "m"), TextDelta("Hi"), ToolCallStart(0, "call_1", "get_weather"),
              ToolCallDelta(0, "{}"), StreamEnd("tool_calls", Usage(1, 1))]
    ours = [line[len("event: "):] for line in _stream_bytes(events).decode().splitlines()
            if line.startswith("event: ")]
    fake = [e["type"] for e in responses_wire.stream_events(
        [responses_wire.message("Hi"), responses_wire.function_call("get_weather", "{}", "call_1")], size=100)]
    assert ours == fake
    data = [json.loads(line[6:]) for line in _stream_bytes(events).decode().splitlines() if line.startswith("data:")]
    assert [event["sequence_number"] for event in data] == list(range(len(data)))


def test_stream_cut_by_max_tokens_ends_incomplete_and_so_does_the_call_it_cut():
    client = _serving([_stream_bytes([StreamStart("x", "m"), TextDelta("Once upon"), ToolCallStart(0, "c", "f"),
                                      ToolCallDelta(0, '{"a": '), StreamEnd("length")])])
    events = list(client.responses.create(model="m", input="story", stream=True))
    last = events[-1]
    assert last.type == "response.incomplete" and last.response.incomplete_details.reason == "max_output_tokens"
    assert last.response.output_text == "Once upon"
    assert [item.status for item in last.response.output] == ["completed", "incomplete"]
    assert [e.item.status for e in events if e.type == "response.output_item.done"] == ["completed", "incomplete"]
    rendered = RESPONSES_FRONT.render_answer(ChatAnswer("x", "m", [Text("Once upon"), ToolCallPart("c", "f", '{"a": ')],
                                                        finish_reason="length"))
    assert [item["status"] for item in rendered["output"]] == ["completed", "incomplete"]


def test_upstream_error_mid_call_ends_with_an_error_event_and_the_call_never_completes():
    data = _stream_bytes([StreamStart("x", "m"), TextDelta("Sure"), ToolCallStart(0, "call_1", "rm"),
                          ToolCallDelta(0, '{"path": "/'), StreamError("overloaded"), TextDelta("late")])
    events = list(_serving([data]).responses.create(model="m", input="go", stream=True))
    assert events[-1].type == "error" and events[-1].message == "overloaded"
    done = [e.item.type for e in events if e.type == "response.output_item.done"]
    assert done == ["message"]  # the unfinished call was never closed
    with pytest.raises(RuntimeError, match="response.completed"):
        with _serving([data]).responses.stream(model="m", input="go") as stream:
            stream.get_final_response()


# -- read_request -------------------------------------------------------------------------------------------
def _sent(**kwargs: Any) -> dict:
    """The body the openai SDK sends for ``client.responses.create(**kwargs)``."""
    sent: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=RESPONSES_FRONT.render_answer(ChatAnswer("a", "m", [Text("ok")])))

    _client(handler).responses.create(**kwargs)
    return sent[0]


def test_reads_what_the_sdk_sends_with_instructions_tools_images_and_settings():
    body = _sent(model="claude-sonnet-4-5", instructions="Be brief.", tools=[{**WEATHER, "strict": True}],
                 tool_choice={"type": "function", "name": "get_weather"}, parallel_tool_calls=False,
                 max_output_tokens=256, temperature=0.2, top_p=0.9, store=False, user="u-1", metadata={"k": "v"},
                 reasoning={"effort": "low"}, include=["reasoning.encrypted_content"], truncation="disabled",
                 text={"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": True}},
                 input=[{"role": "developer", "content": "Use metric units."},
                        {"role": "user", "content": [
                            {"type": "input_text", "text": "What is this?"},
                            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
                            {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "high"}]},
                        {"role": "assistant", "content": "A cat."},
                        {"role": "system", "content": "Answer in French."},
                        {"role": "user", "content": "Thanks"}])
    request = RESPONSES_FRONT.read_request(body)
    assert request.system == [Text("Be brief."), Text("Use metric units."), Text("Answer in French.")]
    assert request.messages == [
        Message("user", [Text("What is this?"), Image(url="https://example.com/a.png"), Image("image/png", PNG)]),
        Message("assistant", [Text("A cat.")]), Message("user", [Text("Thanks")])]
    assert request.tools == [ToolSpec("get_weather", "Weather of a city", WEATHER["parameters"])]
    assert (request.tool_choice, request.parallel_tool_calls, request.max_tokens, request.temperature,
            request.top_p) == ("get_weather", False, 256, 0.2, 0.9)
    assert request.response_format == {"type": "json_schema", "name": "w", "schema": {"type": "object"},
                                       "strict": True}
    assert request.stream is False


def test_previous_conversation_is_prepended_and_names_the_results():
    previous = [Message("user", [Text("Weather?")]),
                Message("assistant", [ToolCallPart("toolu_9", "get_weather", '{"city":"Oslo"}')])]
    body = _sent(model="m", previous_response_id="resp_1", stream=False,
                 input=[{"type": "function_call_output", "call_id": "toolu_9", "output": "-3C"}])
    request = RESPONSES_FRONT.read_request(body, previous)
    assert request.messages == [*previous, Message("user", [ToolResultPart("toolu_9", [Text("-3C")],
                                                                           name="get_weather")])]


def test_reasoning_items_without_content_are_dropped_and_encrypted_ones_kept():
    body = _sent(model="m", input=[
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "reasoning", "id": "rs_2", "summary": [{"type": "summary_text", "text": "Think"}],
         "encrypted_content": "gAAAAB"},
        {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
         "content": [{"type": "output_text", "text": "Hello", "annotations": []},
                     {"type": "refusal", "refusal": "Not that."}]}])
    assert RESPONSES_FRONT.read_request(body).messages == [
        Message("user", [Text("hi")]),
        Message("assistant", [Reasoning("Think", encrypted="gAAAAB"), Text("Hello"), Text("Not that.")])]


@pytest.mark.parametrize("fields, named", [
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"tools": [{"type": "mcp", "server_label": "x", "server_url": "https://x"}]}, "tools[0].type"),
    ({"tool_choice": {"type": "file_search"}}, "tool_choice"),
    ({"conversation": "conv_1"}, "request.conversation"),
    ({"background": True}, "background"),
    ({"prompt": {"id": "pmpt_1"}}, "request.prompt"),
    ({"truncation": "auto"}, "truncation"),
    ({"include": ["file_search_call.results"]}, "include: file_search_call.results"),
    ({"max_tool_calls": 3}, "request.max_tool_calls"),
    ({"text": {"format": {"type": "json_schema", "name": "w", "schema": {}, "description": "d"}}},
     "text.format.description"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ({"input": [{"type": "web_search_call", "id": "ws_1", "status": "completed",
                 "action": {"type": "search", "query": "q"}}]}, "input[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file_1"}]}]},
     "input[0].content[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1", "detail": "auto"}]}]},
     "input[0].content[0].file_id"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "ftp://x/a.png",
                                              "detail": "auto"}]}]}, "input[0].content[0].image_url"),
    ({"input": [{"type": "function_call", "call_id": "c", "name": "n", "arguments": "{}", "namespace": "ns"}]},
     "input[0].namespace"),
])
def test_untranslatable_fields_are_named(fields, named):
    with pytest.raises(Untranslatable) as raised:
        RESPONSES_FRONT.read_request(_sent(**{"model": "m", "input": "hi", **fields}))
    assert raised.value.field == named


@pytest.mark.parametrize("extra, named", [({"id": "resp_1"}, "request.id"), ({"future_knob": 1}, "request.future_knob"),
                                          ({"text": {"format": {"type": "text"}, "id": 1}}, "text.id")])
def test_unknown_fields_are_untranslatable_even_where_items_ignore_such_keys(extra, named):
    with pytest.raises(Untranslatable) as raised:
        RESPONSES_FRONT.read_request(_sent(model="m", input="hi", extra_body=extra))
    assert raised.value.field == named


def test_every_sdk_input_item_type_is_read_or_refused_by_name():
    readable = {"message", "function_call", "function_call_output", "reasoning"}
    for kind in sdk_types(__import__("openai.types.responses.response_input_item_param",
                                     fromlist=["x"]).ResponseInputItemParam) - readable:
        with pytest.raises(Untranslatable) as raised:
            RESPONSES_FRONT.read_request({"model": "m", "input": [{"type": kind, "id": "x"}]})
        assert raised.value.field == "input[0].type" and repr(kind) in raised.value.reason


def _events(data: bytes) -> list[dict]:
    lines = data.decode().splitlines()
    events = [json.loads(line[len("data: "):]) for line in lines if line.startswith("data: ")]
    assert [line[len("event: "):] for line in lines if line.startswith("event: ")] == [e["type"] for e in events]
    return events


@pytest.mark.parametrize("events", [
    EVENTS,
    [StreamStart("x", "m"), ReasoningDelta(signature="only-a-signature"), ReasoningDelta("second block"),
     TextDelta(""), TextDelta("done"), StreamEnd("stop", Usage(3, 4))],
    [StreamStart("x", "m"), TextDelta("partial"), StreamEnd("error")],
    [StreamError("upstream refused")],
])
def test_every_event_validates_against_the_sdks_stream_event_union(events):
    """Strict validation (not the SDK's lenient construct): every field the SDK's types require is there."""
    adapter = TypeAdapter(ResponseStreamEvent)
    parsed = [adapter.validate_python(event) for event in _events(_stream_bytes(events))]
    assert parsed[0].type == "response.created"
    assert [event.sequence_number for event in parsed] == list(range(len(parsed)))


def test_reasoning_blocks_end_at_their_signature():
    data = _stream_bytes([StreamStart("x", "m"), ReasoningDelta("one"), ReasoningDelta(signature="s1"),
                          ReasoningDelta("two"), ReasoningDelta(signature="s2"), TextDelta("answer"),
                          StreamEnd("stop")])
    final = _events(data)[-1]["response"]
    request = RESPONSES_FRONT.read_request({"model": "m", "input": [{"role": "user", "content": "q"},
                                                                   *final["output"]]})
    assert request.messages[1] == Message("assistant", [Reasoning("one", signature="s1"),
                                                        Reasoning("two", signature="s2"), Text("answer")])


def test_a_failed_answer_is_a_failed_response():
    last = list(_serving([_stream_bytes([StreamStart("x", "m"), TextDelta("par"), StreamEnd("error")])])
                .responses.create(model="m", input="q", stream=True))[-1]
    assert last.type == "response.failed" and last.response.error.code == "server_error"
    rendered = Response.model_validate(RESPONSES_FRONT.render_answer(ChatAnswer("x", "m", [], "error")))
    assert rendered.status == "failed" and rendered.output == []


@pytest.mark.parametrize("events, said", [
    ([ToolCallStart(0, "c1", "f"), TextDelta("then"), ToolCallDelta(0, "{}")], "tool call 0, which is not open"),
    ([ToolCallDelta(3, "{}")], "tool call 3, which is not open"),
    ([ToolCallStart(0, "c1", "f"), ToolCallStart(0, "c2", "g")], "started tool call 0 twice"),
])
def test_inconsistent_call_events_end_the_stream_with_an_error(events, said):
    data = _stream_bytes([StreamStart("x", "m"), *events, StreamEnd("stop")])
    written = _events(data)
    assert written[-1]["type"] == "error" and said in written[-1]["message"]
    assert "response.completed" not in [e["type"] for e in written]


@pytest.mark.parametrize("refuse", [False, True])
def test_the_proxys_own_responses_relay_decides_the_calls_of_the_written_stream(refuse):
    """The router judges the bytes the client will parse with the Responses family's relay: it finds every call
    of the written stream, passes the stream unchanged when they are allowed and replaces them when refused."""
    decided = []

    def decide(calls, results):
        decided.extend((call.id, call.name, call.arguments) for call in calls)
        return "refused by the test" if refuse else None

    relay = ResponsesStreamRelay(Exchange("openai", ProfileInfo("p", "p"), "m", stream=True), decide)
    data = _stream_bytes(EVENTS)
    out = b"".join(relay.feed_bytes(chunk) for chunk in _split(data, 11)) + relay.finish_bytes()
    assert decided == [
        (call_id, name, json.loads(arguments)) for call_id, name, arguments in EXPECTED_CALLS]
    with _serving([out]).responses.stream(model="m", input="q") as stream:
        final = stream.get_final_response()
    if refuse:
        assert _calls(final) == [] and "refused by the test" in final.output_text
    else:
        assert out == data and _calls(final) == EXPECTED_CALLS


# -- a real agent loop --------------------------------------------------------------------------------------
def _as_events(answer: ChatAnswer) -> list:
    """The neutral events of a streamed ``answer`` (texts and reasoning in pieces, calls in two fragments)."""
    events: list = [StreamStart(answer.id, answer.model)]
    calls = 0
    for part in answer.parts:
        if isinstance(part, Text):
            events += [TextDelta(part.text[i:i + 4]) for i in range(0, len(part.text), 4)]
        elif isinstance(part, Reasoning):
            events += [ReasoningDelta(part.text), ReasoningDelta(signature=part.signature)]
        else:
            half = len(part.arguments) // 2
            events += [ToolCallStart(calls, part.id, part.name), ToolCallDelta(calls, part.arguments[:half]),
                       ToolCallDelta(calls, part.arguments[half:])]
            calls += 1
    return events + [StreamEnd(answer.finish_reason, answer.usage)]


@pytest.mark.parametrize("streamed", [False, True])
def test_an_openai_agents_tool_loop_runs_on_answers_from_another_provider(streamed):
    """openai-agents (Responses API by default) calls a tool the answer asked for and sends its output back;
    each request it sends is read, each answer rendered (or streamed) by the codec."""
    answers = [ChatAnswer("msg_1", "claude-sonnet-4-5", [Reasoning("Need weather.", signature="sig1"),
                                                         Text("Checking."), ToolCallPart("toolu_1", "get_weather",
                                                                                         '{"city":"Paris"}')],
                          "tool_calls", Usage(50, 10)),
               ChatAnswer("msg_2", "claude-sonnet-4-5", [Text("Sunny, 18C in Paris.")], "stop", Usage(80, 6))]
    requests = []

    def handler(http_request: httpx.Request) -> httpx.Response:
        request = RESPONSES_FRONT.read_request(json.loads(http_request.content))
        answer = answers[len(requests)]
        requests.append(request)
        if not request.stream:
            return httpx.Response(200, json=RESPONSES_FRONT.render_answer(answer, request))
        return httpx.Response(200, headers={"content-type": "text/event-stream"},
                              content=_stream_bytes(_as_events(answer), request))

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Weather of a city."""
        return f"18C in {city}"

    client = openai.AsyncOpenAI(api_key="k", base_url="http://router.test/v1", max_retries=0,
                                http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    agent = agents.Agent(name="weather", instructions="Be brief.", tools=[get_weather],
                         model=agents.OpenAIResponsesModel("claude-sonnet-4-5", client))

    untraced = agents.RunConfig(tracing_disabled=True)

    async def run() -> str:
        if not streamed:
            return (await agents.Runner.run(agent, "Weather in Paris?", run_config=untraced)).final_output
        result = agents.Runner.run_streamed(agent, "Weather in Paris?", run_config=untraced)
        async for _ in result.stream_events():
            pass
        return result.final_output

    assert asyncio.run(run()) == "Sunny, 18C in Paris."
    assert [request.stream for request in requests] == [streamed, streamed]
    assert requests[1].system == [Text("Be brief.")]
    assert requests[1].messages == [
        Message("user", [Text("Weather in Paris?")]), Message("assistant", answers[0].parts),
        Message("user", [ToolResultPart("toolu_1", [Text("18C in Paris")], name="get_weather")])]


def test_structured_output_through_responses_parse():
    """``client.responses.parse(text_format=Model)``: the schema is read as the neutral response format, and the
    SDK parses the rendered answer's text into the model."""
    class Weather(pydantic.BaseModel):
        city: str
        celsius: int

    seen = []

    def handler(http_request: httpx.Request) -> httpx.Response:
        request = RESPONSES_FRONT.read_request(json.loads(http_request.content))
        seen.append(request.response_format)
        answer = ChatAnswer("msg_1", "gemini-2.5-pro", [Text('{"city":"Paris","celsius":18}')])
        return httpx.Response(200, json=RESPONSES_FRONT.render_answer(answer, request))

    parsed = _client(handler).responses.parse(model="gemini-2.5-pro", input="Weather?", text_format=Weather)
    assert parsed.output_parsed == Weather(city="Paris", celsius=18)
    assert seen[0]["type"] == "json_schema" and seen[0]["name"] == "Weather" and seen[0]["strict"] is True
    assert seen[0]["schema"]["properties"] == {"city": {"title": "City", "type": "string"},
                                              "celsius": {"title": "Celsius", "type": "integer"}}
