"""Issue 25, Anthropic streams read exactly as the clients read them (``anthropic_events``, ``anthropic_stream``).

The class from the review: events the SDKs skip (pings, events without a name) shifted the proxy's block
indexes, so a call's arguments landed on another block than the one the client builds, on ``/v1/anthropic`` and
on Vertex ``:streamRawPredict``. Checked through the anthropic SDK on the two-worker gunicorn; each other way a
client could read a stream differently from the relay is checked in-process against the SDK's own reader.
"""
from __future__ import annotations

import json
import re
import typing

import anthropic
import pytest
from anthropic.types import RawContentBlockDelta, RawMessageStreamEvent
from anthropic.types.beta import BetaRawContentBlockDelta, BetaRawMessageStreamEvent

from archestra.providers.anthropic_events import EVENTS, UNKNOWN_EVENT
from archestra.providers.shapes import Reading
from tests.anthropic_stream_readers import NODE_DIR, python_calls, relay
from tests.fakes import anthropic_wire as wire
from tests.fakes.server import FakeUpstream, json_reply, sse_reply
from tests.live import _start
from tests.test_deployment import stop_gunicorn
from tests.test_vertex import write_service_account

pytest_plugins = ["tests.live"]  # the `live` fixture

EVIL, BOSS = {"to": "evil@attacker.io"}, {"to": "boss@company.com"}
TOOLS = [{"name": "send_email", "description": "mail",
          "input_schema": {"type": "object", "properties": {"to": {"type": "string"}}}}]
PROJECT, LOCATION, MODEL = "proxy-proj", "europe-west1", "claude-sonnet-4@20250514"


def start(block: dict, index: int = 0) -> dict:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, fragment: str) -> dict:
    return {"type": "content_block_delta", "index": index,
            "delta": {"type": "input_json_delta", "partial_json": fragment}}


def stop(index: int) -> dict:
    return {"type": "content_block_stop", "index": index}


def raw(name: str | None, data: dict) -> bytes:
    """One event; ``name`` None leaves the ``event:`` line out (a data-only event)."""
    return wire.event(name, data) if name is not None else f"data: {json.dumps(data)}\n\n".encode()


def stream(*middle: bytes, stop_reason: str = "tool_use") -> list[bytes]:
    head, *_ = wire.answer_stream([])
    return [head, *middle, *wire.answer_stream([], stop_reason)[1:]]


def email(index: int, args: dict, call_id: str = "toolu_e") -> list[bytes]:
    """A send_email call whose input comes in fragments, at ``index``."""
    text = json.dumps(args)
    return [raw("content_block_start", start(wire.tool_use("send_email", {}, call_id), index)),
            raw("content_block_delta", delta(index, "")), raw("content_block_delta", delta(index, text[:9])),
            raw("content_block_delta", delta(index, text[9:])), raw("content_block_stop", stop(index))]


#: Skipped events carrying a block: the clients do not count them, so the real call is block 0 for them.
SKIPPED_CARRIERS = {
    "a ping carrying a text block": raw("ping", start(wire.text("x"))),
    "a data-only event carrying a text block": raw(None, start(wire.text("x"))),
    "a ping carrying a call": raw("ping", start(wire.tool_use("send_email", BOSS, "toolu_p"))),
}


# -- the table against the SDKs' own definitions ------------------------------------------------------
def _literal_types(union: object) -> set[str]:
    members = typing.get_args(typing.get_args(union)[0])
    return {value for member in members for value in typing.get_args(member.model_fields["type"].annotation)}


def test_every_event_and_delta_type_the_python_sdk_knows_is_declared():
    declared_events = {key[len("event:"):] for key in EVENTS if key.startswith("event:")}
    declared_deltas = {key[len("delta:"):] for key in EVENTS if key.startswith("delta:")}
    assert _literal_types(RawMessageStreamEvent) | _literal_types(BetaRawMessageStreamEvent) <= declared_events
    assert _literal_types(RawContentBlockDelta) | _literal_types(BetaRawContentBlockDelta) <= declared_deltas
    assert UNKNOWN_EVENT is Reading.REFUSED and EVENTS["event:ping"] is Reading.SKIPPED


def test_every_type_the_typescript_accumulators_act_on_is_declared():
    sources = [NODE_DIR / "node_modules/@anthropic-ai/sdk/lib" / name for name in ("MessageStream.js",
                                                                                    "BetaMessageStream.js")]
    if not all(path.is_file() for path in sources):
        pytest.skip("the TypeScript SDK is not installed in tests/node (npm ci)")
    acted_on = {name for path in sources for name in re.findall(r"case '(\w+)'", path.read_text())}
    declared = {key.partition(":")[2] for key in EVENTS}
    assert acted_on and acted_on <= declared


# -- in-process: the relay's output read by the Python SDK -----------------------------------------------
def distinct(calls: list) -> list:
    """The calls an SDK handed over, each once (it hands a block at its stop and in the final message)."""
    return [call for i, call in enumerate(calls) if call not in calls[:i]]


def calls_through(events: list[bytes], refuse: bool = False) -> tuple[list, list, bool]:
    """(calls the relay let through, calls the SDK hands over, whether the relay cut the stream)."""
    relayed = relay(events, refuse=refuse)
    found, _ = python_calls(relayed.out, beta=False)
    return [(c.name, c.arguments) for c in relayed.passed], [(b["name"], b["input"]) for b in found], relayed.cut


@pytest.mark.parametrize("carrier", list(SKIPPED_CARRIERS))
def test_skipped_events_do_not_move_the_blocks(carrier):
    events = stream(SKIPPED_CARRIERS[carrier], *email(0, EVIL))
    passed, seen, cut = calls_through(events)
    assert passed == [("send_email", EVIL)] and distinct(seen) == [("send_email", EVIL)] and not cut


CUT_STREAMS = {
    "an event named for one type and typed another": stream(raw("content_block_stop", start(wire.text("x"))),
                                                            *email(0, EVIL)),
    "an unknown event name": stream(raw("mystery", start(wire.text("x"))), *email(0, EVIL)),
    "an empty event name": stream(raw("", start(wire.text("x"))), *email(0, EVIL)),
    "a negative index": stream(*email(0, BOSS)[:2], raw("content_block_delta", delta(-1, json.dumps(EVIL))),
                               raw("content_block_stop", stop(0))),
    "an index as a string": stream(*email(0, BOSS)[:1], raw("content_block_delta", {**delta(0, ""), "index": "0"})),
    "an index as a float": stream(*email(0, BOSS)[:1], raw("content_block_delta", {**delta(0, ""), "index": 0.0})),
    "a delta to a stopped block": stream(*email(0, BOSS), raw("content_block_delta", delta(0, " "))),
    "a second message_start": stream(wire.answer_stream([])[0], *email(0, EVIL)),
    "a block event before message_start": [raw("content_block_start", start(wire.text("x"))),
                                           *wire.answer_stream([wire.tool_use("send_email", EVIL)])],
    "an unknown delta type": stream(*email(0, BOSS)[:1], raw("content_block_delta", {
        **delta(0, ""), "delta": {"type": "input_delta", "input": EVIL}})),
    "an answer block type the family table does not hold": stream(
        raw("content_block_start", start({"type": "future_tool_use", "id": "x", "name": "send_email", "input": EVIL})),
        raw("content_block_stop", stop(0)), *email(1, EVIL)),
    "MCP input in the start event and in fragments": stream(
        raw("content_block_start", start(wire.mcp_tool_use("crm", "export", {"q": "one"}))),
        raw("content_block_delta", delta(0, '{"q": "all"}')), raw("content_block_stop", stop(0))),
}


@pytest.mark.parametrize("name", list(CUT_STREAMS))
def test_what_the_clients_would_read_differently_cuts_the_stream(name):
    passed, seen, cut = calls_through(CUT_STREAMS[name])
    assert cut and passed == [] and seen == []


def test_nothing_after_message_stop_or_an_error_reaches_the_client():
    after_stop = [*wire.answer_stream([wire.text("done")], "end_turn"), *email(1, EVIL)]
    assert calls_through(after_stop) == ([], [], False)
    error = wire.event("error", wire.error("overloaded_error", "Overloaded"))
    after_error = stream(error, *email(0, EVIL))
    relayed = relay(after_error)
    assert relayed.out == after_error[0] + error and relayed.decided == []


def test_after_a_refusal_later_calls_never_reach_the_client():
    """Calls after the message_delta that settled the first ones: decided again, and once a refusal replaced a
    stretch of blocks, nothing after it is relayed (the client's blocks no longer line up with upstream's)."""
    refused_then_more = [*stream(*email(0, EVIL))[:-1], *email(1, BOSS), *stream()[-1:]]
    relayed = relay(refused_then_more, refuse=True)
    found, _ = python_calls(relayed.out, beta=False)
    assert found == [] and b"Refused by the test." in relayed.out and not relayed.cut
    assert [c.name for c in relayed.decided] == ["send_email"]


@pytest.mark.parametrize("fragments", [['{"to": "boss@company.com"'], ['{"to": "a"}{"to": "b"}'],
                                       ['{"to": "a", "to": "evil@attacker.io"}'], ['"evil@attacker.io"']],
                         ids=["cut off", "two objects", "a repeated key", "not an object"])
def test_input_that_is_not_one_complete_object_is_refused(fragments):
    events = stream(raw("content_block_start", start(wire.tool_use("send_email", {}))),
                    *[raw("content_block_delta", delta(0, f)) for f in fragments], raw("content_block_stop", stop(0)))
    relayed = relay(events)
    assert relayed.passed == [] and [c.refuse is not None for c in relayed.decided] == [True]
    assert python_calls(relayed.out, beta=False)[0] == []


def test_start_input_followed_only_by_empty_fragments_is_refused():
    """The Python SDK keeps the start's input when every fragment is empty; the TypeScript SDK reads ``{}``."""
    events = stream(raw("content_block_start", start(wire.tool_use("send_email", BOSS))),
                    raw("content_block_delta", delta(0, "")), raw("content_block_stop", stop(0)))
    relayed = relay(events)
    assert relayed.passed == [] and [c.refuse is not None for c in relayed.decided] == [True]
    without_fragments = relay(stream(raw("content_block_start", start(wire.tool_use("send_email", BOSS))),
                                     raw("content_block_stop", stop(0))))
    assert [(c.name, c.arguments) for c in without_fragments.passed] == [("send_email", BOSS)]


def test_a_stream_ending_with_cr_line_ends_is_read_to_its_last_event():
    """``\\r`` line ends and the stream's last byte a lone CR: both SDKs end the last event there."""
    events = [e.replace(b"\n", b"\r") for e in stream(*email(0, EVIL))]
    passed, seen, cut = calls_through(events)
    assert passed == [("send_email", EVIL)] and distinct(seen) == [("send_email", EVIL)] and not cut


# -- live: the anthropic SDK on the two-worker gunicorn ------------------------------------------------
def block_evil(live, pid: str) -> None:
    live.policy("call", pid, "send_email", "block_always", [{"key": "to", "operator": "contains",
                                                             "value": "attacker"}], reason="never the attacker")


def sdk_answer(client: anthropic.Anthropic | anthropic.AnthropicVertex, model: str) -> tuple[list, str]:
    with client.messages.stream(model=model, max_tokens=100, tools=TOOLS,
                                messages=[{"role": "user", "content": "mail"}]) as events:
        message = events.get_final_message()
    return ([(b.name, b.input) for b in message.content if b.type == "tool_use"],
            "".join(b.text for b in message.content if b.type == "text"))


@pytest.mark.parametrize("carrier", list(SKIPPED_CARRIERS))
def test_skipped_events_do_not_shift_a_calls_arguments_on_the_anthropic_route(live, carrier):
    pid = live.profile()
    client = anthropic.Anthropic(api_key="k", base_url=live.base("anthropic", pid), max_retries=0)
    live.upstream.reply_with(sse_reply(stream(SKIPPED_CARRIERS[carrier], *email(0, BOSS))))
    assert sdk_answer(client, "claude-x")[0] == [("send_email", BOSS)]
    block_evil(live, pid)
    live.upstream.reply_with(sse_reply(stream(SKIPPED_CARRIERS[carrier], *email(0, EVIL))))
    calls, text = sdk_answer(client, "claude-x")
    assert calls == [] and "never the attacker" in text


@pytest.fixture(scope="module")
def live_vertex(tmp_path_factory):
    """The two-worker gunicorn with Anthropic on Vertex AI: the proxy's service account, whose token endpoint is
    the fake upstream, as is Vertex itself."""
    upstream = FakeUpstream()
    key = tmp_path_factory.mktemp("vertex") / "sa.json"
    write_service_account(key, f"{upstream.url}/token")
    settings = {"ENABLED": "1", "PROJECT": PROJECT, "LOCATION": LOCATION, "CREDENTIALS_FILE": str(key),
                "BASE_URL": upstream.url}
    env = {**{f"ARCHESTRA_ANTHROPIC_VERTEX_AI_{name}": value for name, value in settings.items()},
           "ARCHESTRA_CLOUD_AUTH_OPEN": "1"}
    upstream, process, log, proxy = _start(tmp_path_factory, None, env, upstream)
    yield proxy
    stop_gunicorn(process, log)
    upstream.close()


def vertex_serves(live, events: list[bytes]) -> None:
    def handler(request):
        if request.path == "/token":
            return json_reply({"access_token": "ya29.proxy", "expires_in": 3599, "token_type": "Bearer"})
        assert request.path.endswith(":streamRawPredict")
        return sse_reply(events)
    live.upstream.reply_with(handler)


@pytest.mark.parametrize("carrier", list(SKIPPED_CARRIERS))
def test_skipped_events_do_not_shift_a_calls_arguments_on_vertex_stream_raw_predict(live_vertex, carrier):
    pid = live_vertex.profile()
    client = anthropic.AnthropicVertex(region="us-east5", project_id="clients-own", access_token="client-tok",
                                       base_url=live_vertex.base("anthropic", pid), max_retries=0)
    vertex_serves(live_vertex, stream(SKIPPED_CARRIERS[carrier], *email(0, BOSS)))
    assert sdk_answer(client, MODEL)[0] == [("send_email", BOSS)]
    block_evil(live_vertex, pid)
    vertex_serves(live_vertex, stream(SKIPPED_CARRIERS[carrier], *email(0, EVIL)))
    calls, text = sdk_answer(client, MODEL)
    assert calls == [] and "never the attacker" in text


def test_a_stream_the_clients_would_read_otherwise_is_cut_on_the_anthropic_route(live):
    pid = live.profile()
    live.upstream.reply_with(sse_reply(CUT_STREAMS["a negative index"]))
    client = anthropic.Anthropic(api_key="k", base_url=live.base("anthropic", pid), max_retries=0)
    with pytest.raises(anthropic.APIStatusError, match="UnreadEvent"):
        sdk_answer(client, "claude-x")
