"""Differential tests of the Bedrock stream relays against botocore's own parser.

Hypothesis builds hostile event streams (missing, odd or repeated ``:message-type`` / ``:event-type`` /
``:content-type`` headers, exception frames, unknown events and union members, repeated block indexes, tool
arguments split over deltas, frames split at any byte). The bytes go through the proxy's relay (decisions by
a stub that records what it was asked and refuses the tool ``blocked``); what the relay sent goes through
botocore's ``EventStream`` (what boto3 hands the application), and three ways applications gather ``toolUse``
blocks (by index, the last one started, the first start kept per index) run on it. Every call an application
would run must have been decided and allowed, with the same name and the same argument text, or the stream
ended with an error (an application does not run calls from a stream that raised).

``ARCHESTRA_FUZZ_EXAMPLES`` sets the number of examples (small by default, to keep the suite fast).
"""
from __future__ import annotations

import base64
import json
import os
from typing import Any, Callable

import botocore.session
from botocore.eventstream import EventStream
from botocore.parsers import EventStreamJSONParser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archestra.exchange import Exchange, ProfileInfo
from archestra.providers.bedrock_invoke import NOVA
from archestra.providers.bedrock_stream import BedrockStreamRelay
from archestra.streaming import StreamFormatError
from tests.fakes.bedrock_wire import raw_frame

EXAMPLES = int(os.environ.get("ARCHESTRA_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
MODEL = botocore.session.get_session().get_service_model("bedrock-runtime")
BROKEN = (StreamFormatError, ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)
NAMES = ["send", "blocked", "read"]
PIECES = ['{"to": "', "evil@x.io", '"}', "{}", "", '{"a":1}', "{"]


# -- what the upstream sends --------------------------------------------------------------------------
def event_json(kind: str, index: Any, body: Any) -> dict[str, Any]:
    if kind == "contentBlockStart":
        return {"contentBlockIndex": index, "start": body}
    if kind == "contentBlockDelta":
        return {"contentBlockIndex": index, "delta": body}
    if kind == "contentBlockStop":
        return {"contentBlockIndex": index}
    if kind == "messageStop":
        return {"stopReason": "tool_use"}
    if kind == "metadata":
        return {"usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}}
    return {"role": "assistant"}


def tool_block(index: int, name: str, pieces: list[str]) -> list[tuple[str, dict]]:
    out = [("contentBlockStart", event_json("contentBlockStart", index, {"toolUse": {
        "toolUseId": f"t{index}", "name": name}}))]
    out += [("contentBlockDelta", event_json("contentBlockDelta", index, {"toolUse": {"input": p}})) for p in pieces]
    return out + [("contentBlockStop", event_json("contentBlockStop", index, None))]


blocks = st.lists(st.tuples(st.sampled_from(NAMES), st.lists(st.sampled_from(PIECES), max_size=3)),
                  min_size=1, max_size=3)

# A mutation: (what, where, a value). Headers: the event's frame sent with odd headers.
odd_header_sets = st.sampled_from([
    "missing message-type", "exception", "error", "odd message-type", "bytes message-type", "int message-type",
    "missing event-type", "duplicate event-type", "no content-type", "odd content-type", "unknown event-type",
    "exception event-type"])
odd_bodies = st.sampled_from([
    {"toolUse": {"input": '"}'}}, {"text": "hi", "toolUse": {"input": "x"}}, {"text": None, "toolUse": {"input": "{}"}},
    {"toolUse": {"toolUseId": "z", "name": "send"}}, {"toolUse": {"toolUseId": "z", "name": "blocked"}},
    {"unknownMember": {"input": "{}"}}, {"toolUse": {"input": 5}}, {"reasoningContent": {"text": "r"}},
    {"citation": {"location": {"web": {"url": "https://x.io"}}, "sourceContent": [{"text": "page"}]}},
    {"toolResult": [{"text": "out"}]}, {"toolResult": {"toolUseId": "s", "type": "nova_grounding"}}, None])
mutations = st.lists(st.one_of(
    st.tuples(st.just("headers"), st.integers(0, 40), odd_header_sets),
    st.tuples(st.just("drop"), st.integers(0, 40), st.none()),
    st.tuples(st.just("duplicate"), st.integers(0, 40), st.none()),
    st.tuples(st.just("insert start"), st.integers(0, 40), st.tuples(st.sampled_from([0, 1, 2, "0", None, -1, True]),
                                                                     odd_bodies)),
    st.tuples(st.just("insert delta"), st.integers(0, 40), st.tuples(st.sampled_from([0, 1, 2, "1", None, 1.0]),
                                                                     odd_bodies)),
    st.tuples(st.just("insert stop"), st.integers(0, 40), st.sampled_from([0, 1, 2])),
    st.tuples(st.just("payload"), st.integers(0, 40), st.sampled_from([b"not json", b"[1]", b"", b"\xff"])),
), max_size=4)


def _headers(kind: str | None, odd: str | None) -> list[tuple[str, int, object]]:
    event = [(":event-type", 7, kind)] if kind else []
    headers = event + [(":content-type", 7, "application/json"), (":message-type", 7, "event")]
    change: dict[str, Callable[[], list]] = {
        "missing message-type": lambda: headers[:-1],
        "exception": lambda: headers[:-1] + [(":message-type", 7, "exception"),
                                            (":exception-type", 7, "throttlingException")],
        "error": lambda: headers[:-1] + [(":message-type", 7, "error"), (":error-code", 7, "E")],
        "odd message-type": lambda: headers[:-1] + [(":message-type", 7, "Event ")],
        "bytes message-type": lambda: headers[:-1] + [(":message-type", 6, b"exception")],
        "int message-type": lambda: headers[:-1] + [(":message-type", 4, 1)],
        "missing event-type": lambda: headers[len(event):],
        "duplicate event-type": lambda: headers + [(":event-type", 7, "messageStart")],
        "no content-type": lambda: [h for h in headers if h[0] != ":content-type"],
        "odd content-type": lambda: [(n, t, "text/plain" if n == ":content-type" else v) for n, t, v in headers],
        "unknown event-type": lambda: [(n, t, "contentBlockDeltaX" if n == ":event-type" else v)
                                       for n, t, v in headers],
        "exception event-type": lambda: [(n, t, "internalServerException" if n == ":event-type" else v)
                                         for n, t, v in headers],
    }
    return change[odd]() if odd else headers


def build(tools: list[tuple[str, list[str]]], changes: list[tuple[str, int, Any]]) -> list[tuple[str, Any, Any]]:
    """(event type, payload JSON or bytes, odd headers) for each frame."""
    events: list[tuple[str, Any]] = [("messageStart", {"role": "assistant"})]
    for index, (name, pieces) in enumerate(tools):
        events += tool_block(index, name, pieces)
    events += [("messageStop", event_json("messageStop", 0, None)), ("metadata", event_json("metadata", 0, None))]
    frames: list[tuple[str, Any, Any]] = [(kind, data, None) for kind, data in events]
    for what, at, value in changes:
        at %= len(frames) + 1
        if what == "headers" and at < len(frames):
            frames[at] = (frames[at][0], frames[at][1], value)
        elif what == "drop" and at < len(frames):
            del frames[at]
        elif what == "duplicate" and at < len(frames):
            frames.insert(at, frames[at])
        elif what == "insert start":
            frames.insert(at, ("contentBlockStart", event_json("contentBlockStart", *value), None))
        elif what == "insert delta":
            frames.insert(at, ("contentBlockDelta", event_json("contentBlockDelta", *value), None))
        elif what == "insert stop":
            frames.insert(at, ("contentBlockStop", event_json("contentBlockStop", value, None), None))
        elif what == "payload" and at < len(frames):
            frames[at] = (frames[at][0], value, frames[at][2])
    return frames


def converse_bytes(frames: list[tuple[str, Any, Any]]) -> bytes:
    return b"".join(raw_frame(_headers(kind, odd), data if isinstance(data, bytes) else json.dumps(data).encode())
                    for kind, data, odd in frames)


def nova_bytes(frames: list[tuple[str, Any, Any]]) -> bytes:
    """The same events as Nova's InvokeModel stream: each one the only key of a chunk's JSON."""
    out = b""
    for kind, data, odd in frames:
        text = data if isinstance(data, bytes) else json.dumps({kind: data}).encode()
        payload = json.dumps({"bytes": base64.b64encode(text).decode(), "p": "abc"}).encode()
        out += raw_frame(_headers("chunk", odd), payload)
    return out


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


# -- the proxy ----------------------------------------------------------------------------------------
class Decisions:
    def __init__(self) -> None:
        self.allowed: list[tuple[str, str]] = []
        self.refused: list[tuple[str, str]] = []

    def __call__(self, calls: list, results: Any = None) -> str | None:
        found = [(c.name, c.raw_arguments) for c in calls]
        if any(c.name == "blocked" for c in calls):
            self.refused += found
            return "refused by the test"
        self.allowed += found
        return None


def relay_output(make_relay: Callable[[Exchange, Any], Any], chunks: list[bytes]) -> tuple[bytes, Decisions]:
    """What the client receives, as proxy._stream produces it (an error frame when the relay breaks)."""
    decisions = Decisions()
    relay = make_relay(Exchange("bedrock", ProfileInfo("p", "p"), "m", stream=True), decisions)
    out = b""
    try:
        for chunk in chunks:
            out += relay.feed_bytes(chunk)
        out += relay.finish_bytes()
    except BROKEN:
        out += relay.error_bytes("The upstream stream broke off")
    return out, decisions


# -- the client ---------------------------------------------------------------------------------------
class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self) -> Any:
        yield self._data


def boto3_events(data: bytes, shape: str, seen: list | None = None) -> list[dict[str, Any]]:
    """The events boto3 hands the application (raises where it would; ``seen`` keeps those before)."""
    seen = [] if seen is None else seen
    for event in EventStream(_Raw(data), MODEL.shape_for(shape), EventStreamJSONParser(), "Op"):
        seen.append(event)
    return seen


def _start(event: dict) -> tuple[Any, dict] | None:
    """(block index, a new tool use) when the event starts one."""
    if "contentBlockStart" in event and "toolUse" in event["contentBlockStart"].get("start", {}):
        use = event["contentBlockStart"]["start"]["toolUse"]
        return event["contentBlockStart"].get("contentBlockIndex"), {"name": use["name"], "input": ""}
    return None


def _fragment(event: dict) -> tuple[Any, str] | None:
    """(block index, an input fragment) when the event carries one."""
    if "contentBlockDelta" in event and "toolUse" in event["contentBlockDelta"].get("delta", {}):
        delta = event["contentBlockDelta"]
        return delta.get("contentBlockIndex"), delta["delta"]["toolUse"]["input"]
    return None


def _gathered(events: list[dict], keep_first: bool = False, eager: bool = False) -> list[tuple[str, str]]:
    """Tool uses gathered by block index (a later start under an index replaces the earlier one unless
    ``keep_first``); ``eager`` runs each at its contentBlockStop, before the stream is over."""
    found: dict[Any, dict] = {}
    ran = []
    for event in events:
        if started := _start(event):
            if not (keep_first and started[0] in found):
                found[started[0]] = started[1]
        elif fragment := _fragment(event):
            found[fragment[0]]["input"] += fragment[1]
        elif eager and "contentBlockStop" in event and event["contentBlockStop"].get("contentBlockIndex") in found:
            block = found.pop(event["contentBlockStop"]["contentBlockIndex"])
            ran.append((block["name"], block["input"]))
    return ran if eager else [(b["name"], b["input"]) for b in found.values()]


def by_index(events: list[dict]) -> list[tuple[str, str]]:
    return _gathered(events)


def first_start_kept(events: list[dict]) -> list[tuple[str, str]]:
    return _gathered(events, keep_first=True)


def last_started(events: list[dict]) -> list[tuple[str, str]]:
    """The AWS documentation's example: one current tool use, its input gathered until contentBlockStop."""
    found: list[dict] = []
    current: dict | None = None
    for event in events:
        if started := _start(event):
            current = started[1]
            found.append(current)
        elif fragment := _fragment(event):
            current["input"] += fragment[1]  # type: ignore[index]
        elif "contentBlockStop" in event:
            current = None
    return [(b["name"], b["input"]) for b in found]


APPS = (by_index, first_start_kept, last_started)


def eager(events: list[dict]) -> list[tuple[str, str]]:
    """An application that runs each tool use at its contentBlockStop, before the stream is over."""
    return _gathered(events, eager=True)


def check(events_of: Callable[[list], list[dict]], decisions: Decisions) -> None:
    seen: list[dict] = []
    try:
        events = events_of(seen)
    except Exception:  # the stream raised in the client: only an eager application ran calls, before it
        events, apps = seen, (eager,)
    else:
        apps = (*APPS, eager)
    for app in apps:
        try:
            ran = app(events)
        except (KeyError, TypeError, AttributeError):
            continue  # this application fails on the stream: it runs nothing
        for call in ran:
            assert call in decisions.allowed, (app.__name__, call, decisions.allowed, decisions.refused)


@FUZZ
@given(blocks, mutations, st.lists(st.integers(0, 10_000), max_size=6))
def test_converse_stream_calls_boto3_surfaces_were_decided(tools, changes, cuts):
    upstream = converse_bytes(build(tools, changes))
    out, decisions = relay_output(BedrockStreamRelay, split(upstream, cuts))
    check(lambda seen: boto3_events(out, "ConverseStreamOutput", seen), decisions)


def nova_events(data: bytes, seen: list) -> list[dict]:
    """An application reading Nova's chunks: each chunk's JSON, every event name in it acted on."""
    for event in EventStream(_Raw(data), MODEL.shape_for("ResponseStream"), EventStreamJSONParser(), "Op"):
        if "chunk" in event:
            decoded = json.loads(event["chunk"]["bytes"])
            seen += [{key: value} for key, value in decoded.items()]
    return seen


@FUZZ
@given(blocks, mutations, st.lists(st.integers(0, 10_000), max_size=6))
def test_nova_invoke_stream_calls_boto3_surfaces_were_decided(tools, changes, cuts):
    upstream = nova_bytes(build(tools, changes))
    out, decisions = relay_output(NOVA.stream_relay, split(upstream, cuts))
    check(lambda seen: nova_events(out, seen), decisions)


def test_an_untouched_stream_passes_whole():
    upstream = converse_bytes(build([("send", ['{"to": "', 'a@b.c"}'])], []))
    out, decisions = relay_output(BedrockStreamRelay, split(upstream, [7, 100, 101]))
    assert out == upstream and decisions.allowed == [("send", '{"to": "a@b.c"}')]
    assert by_index(boto3_events(out, "ConverseStreamOutput")) == [("send", '{"to": "a@b.c"}')]


def test_a_frame_without_message_type_is_an_event_to_boto3_and_to_the_proxy():
    frames = build([("blocked", ["{}"])], [("headers", 1, "missing message-type")])
    out, decisions = relay_output(BedrockStreamRelay, [converse_bytes(frames)])
    assert decisions.refused == [("blocked", "{}")]
    assert by_index(boto3_events(out, "ConverseStreamOutput")) == []


# -- InvokeModel with an Anthropic body: the envelope (the events inside stay the Anthropic family's) -------
def anthropic_frames(tools: list[tuple[str, list[str]]]) -> list[bytes]:
    from tests.fakes import anthropic_wire, invoke_wire

    events = [anthropic_wire._start()]
    for index, (name, pieces) in enumerate(tools):
        events += anthropic_wire._tool_block(index, f"toolu_{index}", name, pieces)
    return invoke_wire.from_sse(events + anthropic_wire._end("tool_use"))


def envelope_changes(frames: list[bytes], changes: list[tuple[str, int, Any]]) -> bytes:
    """Header mutations of chunk frames, exception frames and unknown events put in: what the envelope reads."""
    from archestra.streaming.eventstream import EventStreamDecoder

    decoy = json.dumps({"bytes": base64.b64encode(b'{"type":"content_block_start","index":0,"content_block":'
                                                  b'{"type":"tool_use","id":"x","name":"send","input":{}}}').decode()})
    out = [("chunk", message.payload, None) for frame in frames for message in EventStreamDecoder().feed(frame)]
    for what, at, value in changes:
        at %= len(out) + 1
        if what == "headers" and at < len(out):
            out[at] = (out[at][0], out[at][1], value)
        elif what == "insert":
            out.insert(at, (value, decoy.encode(), None))
    return b"".join(raw_frame(_headers(kind, odd), payload) for kind, payload, odd in out)


def anthropic_sdk_calls(data: bytes) -> list[tuple[str, str]]:
    """What the anthropic SDK's Bedrock client builds from the bytes (its decoder is botocore's parser)."""
    from anthropic.lib.bedrock._stream_decoder import AWSEventStreamDecoder

    blocks: list[dict] = []
    for sse in AWSEventStreamDecoder().iter_bytes(iter([data])):
        if sse.event in ("ping", None):
            continue
        if sse.event == "error":
            raise RuntimeError("the stream raised")
        event = sse.json()
        if event.get("type") == "content_block_start":
            blocks.append({**event["content_block"], "partial": ""})
        elif event.get("type") == "content_block_delta" and event["delta"]["type"] == "input_json_delta":
            blocks[event["index"]]["partial"] += event["delta"]["partial_json"]
    # the SDK keeps the start's input when no fragment has any text
    return [(b["name"], b["partial"] or json.dumps(b.get("input"))) for b in blocks if b["type"] == "tool_use"]


@FUZZ
@given(blocks, st.lists(st.one_of(st.tuples(st.just("headers"), st.integers(0, 40), odd_header_sets),
                                  st.tuples(st.just("insert"), st.integers(0, 40),
                                            st.sampled_from(["chunkV2", "internalServerException", "chunk"]))),
                        max_size=3),
       st.lists(st.integers(0, 10_000), max_size=6))
def test_anthropic_invoke_stream_calls_the_sdk_surfaces_were_decided(tools, changes, cuts):
    from archestra.providers.anthropic_platforms import ANTHROPIC_ON_BEDROCK

    upstream = envelope_changes(anthropic_frames(tools), changes)
    out, decisions = relay_output(ANTHROPIC_ON_BEDROCK.stream_relay, split(upstream, cuts))
    try:
        ran = anthropic_sdk_calls(out)
    except Exception:
        return  # the stream raised in the client: the application runs none of its calls
    for call in ran:
        assert call in decisions.allowed, (call, decisions.allowed, decisions.refused)
