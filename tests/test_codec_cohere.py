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
