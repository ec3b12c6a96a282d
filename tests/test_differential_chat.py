"""Differential tests of the chat completions stream relay against the openai SDK's own reading.

Hypothesis writes hostile chat SSE streams (tool-call fragments with odd, duplicate or missing indexes, ids
changing mid-call, odd types, names split across deltas, several choices, legacy ``function_call`` deltas,
fields no table holds, data-only junk, ``[DONE]`` anywhere, bytes split anywhere). The same bytes go through the
proxy's relay (decisions by a stub that records what it was asked, refusing what a policy would) and the relay's
output goes to the openai SDK exactly as an application gets it from ``client.chat.completions.stream`` (its
``ChatCompletionStreamState`` accumulation, over an in-process transport). Every tool call the SDK hands the
application (an ``arguments.done`` event or the final completion) must be one the proxy decided and allowed,
or the stream ended with an error.

``ARCHESTRA_FUZZ_EXAMPLES`` sets the number of examples (a longer run on demand).
"""
from __future__ import annotations

import json
import os
from typing import Any

import httpx
import openai
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archestra.exchange import Exchange, ProfileInfo
from archestra.providers.chat_completions import ChatCompletions
from tests.fakes.openai_wire import chunk, event

EXAMPLES = int(os.environ.get("ARCHESTRA_FUZZ_EXAMPLES", "60"))
#: The errors the proxy's stream loop turns into the relay's error event (proxy.py ``_stream``).
CUT = (TypeError, AttributeError, KeyError, IndexError, ValueError, RecursionError)

names = st.sampled_from(["send_", "email", "get_weather", "evil_tool", "", None])
arguments = st.sampled_from(['{"to": ', '"a@b.c"}', "", '{"x": 1}', None, '{"to": "evil"}'])


@st.composite
def fragments(draw) -> dict:
    piece: dict[str, Any] = {}
    index = draw(st.sampled_from([0, 0, 0, 0, 1, 1, "1", 1.0, None, "missing"]))
    if index != "missing":
        piece["index"] = index
    call_id = draw(st.sampled_from([None, None, "call_a", "call_a", "call_b", 7]))
    if call_id is not None:
        piece["id"] = call_id
    kind = draw(st.sampled_from([None, None, None, "function", "function", "custom", "mcp"]))
    if kind is not None:
        piece["type"] = kind
    part = draw(st.sampled_from(["function", "function", "custom", "both", "none"]))
    if part in ("function", "both"):
        body = {}
        name, args = draw(names), draw(arguments)
        if name is not None:
            body["name"] = name
        if args is not None:
            body["arguments"] = args
        piece["function"] = body
    if part in ("custom", "both"):
        piece["custom"] = {"name": draw(names) or "run", "input": draw(st.sampled_from(["ls", "rm -rf /", ""]))}
    if draw(st.integers(0, 24)) == 0:
        piece["extra"] = {"name": "evil_tool"}
    return piece


@st.composite
def deltas(draw) -> dict:
    delta: dict[str, Any] = {}
    if draw(st.booleans()):
        delta["role"] = "assistant"
    if draw(st.booleans()):
        delta["content"] = draw(st.sampled_from(["Hi", "", None]))
    if draw(st.integers(0, 2)):
        delta["tool_calls"] = draw(st.lists(fragments(), min_size=1, max_size=2))
    if draw(st.integers(0, 7)) == 0:
        delta["function_call"] = {"name": draw(names) or "evil_tool", "arguments": draw(arguments) or ""}
    if draw(st.integers(0, 24)) == 0:
        delta[draw(st.sampled_from(["tool_call", "calls", "x_note"]))] = {"name": "evil_tool"}
    return delta


@st.composite
def choices(draw) -> dict:
    found = {"delta": draw(deltas()), "logprobs": None,
             "finish_reason": draw(st.sampled_from([None, None, "tool_calls", "stop", "function_call"]))}
    index = draw(st.sampled_from([0, 0, 0, 0, 0, 1, "0", "missing"]))
    if index != "missing":
        found["index"] = index
    return found


@st.composite
def streams(draw) -> list[bytes]:
    events = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["chunk"] * 14 + ["done", "junk", "named", "comment", "empty", "usage"]))
        if kind == "chunk":
            several = draw(st.integers(0, 4)) == 0
            events.append(event(chunk(*draw(st.lists(choices(), min_size=1, max_size=2 if several else 1)))))
        elif kind == "done":
            events.append(b"data: [DONE]\n\n")
        elif kind == "junk":
            events.append(draw(st.sampled_from([b"data: junk\n\n", b"data: {\n\n", b"data: []\n\n",
                                                b"data: \n\n", b"data: null\n\n"])))
        elif kind == "named":
            events.append(b"event: x\n" + event(chunk({"index": 0, "delta": draw(deltas())})))
        elif kind == "comment":
            events.append(b": keep-alive\n\n")
        elif kind == "empty":
            events.append(event({"id": "x", "choices": []}))
        else:
            events.append(event({"id": "x", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}))
    if draw(st.booleans()):
        events.append(b"data: [DONE]\n\n")
    return events


def relay(events: list[bytes], cuts: list[int]) -> tuple[bytes, list[tuple[str, Any]]]:
    """The relay's output (ended by its error event where the proxy would cut it) and the calls it allowed."""
    allowed: list[tuple[str, Any]] = []

    def decide(calls, results=()):
        # The built-in policy refuses a call the table does not hold; this one also refuses "evil" tools.
        if any(call.refuse or "evil" in call.name for call in calls):
            return "refused"
        allowed.extend((call.name, call.raw_arguments if call.raw_arguments is not None else call.arguments)
                       for call in calls)
        return None

    exchange = Exchange("openai", ProfileInfo("p", "p"), "m", stream=True)
    proxy = ChatCompletions("openai").stream_relay(exchange, decide)
    proxy._max_choices = 2  # the request asked for n=2
    data = b"".join(events)
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    out = []
    try:
        for piece in pieces:
            out.append(proxy.feed_bytes(piece))
        out.append(proxy.finish_bytes())
    except CUT as exc:
        out.append(proxy.error_bytes(str(exc)))
    return b"".join(out), allowed


def sdk_calls(body: bytes) -> list[tuple[str, str]]:
    """The calls the openai SDK hands an application reading the stream with ``.stream()``: each
    ``arguments.done`` event, and the final completion's calls (when the stream ends without an error)."""
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, content=body, headers={"content-type": "text/event-stream"}))
    client = openai.OpenAI(api_key="k", base_url="http://proxy.test/v1", max_retries=0,
                           http_client=httpx.Client(transport=transport))
    seen: list[tuple[str, str]] = []
    try:
        with client.chat.completions.stream(model="m", messages=[{"role": "user", "content": "hi"}]) as stream:
            for item in stream:
                if item.type == "tool_calls.function.arguments.done":
                    seen.append((item.name, item.arguments))
            final = stream.get_final_completion()
    except Exception:  # noqa: BLE001 - an application gets an exception: only what it got before counts
        return seen
    for choice in final.choices:
        message = choice.message
        for call in message.tool_calls or ():
            raw = call.to_dict() if hasattr(call, "to_dict") else call
            for part, text in (("function", "arguments"), ("custom", "input")):
                if isinstance(raw.get(part), dict):
                    seen.append((raw[part].get("name"), raw[part].get(text)))
        if message.function_call is not None:
            seen.append((message.function_call.name, message.function_call.arguments))
    return seen


def same_call(sdk: tuple[str, Any], decided: tuple[str, Any]) -> bool:
    name, arguments = sdk
    if (name or "") != decided[0]:  # a call without a name is decided as the tool ""
        return False
    if (arguments or "") == decided[1]:  # no arguments at all are decided as ""
        return True
    try:
        return json.loads(arguments or "{}") == (json.loads(decided[1]) if isinstance(decided[1], str)
                                                 else decided[1])
    except (ValueError, TypeError):
        return False


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=streams(), data=st.data())
def test_every_call_the_openai_sdk_surfaces_was_decided(events, data):
    size = len(b"".join(events))
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(size - 1, 1)), max_size=3)))) if size > 1 else []
    out, allowed = relay(events, cuts)
    for call in sdk_calls(out):
        assert any(same_call(call, decided) for decided in allowed), (call, allowed, out)


def test_a_refused_stream_reaches_the_sdk_without_its_call():
    events = [event(chunk({"index": 0, "delta": {"role": "assistant", "tool_calls": [
        {"index": 0, "id": "call_a", "type": "function", "function": {"name": "evil_tool", "arguments": "{}"}}]}})),
        event(chunk({"index": 0, "delta": {}, "finish_reason": "tool_calls"})), b"data: [DONE]\n\n"]
    out, allowed = relay(events, [])
    assert allowed == [] and sdk_calls(out) == []
    events[0] = events[0].replace(b"evil_tool", b"get_weather")
    out, allowed = relay(events, [])
    assert sdk_calls(out) == [("get_weather", "{}"), ("get_weather", "{}")] and allowed == [("get_weather", "{}")]


def test_a_call_continued_after_the_stream_moved_on_is_cut():
    """The openai SDK hands a call to the application (``arguments.done``) when the stream moves on to another
    call; fragments for it after that would make the call the proxy decides longer than the one the application
    already has (found by the test above: ``send_send_`` handed over, ``send_send_send_`` decided)."""
    def fragment(index):
        return {"index": index, "function": {"name": "send_", "arguments": '{"to": '}}

    events = [event(chunk({"index": 0, "delta": {"tool_calls": [fragment(1), fragment(0)]}})),
              event(chunk({"index": 0, "delta": {"tool_calls": [fragment(0), fragment(1)]}})),
              event(chunk({"index": 0, "delta": {"tool_calls": [fragment(0), fragment(1)]}}))]
    out, allowed = relay(events, [])
    assert b"moved on to another call" in out
    for call in sdk_calls(out):
        assert any(same_call(call, decided) for decided in allowed), (call, allowed)
    sequential = [event(chunk({"index": 0, "delta": {"tool_calls": [fragment(0)]}})),
                  event(chunk({"index": 0, "delta": {"tool_calls": [fragment(0), fragment(1)]}})),
                  event(chunk({"index": 0, "delta": {"tool_calls": [fragment(1)]}})),
                  event(chunk({"index": 0, "delta": {}, "finish_reason": "tool_calls"})), b"data: [DONE]\n\n"]
    out, allowed = relay(sequential, [])
    assert b"moved on" not in out  # calls one after the other pass
    assert sdk_calls(out) == [("send_send_", '{"to": {"to": ')] * 2 and ("send_send_", '{"to": {"to": ') in allowed
