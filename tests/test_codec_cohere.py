"""The Cohere v2 chat upstream codec (archestra/families/cohere_chat*.py), checked against the cohere SDK.

What the codec writes is validated by the SDK's own request types (every message, tool and format, with no
field the types do not know) and is exactly what ``ClientV2.chat`` sends for it; answers and streams built with
``tests/fakes/cohere_wire.py`` are read both by the codec and by the SDK (``chat`` / ``chat_stream`` over an
in-process transport) and must agree on text, reasoning, tool calls and finish reason, with the stream cut into
chunks anywhere. The Untranslatable cases are named one by one.
"""
from __future__ import annotations

import json
import typing
from typing import Any

import cohere
import httpx
import pydantic
import pytest

from archestra.families.cohere_chat import COHERE, DROPPED_FIELDS
from archestra.families.neutral import (ChatRequest, Image, Message, Reasoning, ReasoningDelta, StreamEnd,
                                        StreamError, StreamStart, Text, TextDelta, ToolCallDelta, ToolCallPart,
                                        ToolCallStart, ToolResultPart, ToolSpec, Untranslatable, Usage)
from archestra.providers.cohere import Cohere
from tests.fakes import cohere_wire as wire

#: What a user of each family expects Cohere's finish reasons to mean (independent of the codec's table).
FINISH = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length", "TOOL_CALL": "tool_calls",
          "ERROR": "error", "TIMEOUT": "error"}
_HINTS = typing.get_type_hints(cohere.ClientV2.chat)
WEATHER = ToolSpec("get_weather", "The weather in a city",
                   {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


# -- helpers -------------------------------------------------------------------------------------------------
def _no_extras(value: Any, where: str) -> None:
    """The SDK's models allow unknown fields: a misspelt one would pass validation, so look for any."""
    if isinstance(value, pydantic.BaseModel):
        assert not value.model_extra, f"{where}: fields the SDK types do not know: {value.model_extra}"
        for name in type(value).model_fields:
            _no_extras(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _no_extras(item, f"{where}[{i}]")


def validate(body: dict[str, Any]) -> None:
    """``body`` is a v2 chat request the SDK's own types accept, field by field."""
    assert set(body) - {"stream"} <= set(_HINTS) - {"request_options", "return"}
    assert isinstance(body["stream"], bool)
    for name, value in body.items():
        if name == "tool_choice":
            assert value in ("REQUIRED", "NONE")  # typed Literal[...] | Any: the Any would let anything pass
        elif name != "stream":
            _no_extras(pydantic.TypeAdapter(_HINTS[name]).validate_python(value), name)


def client(handler: Any) -> cohere.ClientV2:
    return cohere.ClientV2(api_key="k", base_url="http://upstream.test",
                           httpx_client=httpx.Client(transport=httpx.MockTransport(handler)))


def sent_by_sdk(body: dict[str, Any]) -> dict[str, Any]:
    """The body ``ClientV2.chat`` / ``chat_stream`` sends when called with the codec's fields."""
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        if seen[-1]["stream"]:
            return httpx.Response(200, content=b"".join(wire.text_stream(["ok"])),
                                  headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=wire.response("ok"))

    fields = {name: value for name, value in body.items() if name != "stream"}
    if body["stream"]:
        list(client(handler).chat_stream(**fields))
    else:
        client(handler).chat(**fields)
    return seen[0]


def request(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model="command-a-03-2025", messages=list(messages), **fields)


# -- write_request -------------------------------------------------------------------------------------------
def test_a_whole_tool_turn_is_written_as_the_sdk_types_and_sent_unchanged_by_the_sdk():
    req = request(
        Message("user", [Text("Weather in Paris?"), Image(media_type="image/png", data="iVBORw0KGgo="),
                         Image(url="https://example.com/map.jpg")]),
        Message("assistant", [Reasoning("I will look up the weather."),
                              ToolCallPart("get_weather_p1t92w7gfgq7", "get_weather", '{"city":"Paris"}'),
                              ToolCallPart("get_weather_2", "get_weather", '{"city":"Lyon"}')]),
        Message("user", [ToolResultPart("get_weather_p1t92w7gfgq7", [Text("sunny")], is_error=False),
                         ToolResultPart("get_weather_2", [Text("rain"), Text("12C")]), Text("And tomorrow?")]),
        system=[Text("Be brief.")], tools=[WEATHER, ToolSpec("now")], tool_choice="required", max_tokens=300,
        temperature=0.2, top_p=0.9, stop=["END"], stream=True)
    body = COHERE.write_request(req)
    validate(body)
    assert sent_by_sdk(body) == body
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "Weather in Paris?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/map.jpg"}}]},
        {"role": "assistant", "tool_plan": "I will look up the weather.", "tool_calls": [
            {"id": "get_weather_p1t92w7gfgq7", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "get_weather_2", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Lyon"}'}}]},
        {"role": "tool", "tool_call_id": "get_weather_p1t92w7gfgq7", "content": "sunny"},
        {"role": "tool", "tool_call_id": "get_weather_2",
         "content": [{"type": "text", "text": "rain"}, {"type": "text", "text": "12C"}]},
        {"role": "user", "content": "And tomorrow?"}]
    assert body["tools"][1] == {"type": "function",
                                "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}
    assert {k: body[k] for k in ("tool_choice", "max_tokens", "temperature", "p", "stop_sequences", "stream")} == {
        "tool_choice": "REQUIRED", "max_tokens": 300, "temperature": 0.2, "p": 0.9, "stop_sequences": ["END"],
        "stream": True}


def test_text_next_to_calls_goes_into_the_tool_plan_which_cohere_takes_instead():
    body = COHERE.write_request(request(
        Message("user", [Text("Weather in Paris?")]),
        Message("assistant", [Reasoning("The user wants weather."), Text("Let me check."),
                              ToolCallPart("c1", "get_weather", '{"city":"Paris"}')]),
        Message("user", [ToolResultPart("c1", [Text("sunny")])]), tools=[WEATHER]))
    validate(body)
    assert body["messages"][1] == {"role": "assistant", "tool_plan": "The user wants weather.\n\nLet me check.",
                                   "tool_calls": [{"id": "c1", "type": "function", "function": {
                                       "name": "get_weather", "arguments": '{"city":"Paris"}'}}]}


def test_reasoning_goes_back_as_thinking_without_calls_and_opaque_reasoning_is_dropped():
    body = COHERE.write_request(request(
        Message("user", [Text("2+2?")]),
        Message("assistant", [Reasoning("", signature="sig"), Reasoning("add them"), Text("4")]),
        Message("user", [Text("thanks")]), system=[Text("a"), Text("b")]))
    validate(body)
    assert sent_by_sdk(body) == body
    assert body["messages"][0] == {"role": "system", "content": [{"type": "text", "text": "a"},
                                                                 {"type": "text", "text": "b"}]}
    assert body["messages"][2] == {"role": "assistant", "content": [{"type": "thinking", "thinking": "add them"},
                                                                    {"type": "text", "text": "4"}]}
    assert "reasoning.signature" in DROPPED_FIELDS and "tool_result.is_error" in DROPPED_FIELDS
    assert "tools" not in body and "tool_choice" not in body


@pytest.mark.parametrize("top_p, p", [(1.0, 0.99), (0.0, 0.01), (0.5, 0.5)])
def test_top_p_is_kept_in_cohere_range(top_p, p):
    assert COHERE.write_request(request(Message("user", [Text("hi")]), top_p=top_p))["p"] == p


@pytest.mark.parametrize("fmt, written", [
    ({"type": "json_object"}, {"type": "json_object"}),
    ({"type": "json_schema", "name": "city", "strict": True, "schema": {"type": "object"}},
     {"type": "json_object", "json_schema": {"type": "object"}}),
    ({"type": "text"}, {"type": "text"}),
])
def test_response_formats(fmt, written):
    body = COHERE.write_request(request(Message("user", [Text("json please")]), response_format=fmt))
    validate(body)
    assert body["response_format"] == written


@pytest.mark.parametrize("choice, written", [("none", "NONE"), ("required", "REQUIRED"), ("auto", None),
                                             (None, None)])
def test_tool_choice(choice, written):
    body = COHERE.write_request(request(Message("user", [Text("hi")]), tools=[WEATHER], tool_choice=choice))
    validate(body)
    assert body.get("tool_choice") == written


@pytest.mark.parametrize("req, field", [
    (request(Message("user", [Text("hi")]), tools=[WEATHER], tool_choice="get_weather"), "tool_choice"),
    (request(Message("user", [Text("hi")]), tools=[WEATHER], parallel_tool_calls=False), "parallel_tool_calls"),
    (request(Message("user", [ToolResultPart("c1", [Image(media_type="image/png", data="AA==")])])),
     "tool_result.image"),
    (request(Message("user", [Image(data="AA==")])), "image.media_type"),
    (request(Message("user", [Image()])), "image"),
    (request(Message("user", [ToolCallPart("c1", "f", "{}")])), "user.ToolCallPart"),
    (request(Message("assistant", [ToolResultPart("c1", [Text("x")])])), "assistant.ToolResultPart"),
    (request(Message("assistant", [Image(url="https://x.test/a.png")])), "assistant.Image"),
    (request(Message("user", [Text("hi")]), response_format={"type": "grammar"}), "response_format.type"),
    (request(Message("user", [Text("hi")]), response_format={"type": "json_schema"}), "response_format.schema"),
])
def test_untranslatable_requests(req, field):
    with pytest.raises(Untranslatable) as raised:
        COHERE.write_request(req)
    assert raised.value.field == field


def test_path_is_the_route_the_cohere_provider_serves_as_chat():
    for stream in (False, True):
        path, query = COHERE.path("command-a-03-2025", stream)
        assert query == ""
        assert Cohere().route("POST", path, {}).kind == "chat"


# -- read_answer ---------------------------------------------------------------------------------------------
def sdk_answer(body: dict[str, Any]) -> cohere.V2ChatResponse:
    return client(lambda request: httpx.Response(200, json=body)).chat(
        model="m", messages=[{"role": "user", "content": "hi"}])


THINKING_ANSWER = {"id": "c2", "finish_reason": "COMPLETE", "usage": wire.USAGE, "message": {
    "role": "assistant", "content": [{"type": "thinking", "thinking": "Paris is in France."},
                                     {"type": "text", "text": "Sunny in Paris."}],
    "citations": [{"start": 0, "end": 5, "text": "Sunny", "type": "TEXT_CONTENT", "content_index": 1,
                   "sources": [{"type": "tool", "id": "get_weather_p1t92w7gfgq7:0",
                                "tool_output": {"weather": "sunny"}}]}]}}


@pytest.mark.parametrize("body", [
    wire.response("Sunny in Paris."),
    wire.response(None, [wire.tool_call("get_weather", {"city": "Paris"}),
                         wire.tool_call("get_weather", {"city": "Lyon"}, "get_weather_2")]),
    wire.response("Let me check.", [wire.tool_call("get_weather", {"city": "Paris"})]),
    THINKING_ANSWER,
], ids=["text", "parallel-calls", "text-and-call", "thinking-and-citation"])
def test_answers_read_as_the_sdk_reads_them(body):
    answer = COHERE.read_answer(body)
    sdk = sdk_answer(body)
    message = sdk.message
    assert answer.id == sdk.id
    assert [p.text for p in answer.parts if isinstance(p, Text)] == [
        c.text for c in message.content or [] if c.type == "text"]
    assert [p.text for p in answer.parts if isinstance(p, Reasoning)] == [
        c.thinking for c in message.content or [] if c.type == "thinking"] + ([message.tool_plan] if
                                                                             message.tool_plan else [])
    assert [(p.id, p.name, p.arguments) for p in answer.parts if isinstance(p, ToolCallPart)] == [
        (c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []]
    assert answer.finish_reason == FINISH[sdk.finish_reason]
    assert answer.usage == Usage(input_tokens=913, output_tokens=83)


@pytest.mark.parametrize("reason", sorted(FINISH))
def test_finish_reasons(reason):
    assert COHERE.read_answer({**wire.response("x"), "finish_reason": reason}).finish_reason == FINISH[reason]


def test_usage_falls_back_to_billed_units_and_reads_cached_tokens():
    body = {**wire.response("x"), "usage": {"billed_units": {"input_tokens": 37.0, "output_tokens": 28.0},
                                            "cached_tokens": 12.0}}
    assert COHERE.read_answer(body).usage == Usage(input_tokens=37, output_tokens=28, cache_read_tokens=12)
    assert COHERE.read_answer({**wire.response("x"), "usage": None}).usage == Usage()


@pytest.mark.parametrize("change, field", [
    (lambda b: b["message"]["content"].append({"type": "image_url", "image_url": {"url": "x"}}),
     "content.image_url"),
    (lambda b: b["message"].update(images=[{"url": "x"}]), "message.images"),
    (lambda b: b.update(search_results=[]), "search_results"),
    (lambda b: b.update(finish_reason="USER_CANCEL"), "finish_reason"),
    (lambda b: b["message"].update(citations=[{"text": "S", "sources": [{"type": "web", "url": "x"}]}]),
     "citations.sources.web"),
    (lambda b: b["message"].update(tool_calls=[{"id": "c", "type": "retrieval", "function": {"name": "f"}}]),
     "tool_calls"),
    (lambda b: b.pop("message"), "message"),
])
def test_untranslatable_answers(change, field):
    body = json.loads(json.dumps(wire.response("Sunny.")))
    change(body)
    with pytest.raises(Untranslatable) as raised:
        COHERE.read_answer(body)
    assert raised.value.field == field


# -- stream_reader -------------------------------------------------------------------------------------------
def _thinking_stream() -> list[bytes]:
    blocks = [({"type": "thinking", "thinking": ""}, "thinking", ["Paris ", "is in France."]),
              ({"type": "text", "text": ""}, "text", ["Sunny ", "in Paris ☀"])]
    out = []
    for index, (start, key, pieces) in enumerate(blocks):
        out.append(wire.event({"type": "content-start", "index": index, "delta": {"message": {"content": start}}}))
        out += [wire.event({"type": "content-delta", "index": index, "delta": {"message": {"content": {key: p}}}})
                for p in pieces]
        out.append(wire.event({"type": "content-end", "index": index}))
    citation = {"start": 0, "end": 5, "text": "Sunny", "sources": [{"type": "tool", "id": "t:0",
                                                                    "tool_output": {"weather": "sunny"}}]}
    out += [wire.event({"type": "citation-start", "index": 0, "delta": {"message": {"citations": citation}}}),
            wire.event({"type": "citation-end", "index": 0}), wire.event({"type": "debug", "prompt": "<prompt>"})]
    return wire.stream(*out, reason="COMPLETE") + [b"data: [DONE]\n\n"]


def _text_then_calls() -> list[bytes]:
    text = wire.text_stream(["Let me ", "check."])[1:-1]  # its content-start ... content-end
    return wire.stream(*text, *wire.tool_call_events(1, "get_weather", ['"Paris"}'], "c_a", '{"city": '),
                       *wire.tool_call_events(2, "get_time", ['{"tz": ', '"CET"}'], "c_b"))


STREAMS = {
    "text": wire.text_stream(["Hel", "lo, ", "wörld ✓"]),
    "tool": wire.tool_stream("get_weather", ['{"ci', 'ty": "Pa', 'ris"}']),
    "tool-start-arguments": wire.tool_stream("get_weather", ['"Paris"}'], start_arguments='{"city": '),
    "text-then-calls": _text_then_calls(),
    "thinking-citation-debug-done": _thinking_stream(),
    "max-tokens": wire.stream(*wire.text_stream(["cut"])[1:-1], reason="MAX_TOKENS"),
}


def read_stream(chunks: list[bytes]) -> list[Any]:
    reader = COHERE.stream_reader()
    assert reader.framing == "sse"
    events = [event for chunk in chunks for event in reader.feed(chunk)]
    return events + reader.finish()


def collapse(events: list[Any]) -> dict[str, Any]:
    calls: dict[int, list[str]] = {}
    for event in events:
        if isinstance(event, ToolCallStart):
            calls[event.index] = [event.id, event.name, ""]
        elif isinstance(event, ToolCallDelta):
            calls[event.index][2] += event.arguments
    ends = [event for event in events if isinstance(event, StreamEnd)]
    return {"id": events[0].id, "text": "".join(e.text for e in events if isinstance(e, TextDelta)),
            "reasoning": "".join(e.text for e in events if isinstance(e, ReasoningDelta)),
            "calls": [calls[i] for i in sorted(calls)], "finish": ends[0].finish_reason if ends else None,
            "usage": (ends[0].usage.input_tokens, ends[0].usage.output_tokens) if ends else None}


def sdk_stream(body: bytes) -> dict[str, Any]:
    """What an application reading ``chat_stream`` gets: text, thinking and plan, calls by index, finish."""
    seen: dict[str, Any] = {"text": "", "reasoning": "", "calls": {}}
    transport = client(lambda request: httpx.Response(200, content=body,
                                                      headers={"content-type": "text/event-stream"}))
    for event in transport.chat_stream(model="m", messages=[{"role": "user", "content": "hi"}]):
        if event.type == "message-start":
            seen["id"] = event.id
        elif event.type in ("content-start", "content-delta"):
            content = event.delta.message.content
            seen["text"] += content.text or ""
            seen["reasoning"] += content.thinking or ""
        elif event.type == "tool-plan-delta":
            seen["reasoning"] += event.delta.message.tool_plan
        elif event.type == "tool-call-start":
            call = event.delta.message.tool_calls
            seen["calls"][event.index] = [call.id, call.function.name, call.function.arguments or ""]
        elif event.type == "tool-call-delta":
            seen["calls"][event.index][2] += event.delta.message.tool_calls.function.arguments
        elif event.type == "message-end":
            seen["finish"] = FINISH[event.delta.finish_reason]
            seen["usage"] = (int(event.delta.usage.tokens.input_tokens), int(event.delta.usage.tokens.output_tokens))
    seen["calls"] = [seen["calls"][i] for i in sorted(seen["calls"])]
    return seen


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_streams_read_as_the_sdk_reads_them(name):
    chunks = STREAMS[name]
    events = read_stream(chunks)
    assert isinstance(events[0], StreamStart) and isinstance(events[-1], StreamEnd)
    assert collapse(events) == sdk_stream(b"".join(chunks))


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_chunk_boundaries_anywhere_give_the_same_events(name):
    body = b"".join(STREAMS[name])
    whole = read_stream([body])
    assert read_stream([body[i:i + 1] for i in range(len(body))]) == whole
    for cut in range(1, len(body), 7):
        assert read_stream([body[:cut], body[cut:]]) == whole, cut


def test_calls_after_text_are_numbered_from_zero():
    events = read_stream(STREAMS["text-then-calls"])
    assert [(e.index, e.id) for e in events if isinstance(e, ToolCallStart)] == [(0, "c_a"), (1, "c_b")]
    assert [e.index for e in events if isinstance(e, ToolCallDelta)] == [0, 0, 1, 1]


def test_a_stream_without_message_end_is_an_error():
    events = read_stream(wire.text_stream(["Hello"])[:-1])
    assert isinstance(events[-1], StreamError) and not any(isinstance(e, StreamEnd) for e in events)


def test_message_end_with_an_error_is_a_stream_error():
    end = wire.event({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "model overloaded"}})
    assert read_stream(wire.text_stream(["Hel"])[:-1] + [end])[-1] == StreamError("model overloaded")
    end = wire.event({"type": "message-end", "delta": {"finish_reason": "TIMEOUT"}})
    assert read_stream(wire.text_stream(["Hel"])[:-1] + [end])[-1] == StreamEnd("error")


def _citation(source_type: str) -> bytes:
    return wire.event({"type": "citation-start", "index": 0, "delta": {"message": {"citations": {
        "text": "x", "sources": [{"type": source_type, "id": "s"}]}}}})


@pytest.mark.parametrize("extra, field", [
    (wire.event({"type": "content-image", "index": 0}), "event.content-image"),
    (b"event: content-delta\ndata: {\"type\":\"tool-call-start\",\"index\":0}\n\n", "event.content-delta"),
    (wire.event({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "image"}}}}),
     "content.image"),
    (wire.event({"type": "content-delta", "index": 3, "delta": {"message": {"content": {"text": "x"}}}}),
     "content-delta"),
    (wire.event({"type": "tool-call-delta", "index": 4, "delta": {"message": {"tool_calls": {
        "function": {"arguments": "{}"}}}}}), "tool-call-delta"),
    (wire.event({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
        "id": "c", "type": "retrieval", "function": {"name": "f"}}}}}), "tool-call-start"),
    (wire.event({"type": "message-start", "id": "c9", "delta": {"message": {"tool_calls": [
        wire.tool_call("evil", {})]}}}), "message-start.message"),
    (_citation("web"), "citations.sources.web"),
    (b"event: content-delta\ndata: {not json\n\n", "stream.data"),
    (b"retry-after: 5\n\n", "stream"),
])
def test_untranslatable_stream_events(extra, field):
    reader = COHERE.stream_reader()
    reader.feed(wire.text_stream(["Hi"])[0])
    with pytest.raises(Untranslatable) as raised:
        reader.feed(extra)
    assert raised.value.field == field


def test_an_event_after_message_end_is_untranslatable():
    reader = COHERE.stream_reader()
    for chunk in wire.text_stream(["Hi"]):
        reader.feed(chunk)
    with pytest.raises(Untranslatable) as raised:
        reader.feed(wire.text_stream(["more"])[2])
    assert raised.value.field == "event.content-delta"


# -- read_error ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status, body, message, kind", [
    (400, b'{"id":"e1","message":"invalid request: messages must not be empty"}',
     "invalid request: messages must not be empty", "invalid_request"),
    (401, b'{"message":"invalid api token"}', "invalid api token", "authentication"),
    (498, b'{"message":"invalid token"}', "invalid token", "authentication"),
    (404, b'{"id":"e2","message":"model \'x\' not found"}', "model 'x' not found", "not_found"),
    (429, b'{"message":"You are using a Trial key"}', "You are using a Trial key", "rate_limit"),
    (503, b"<html>Service Unavailable</html>", "<html>Service Unavailable</html>", "overloaded"),
    (500, b"", "Cohere answered 500", "api_error"),
    (502, b'{"detail": "bad gateway"}', '{"detail": "bad gateway"}', "api_error"),
])
def test_errors(status, body, message, kind):
    error = COHERE.read_error(status, body)
    assert (error.status, error.message, error.kind) == (status, message, kind)
