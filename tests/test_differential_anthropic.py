"""Differential tests of the Anthropic stream relay (issue 25, section 2): hypothesis writes hostile Anthropic SSE
byte streams (event names against data types, data-only events, pings carrying blocks, duplicate and odd
indexes, unknown event and delta types, a second message_start, events after the end, input split over deltas,
server and MCP calls, any line ending, chunks split at any byte); the same bytes go through the proxy's relay,
and the bytes the relay sends go through the Python SDK and the TypeScript SDK (node). Every call block an SDK
hands the application must be one the relay let through with the same name and input, or the stream was cut.

``ARCHESTRA_FUZZ_EXAMPLES=2000`` runs longer; the normal suite keeps a fixed small budget.
"""
from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.anthropic_stream_readers import node_available, node_calls, python_calls, relay, undecided

EXAMPLES = int(os.environ.get("ARCHESTRA_FUZZ_EXAMPLES", "0"))
BUDGET = settings(max_examples=EXAMPLES or 60, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))

NAMES = ["message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
         "message_stop", "ping", "error", "", "foo", "content_block_start ", None]
INPUTS = [{"to": "boss@company.com"}, {"to": "evil@attacker.io"}, {"cmd": "rm -rf /", "n": [1, 2.5, None, True]}, {}]
MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
           "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 1}}


@st.composite
def blocks(draw) -> dict[str, Any]:
    kind = draw(st.sampled_from(["tool_use", "tool_use", "server_tool_use", "mcp_tool_use", "text", "thinking",
                                 "web_search_tool_result", "mystery"]))
    block: dict[str, Any] = {"type": kind}
    if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        block.update(id=draw(st.sampled_from(["toolu_1", "toolu_2", "srvtoolu_1"])),
                     name=draw(st.sampled_from(["send_email", "bash", "web_search"])),
                     input=draw(st.sampled_from([{}, {}, *INPUTS])))
        if kind == "mcp_tool_use":
            block["server_name"] = draw(st.sampled_from(["crm", "files"]))
    elif kind == "text":
        block["text"] = ""
    elif kind == "web_search_tool_result":
        block.update(tool_use_id="srvtoolu_1", content=[])
    return block


def fragments(draw, value: Any) -> list[str]:
    """``value`` as JSON cut into fragments; sometimes left incomplete, sometimes with an empty first one."""
    text = json.dumps(value)
    if draw(st.integers(0, 9)) == 0:
        text = text[:draw(st.integers(0, len(text)))]
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=4)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    return ([""] if draw(st.booleans()) else []) + pieces


def odd(draw, odds: int) -> bool:
    """One chance in ``odds`` (never for 0): how hostile a stream is, drawn once per stream."""
    return odds > 0 and draw(st.integers(0, odds - 1)) == 0


def index_for(draw, position: int, odds: int) -> Any:
    """Mostly the right index; sometimes another, a negative one, a string, a float or a boolean."""
    if not odd(draw, odds):
        return position
    return draw(st.sampled_from([position + 1, position - 1, -1, 0, str(position), float(position), True, None]))


def named(draw, kind: str, odds: int) -> str | None:
    """Mostly the event's own name; sometimes another, none (data only), ping, empty or unknown."""
    return draw(st.sampled_from(NAMES)) if odd(draw, odds) else kind


@st.composite
def streams(draw) -> list[tuple[str | None, Any]]:
    """A stream as (event name, data) pairs: a plausible answer, then hostile edits."""
    events: list[tuple[str | None, Any]] = []
    odds = draw(st.sampled_from([0, 40, 12, 4]))
    content = draw(st.lists(blocks(), max_size=2)) if draw(st.integers(0, 4)) == 0 else []
    events.append((named(draw, "message_start", odds), {"type": "message_start", "message": {**MESSAGE,
                                                                                       "content": content}}))
    position = len(content)
    for block in draw(st.lists(blocks(), min_size=1, max_size=4)):
        kind = block["type"]
        at = index_for(draw, position, odds)
        start = {"type": "content_block_start", "index": draw(st.sampled_from([position, position, 0, 7])),
                 "content_block": block}
        events.append((named(draw, "content_block_start", odds), start))
        if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
            value = draw(st.sampled_from(INPUTS))
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in fragments(draw, value)]
        elif kind == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": "hm"}, {"type": "signature_delta", "signature": "s"}]
        else:
            deltas = [{"type": draw(st.sampled_from(["text_delta", "text_delta", "mystery_delta"])), "text": "Hi "}]
        for delta in deltas:
            events.append((named(draw, "content_block_delta", odds),
                           {"type": "content_block_delta", "index": index_for(draw, position, odds), "delta": delta}))
        if not odd(draw, odds):  # sometimes never stopped: the next block overlaps it
            events.append((named(draw, "content_block_stop", odds), {"type": "content_block_stop", "index": at}))
        position += 1
    events.append((named(draw, "message_delta", odds), {"type": "message_delta", "delta": {
        "stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 9}}))
    events.append((named(draw, "message_stop", odds), {"type": "message_stop"}))
    # Hostile insertions anywhere: pings and data-only events carrying calls, a second message_start, errors,
    # events after the end, a delta for an earlier block.
    extra = st.one_of(
        st.tuples(st.sampled_from(["ping", None, "", "foo"]), st.builds(
            lambda block, at: {"type": "content_block_start", "index": at, "content_block": block},
            blocks(), st.integers(0, 3))),
        st.tuples(st.sampled_from(["ping", None, "content_block_delta"]), st.builds(
            lambda at, value: {"type": "content_block_delta", "index": at,
                               "delta": {"type": "input_json_delta", "partial_json": json.dumps(value)}},
            st.integers(-1, 3), st.sampled_from(INPUTS))),
        st.tuples(st.sampled_from(["message_start", "ping"]), st.just({"type": "message_start", "message": {
            **MESSAGE, "content": [{"type": "text", "text": "x"}]}})),
        st.tuples(st.sampled_from(["error", "ping"]), st.just({"type": "error", "error": {"type": "overloaded_error",
                                                                                           "message": "o"}})),
        st.tuples(st.sampled_from(["ping", "mystery"]), st.sampled_from([{"type": "ping"}, {"type": "mystery"}])),
    )
    for name, data in draw(st.lists(extra, max_size=3)):
        events.insert(draw(st.integers(0, len(events))), (name, data))
    return events


@st.composite
def wire_bytes(draw) -> list[bytes]:
    """The stream's bytes (LF, CRLF or CR line ends; sometimes a data line split in two, a comment, an id)
    cut into chunks at any byte."""
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = ""
    for name, data in draw(streams()):
        body = json.dumps(data, separators=(",", ":") if draw(st.booleans()) else (", ", ": "))
        lines = [] if name is None else [f"event: {name}" if draw(st.integers(0, 5)) else f"event:{name}"]
        if "," in body and draw(st.integers(0, 9)) == 0:
            half = body.index(",") + 1  # outside any string: the clients join data lines with "\n"
            lines += [f"data: {body[:half]}", f"data: {body[half:]}"]
        else:
            lines.append(f"data: {body}")
        if draw(st.integers(0, 9)) == 0:
            lines.insert(0, draw(st.sampled_from([": keep-alive", "id: 7", "retry: 10"])))
        text += end.join(lines) + end + end
    raw = text.encode()
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(raw) - 1)), max_size=6))))
    return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)])]


def check(found: list[dict[str, Any]], relayed, beta: bool) -> None:
    wrong = undecided(found, relayed, beta)
    assert not wrong, f"calls the relay did not let through: {wrong}\nrelayed: {relayed.out!r}"


@BUDGET
@given(wire_bytes(), st.integers(0, 7))
def test_the_python_sdk_gets_only_calls_the_relay_decided(chunks, refuse):
    relayed = relay(chunks, refuse=refuse == 0)
    for beta in (False, True):
        found, _ = python_calls(relayed.out, beta)
        check(found, relayed, beta)


@pytest.mark.skipif(not node_available(), reason="node is not installed")
def test_the_typescript_sdk_gets_only_calls_the_relay_decided():
    examples = []

    @BUDGET
    @given(wire_bytes(), st.integers(0, 7))
    def collect(chunks, refuse):
        examples.append(relay(chunks, refuse=refuse == 0))

    collect()
    for relayed, seen in zip(examples, node_calls([relayed.out for relayed in examples])):
        for side in ("messages", "beta"):
            check(seen[side]["calls"], relayed, side == "beta")


def test_the_generator_reaches_calls_that_pass_and_streams_that_are_cut():
    """The budgeted run is worth something only if hostile streams still carry calls that get through."""
    passed, cut = [], []

    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(wire_bytes())
    def collect(chunks):
        relayed = relay(chunks)
        passed.append(bool(relayed.passed))
        cut.append(relayed.cut)

    collect()
    assert any(passed) and any(cut) and not all(cut)
