"""Differential tests of the Gemini stream relay against google-genai's own stream parsing (issue 25, section 2).

Hypothesis writes hostile streams in both framings (SSE as ``alt=sse`` asks, and the streamed JSON array):
parts with several fields, unknown fields, snake_case spellings, errors before or after the candidates, calls of every kind in odd positions,
duplicate ids, candidates with odd or repeated indexes, raw JSON lines and comments among SSE events, all of it
split anywhere. The same bytes go through the relay (decisions by a stub that records what it was asked and
refuses some tools) and what the relay sends goes through the client's parser: google-genai's line reader
(``HttpResponse.segments``), its error check, its response converters and ``GenerateContentResponse`` (AI Studio
and Vertex AI); for the JSON array, an incremental JSON array reader (google-genai itself only asks for SSE).
Every call the application would read (``function_call``, ``executable_code``, ``tool_call`` of any candidate)
must have been decided and allowed, or the stream cut before it.

``ARCHESTRA_FUZZ_EXAMPLES`` runs more examples (default: a budget of a few seconds).
"""
from __future__ import annotations

import json
import os
from typing import Any

import httpx
from google.genai import _api_client, errors, models, types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archestra.exchange import Exchange, ProfileInfo
from archestra.providers.gemini_stream import GeminiStreamRelay
from archestra.providers.gemini_tools import tool_type_name
from archestra.proxy_error import ProxyError
from archestra.streaming import StreamFormatError

EXAMPLES = int(os.environ.get("ARCHESTRA_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
#: What the proxy's pipeline catches from a relay and turns into ``error_bytes`` (proxy.py).
CUT = (StreamFormatError, ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError, ProxyError)
NAMES = ["send_email", "read_file", "click_at"]

# -- hostile chunks -----------------------------------------------------------------------------------
arguments = st.dictionaries(st.sampled_from(["to", "path", "x"]), st.sampled_from(["evil@a.io", "/etc", 1]),
                            max_size=2)
function_call = st.builds(lambda name, args, call_id: {"name": name, "args": args, **call_id},
                          st.sampled_from(NAMES), arguments, st.sampled_from([{}, {"id": "c1"}, {"id": "c2"}]))
executable_code = st.builds(lambda code: {"language": "PYTHON", "code": code}, st.sampled_from(["rm -rf /", "1"]))
tool_call = st.builds(lambda kind, args: {"id": "t1", "toolType": kind, "args": args},
                      st.sampled_from(["URL_CONTEXT", "GOOGLE_SEARCH_WEB", "FILE_SEARCH"]), arguments)
part_fields = {"text": st.sampled_from(["hi ", "", "{\"a\": [1]}"]), "functionCall": function_call,
               "executableCode": executable_code, "toolCall": tool_call,
               "codeExecutionResult": st.just({"outcome": "OUTCOME_OK", "output": "page"}),
               "thoughtSignature": st.just("c2ln"), "futureCall": function_call}


@st.composite
def parts(draw) -> dict:
    """A part with one or several fields, some under their snake_case spelling."""
    common = [name for name in sorted(part_fields) if name != "futureCall"] * 4  # an unknown field now and then
    chosen = draw(st.lists(st.sampled_from([*common, "futureCall"]), min_size=1, max_size=3, unique=True))
    part = {}
    for name in chosen:
        key = draw(st.sampled_from([name, "".join(f"_{c.lower()}" if c.isupper() else c for c in name)]))
        part[key] = draw(part_fields[name])
    return part


@st.composite
def candidates(draw) -> dict:
    found: dict[str, Any] = {"content": {"role": "model", "parts": draw(st.lists(parts(), max_size=3))}}
    index = draw(st.sampled_from([None, 0, 1, 3]))
    if index is not None:
        found["index"] = index
    if draw(st.booleans()):
        found["finishReason"] = "STOP"
    if draw(st.integers(0, 29)) == 0:
        found["futureField"] = 1
    return found


#: google-genai raises on an error only when it is the chunk's first field: after the candidates, it reads them.
_ERRORS = [{}] * 8 + [{"error": {"code": 500, "message": "x"}}]
chunks = st.lists(st.builds(lambda first, c, last: {**first, "candidates": c, "modelVersion": "m", **last},
                            st.sampled_from(_ERRORS), st.lists(candidates(), min_size=1, max_size=3),
                            st.sampled_from(_ERRORS)), min_size=1, max_size=4)


# -- framings -----------------------------------------------------------------------------------------
@st.composite
def sse_body(draw, data: list[dict]) -> bytes:
    out = b""
    for chunk in data:
        text = json.dumps(chunk)
        kind = draw(st.sampled_from(["event"] * 12 + ["raw line", "comment", "no space", "two lines"]))
        end = draw(st.sampled_from([b"\n\n", b"\r\n\r\n", b"\r\r"]))
        if kind == "raw line":  # google-genai reads a line that is not "data: " as raw JSON
            out += text.encode() + end
        elif kind == "comment":
            out += b": keep-alive\n" + b"data: " + text.encode() + end
        elif kind == "no space":
            out += b"data:" + text.encode() + end
        elif kind == "two lines":
            cut = text.index(",") + 1 if "," in text else len(text)
            out += b"data: " + text[:cut].encode() + b"\ndata: " + text[cut:].encode() + end
        else:
            out += b"data: " + text.encode() + end
    return out if draw(st.booleans()) else out.rstrip(b"\r\n")


def array_body(data: list[dict]) -> bytes:
    return b"[" + b",\r\n".join(json.dumps(c, indent=2).encode() for c in data) + b"]"


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    return [body[a:b] for a, b in zip(points, points[1:])]


# -- the proxy's side ---------------------------------------------------------------------------------
def relay(pieces: list[bytes], sse: bool, blocked: set[str]) -> tuple[bytes, list[tuple[str, Any, bool]]]:
    """What the relay sends for ``pieces``, and every call it decided: ``(name, arguments, allowed)``."""
    decided: list[tuple[str, Any, bool]] = []

    def decide(calls, results=()):
        refusal = next((f"no {c.name}" for c in calls if c.name in blocked or c.refuse), None)
        decided.extend((c.name, c.arguments, refusal is None) for c in calls)
        return refusal

    stream = GeminiStreamRelay(Exchange("gemini", ProfileInfo("p", "p"), "m", stream=True), decide, sse=sse)
    out = b""
    try:
        for piece in pieces:
            out += stream.feed_bytes(piece)
        out += stream.finish_bytes()
    except CUT as exc:
        out += stream.error_bytes(str(exc))
    return out, decided


# -- the client's side --------------------------------------------------------------------------------
def sdk_chunks(body: bytes, pieces: int, vertex: bool) -> list[types.GenerateContentResponse]:
    """What google-genai hands the application for an SSE body (until it raises)."""
    size = max(1, len(body) // max(pieces, 1))
    response = httpx.Response(200, content=iter([body[i:i + size] for i in range(0, len(body), size)]))
    out = []
    try:
        for chunk in _api_client.HttpResponse({}, response).segments():
            if json.dumps(chunk).startswith('{"error":'):  # request_streamed's check
                raise errors.APIError(502, chunk)
            converted = (models._GenerateContentResponse_from_vertex if vertex
                         else models._GenerateContentResponse_from_mldev)(chunk)
            out.append(types.GenerateContentResponse._from_response(response=converted, kwargs={}))
    except Exception:  # noqa: BLE001 - whatever the SDK raises ends what the application reads
        pass
    return out


def array_chunks(body: bytes) -> list[types.GenerateContentResponse]:
    """A client reading the JSON array element by element (until the first thing it cannot read)."""
    text, decoder, out = body.decode("utf-8", "replace"), json.JSONDecoder(), []
    position = len(text) - len(text.lstrip())
    if not text[position:].startswith("["):
        return out
    position += 1
    try:
        while True:
            position += len(text[position:]) - len(text[position:].lstrip())
            element, position = decoder.raw_decode(text, position)
            if not isinstance(element, dict) or "error" in element:
                return out
            out.append(types.GenerateContentResponse._from_response(
                response=models._GenerateContentResponse_from_mldev(element), kwargs={}))
            position += len(text[position:]) - len(text[position:].lstrip())
            if text[position:position + 1] != ",":
                return out
            position += 1
    except Exception:  # noqa: BLE001
        return out


def surfaced(responses: list[types.GenerateContentResponse]) -> list[tuple[str, Any]]:
    """Every call the application could read: function calls, code to execute, server-side tool calls."""
    found = []
    for response in responses:
        for candidate in response.candidates or ():
            for part in (candidate.content.parts if candidate.content else None) or ():
                if part.function_call:
                    found.append((part.function_call.name or "", part.function_call.args or {}))
                if part.executable_code:
                    found.append(("code_execution", part.executable_code.code))
                if part.tool_call:
                    kind = part.tool_call.tool_type
                    found.append((tool_type_name({"toolType": getattr(kind, "value", kind)}),
                                  part.tool_call.args or {}))
    return found


def assert_every_call_decided(seen: list[tuple[str, Any]], decided: list[tuple[str, Any, bool]]) -> None:
    allowed = [(name, args.get("code") if name == "code_execution" and isinstance(args, dict) else args)
               for name, args, ok in decided if ok]
    for call in seen:
        assert call in allowed, f"the client got {call!r}, which the proxy did not allow: {decided!r}"


blocked_tools = st.sets(st.sampled_from([*NAMES, "code_execution", "url_context"]))


@FUZZ
@given(data=chunks, cuts=st.lists(st.integers(0, 10_000), max_size=6), blocked=blocked_tools,
       framing=st.data(), vertex=st.booleans())
def test_sse_calls_the_sdk_surfaces_were_decided(data, cuts, blocked, framing, vertex):
    body = framing.draw(sse_body(data))
    out, decided = relay(split(body, cuts), sse=True, blocked=blocked)
    assert_every_call_decided(surfaced(sdk_chunks(out, len(cuts) + 1, vertex)), decided)


@FUZZ
@given(data=chunks, cuts=st.lists(st.integers(0, 10_000), max_size=6), blocked=blocked_tools)
def test_json_array_calls_a_client_reads_were_decided(data, cuts, blocked):
    out, decided = relay(split(array_body(data), cuts), sse=False, blocked=blocked)
    assert_every_call_decided(surfaced(array_chunks(out)), decided)


def test_the_sdk_reads_a_raw_json_line_in_an_sse_stream_so_the_proxy_cuts_it():
    """The case that makes the SSE reader strict: google-genai takes a line without ``data: `` as JSON."""
    call = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "send_email", "args": {}}}]}}]}
    body = json.dumps(call).encode() + b"\n\n"
    assert surfaced(sdk_chunks(body, 1, vertex=False)) == [("send_email", {})]
    out, decided = relay([body], sse=True, blocked={"send_email"})
    assert decided == [] and b'"error"' in out and surfaced(sdk_chunks(out, 1, vertex=False)) == []
