"""Differential tests of the Cohere v2 stream relay against the cohere SDK's own reading.

Hypothesis writes hostile Cohere SSE streams (event names against data types, data without a type, unknown
types, tool-call starts and deltas with odd, repeated or interleaved indexes, calls of odd types, message-start
carrying calls, junk, ``[DONE]`` anywhere, bytes split anywhere). The same bytes go through the proxy's relay
(decisions by a stub that records what it was asked) and the relay's output goes to ``ClientV2.chat_stream``
over an in-process transport. The application reads calls as Cohere documents it (arguments added to the last
call started) and as an index-keyed accumulation; every call either reading builds must be one the proxy
decided and allowed, or the stream ended with an error.

``ARCHESTRA_FUZZ_EXAMPLES`` sets the number of examples (a longer run on demand).
"""
from __future__ import annotations

import json
import os
from typing import Any

import cohere
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archestra.exchange import Exchange, ProfileInfo
from archestra.providers.cohere import CohereChat

EXAMPLES = int(os.environ.get("ARCHESTRA_FUZZ_EXAMPLES", "50"))
CUT = (TypeError, AttributeError, KeyError, IndexError, ValueError, RecursionError)
TYPES = ["message-start", "content-start", "content-delta", "content-end", "tool-plan-delta", "tool-call-start",
         "tool-call-delta", "tool-call-end", "citation-start", "citation-end", "message-end", "debug"]


def sse(data: Any, name: str | None) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {name}\n" if name else "").encode() + f"data: {text}\n\n".encode()


@st.composite
def events(draw) -> bytes:
    kind = draw(st.sampled_from(TYPES + ["tool-call-start", "tool-call-delta"] * 8 + [None, "tool-call-whole"]))
    data: dict[str, Any] = {} if kind is None else {"type": kind}
    index = draw(st.sampled_from([0] * 6 + [1] * 4 + ["1", None, True]))
    if index is not None:
        data["index"] = index
    if kind in (None, "tool-call-start", "tool-call-whole", "message-start"):
        call: dict[str, Any] = {"id": draw(st.sampled_from(["c1", "c2", None])),
                                "function": {"name": draw(st.sampled_from(["send_email", "get_weather", "evil_tool"])),
                                             "arguments": draw(st.sampled_from(["", "", '{"to": ', "{}", 5]))}}
        kind_of_call = draw(st.sampled_from([None, "function", "function", "function", "function", "custom"]))
        if kind_of_call:
            call["type"] = kind_of_call
        calls = [call] if kind == "message-start" or draw(st.integers(0, 19)) == 0 else call
        data["delta"] = {"message": {"tool_calls": calls}}
    elif kind == "tool-call-delta":
        data["delta"] = {"message": {"tool_calls": {"function": {"arguments": draw(st.sampled_from(
            ['"a@b.c"}', '"a@b.c"}', '"evil"}', "x", 3]))}}}}
    elif kind in ("content-start", "content-delta"):
        data["delta"] = {"message": {"content": {"type": draw(st.sampled_from(["text"] * 5 + ["image"])),
                                                 "text": "Hi"}}}
    elif kind == "message-end":
        data["delta"] = {"finish_reason": "TOOL_CALL"}
    name = draw(st.sampled_from([kind, kind, "content-delta", None]))
    return sse(data, name)


@st.composite
def call_block(draw) -> list[bytes]:
    """A tool call as Cohere streams it: start, argument deltas, end (the index mostly the same)."""
    index = draw(st.sampled_from([0, 1, 2]))
    name = draw(st.sampled_from(["send_email", "get_weather", "evil_tool"]))
    start = {"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls": {
        "id": draw(st.sampled_from(["c1", "c2"])), "type": "function",
        "function": {"name": name, "arguments": draw(st.sampled_from(["", "", '{"to": ']))}}}}}
    out = [sse(start, "tool-call-start")]
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.sampled_from([index] * 6 + [(index + 1) % 3]))
        out.append(sse({"type": "tool-call-delta", "index": at, "delta": {"message": {"tool_calls": {
            "function": {"arguments": draw(st.sampled_from(['{"to": ', '"a@b.c"}', '"evil"}']))}}}}},
            "tool-call-delta"))
    if draw(st.integers(0, 4)):
        out.append(sse({"type": "tool-call-end", "index": index}, "tool-call-end"))
    return out


@st.composite
def streams(draw) -> list[bytes]:
    found = [sse({"id": "c1", "type": "message-start", "delta": {"message": {"role": "assistant"}}}, "message-start")]
    for _ in range(draw(st.integers(1, 5))):
        pick = draw(st.integers(0, 19))
        if pick < 9:
            found += draw(call_block())
        elif pick < 17:
            found.append(draw(events()))
        else:
            found.append([b"data: [DONE]\n\n", b"data: junk\n\n", b"event: x\ndata: []\n\n"][pick - 17])
    if draw(st.integers(0, 3)):
        found.append(sse({"type": "message-end", "delta": {"finish_reason": "TOOL_CALL"}}, "message-end"))
    return found


def relay(events: list[bytes], cuts: list[int]) -> tuple[bytes, list[tuple[str, Any]]]:
    allowed: list[tuple[str, Any]] = []

    def decide(calls, results=()):
        if any(call.refuse or "evil" in str(call.name) for call in calls):
            return "refused"
        allowed.extend((call.name, call.raw_arguments) for call in calls)
        return None

    proxy = CohereChat().stream_relay(Exchange("cohere", ProfileInfo("p", "p"), "m", stream=True), decide)
    data = b"".join(events)
    out = []
    try:
        for a, b in zip([0, *cuts], [*cuts, len(data)]):
            out.append(proxy.feed_bytes(data[a:b]))
        out.append(proxy.finish_bytes())
    except CUT as exc:
        out.append(proxy.error_bytes(str(exc)))
    return b"".join(out), allowed


def sdk_calls(body: bytes) -> list[tuple[str, str]]:
    """The calls an application builds from ``chat_stream``: by the documented loop (arguments added to the
    last call started) and by index."""
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, content=body, headers={"content-type": "text/event-stream"}))
    client = cohere.ClientV2(api_key="k", base_url="http://proxy.test", httpx_client=httpx.Client(transport=transport))
    last: list[list[Any]] = []
    by_index: dict[Any, list[Any]] = {}
    try:
        for event in client.chat_stream(model="m", messages=[{"role": "user", "content": "hi"}]):
            if event.type == "tool-call-start":
                call = event.delta.message.tool_calls
                entry = [call.function.name, call.function.arguments or ""]
                last.append(entry)
                by_index[event.index] = list(entry)
            elif event.type == "tool-call-delta":
                piece = event.delta.message.tool_calls.function.arguments or ""
                if last:
                    last[-1][1] += piece
                if event.index in by_index:
                    by_index[event.index][1] += piece
    except Exception:  # noqa: BLE001 - an application gets an exception: what it built before counts
        pass
    return [(name, arguments) for name, arguments in [*last, *by_index.values()]]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=streams(), data=st.data())
def test_every_call_the_cohere_sdk_surfaces_was_decided(events, data):
    size = len(b"".join(events))
    cuts = sorted(set(data.draw(st.lists(st.integers(1, size - 1), max_size=3))))
    out, allowed = relay(events, cuts)
    for name, arguments in sdk_calls(out):
        assert any((name or "") == decided[0] and arguments == decided[1] for decided in allowed), \
            ((name, arguments), allowed, out)


def test_an_event_without_a_type_is_read_by_the_sdk_as_a_call_start_so_it_cuts_the_stream():
    start = {"index": 0, "delta": {"message": {"tool_calls": {"id": "c1", "type": "function", "function": {
        "name": "send_email", "arguments": "{}"}}}}}
    body = [sse({"id": "c1", "type": "message-start", "delta": {"message": {"role": "assistant"}}}, "message-start"),
            sse(start, "content-delta"), sse({"type": "message-end", "delta": {"finish_reason": "COMPLETE"}}, None)]
    unguarded = b"".join(body)
    assert sdk_calls(unguarded) == [("send_email", "{}"), ("send_email", "{}")]  # what the SDK makes of it
    out, allowed = relay(body, [])
    assert sdk_calls(out) == [] and allowed == []
    assert b'"finish_reason":"ERROR"' in out
