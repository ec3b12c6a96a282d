"""The fast readings on the per-request and per-chunk path read exactly what the general ones read.

Three shortcuts, each held here to its general reading (the shortcut switched off is the reference):
- ``strict_json.loads_strict`` (and ``loads_unique_keys``, ``loads_plain``: ``json.loads`` itself) through orjson
  when orjson's encoding of what it read is the input itself;
- the SSE decoder reading a chunk of whole LF-framed events without its line buffer;
- the OpenAI chat stream relay passing a text-only choice without ``_plan``, and a chunk that is the last
  text-only chunk's bytes around another JSON string without reading it whole.
A shortcut that read anything differently (a duplicate key let through, a number changed, an event cut
elsewhere, a chunk passed that the general reading holds or refuses) fails these tests.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import struct

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archestra import strict_json
from archestra.exchange import Exchange, ProfileInfo
from archestra.families import anthropic_messages_events
from archestra.families.anthropic_messages_events import AnthropicSSEReader
from archestra.families.neutral import Untranslatable
from archestra.families.openai_chat_stream import json_string
from archestra.providers import anthropic_stream, invoke_stream, openai_stream, responses_stream
from archestra.providers.anthropic_platforms import AnthropicOnBedrock
from archestra.providers.anthropic_stream import AnthropicStreamRelay
from archestra.providers.openai_stream import OpenAIStreamRelay
from archestra.providers.responses_stream import ResponsesStreamRelay
from archestra.streaming.event_template import EventTemplate
from archestra.streaming.sse import SSEDecoder
from archestra.strict_json import AmbiguousJSON, loads_plain, loads_strict, loads_unique_keys

from .anthropic_stream_readers import CUT
from .fakes import anthropic_wire, invoke_wire, responses_wire
from .fakes.bedrock_wire import frame


def _reading(loads, raw):
    try:
        return "value", loads(raw)
    except (ValueError, RecursionError) as exc:
        return "refused", type(exc)


def _general(monkeypatch, loads, raw):
    with monkeypatch.context() as patch:
        patch.setattr(strict_json, "_fast", lambda raw: strict_json._NOT_FAST)
        return _reading(loads, raw)


def _same(a, b):
    """Equal values, floats compared by their bits (-0.0 against 0.0, and types: 1 against 1.0)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) and repr(a) == repr(b)


TRICKY = [
    b'{"a":1,"a":2}', b'{"a":{"b":1,"b":1}}', b'[{"x":1},{"y":2,"y":2}]', b'{"a":1,"b":{"a":1}}',
    b'123456789012345678901234567890', b'[18446744073709551615]', b'[18446744073709551616]',
    b'[-9223372036854775809]', b'{"n":1e400}', b'{"n":NaN}', b'[Infinity]', b'{"f":1.0}', b'{"f":1e5}',
    b'{"f":-0.0}', b'{"f":0.1}', b'{"f":5e-324}', b'"\\ud800"', b'"\\ud83d\\ude00"', '"caf\u00e9"'.encode(),
    b'"caf\\u00e9"', b'"a\\/b"', b'"tab\\there"', b'\xef\xbb\xbf{"a":1}', b'{"a":1} ', b'{"a":1}x', b'',
    b'"\xff"', b'[' * 300 + b']' * 300, b'[' * 5000 + b']' * 5000, b'{"a": 1, "a": 2}', b'{"k":"v","k":"v"}',
    '{"a":1,"a":2}'.encode("utf-16"), b'{"\\u0061":1,"a":2}', b'{"a":"\\"a\\":1"}',
]


@pytest.mark.parametrize("raw", TRICKY, ids=range(len(TRICKY)))
@pytest.mark.parametrize("loads", [loads_strict, loads_unique_keys, loads_plain])
def test_tricky_texts_are_read_as_the_strict_decoder_reads_them(monkeypatch, loads, raw):
    raw = raw if loads is not loads_unique_keys else raw.decode("utf-8", "replace")
    kind, value = _reading(loads, raw)
    general_kind, general = _general(monkeypatch, loads, raw)
    assert kind == general_kind
    assert _same(value, general) if kind == "value" else value == general


def test_compact_duplicate_keys_are_refused_whatever_reads_them():
    for raw in (b'{"a":1,"a":2}', '{"model":"gpt-4o","model":"evil"}', b'{"a":{"b":[{"c":1,"c":1}]}}'):
        with pytest.raises(AmbiguousJSON):
            loads_strict(raw)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.sampled_from(["compact", "python", "spaced"]), st.booleans(),
       st.sampled_from([loads_strict, loads_plain]))
def test_any_json_text_is_read_as_the_strict_decoder_reads_it(value, style, duplicate, loads):
    if style == "compact":
        try:
            raw = orjson.dumps(value)
        except TypeError:  # an integer beyond 64 bits: orjson cannot write it
            raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    else:
        raw = json.dumps(value, separators=(",", ":") if style == "python" else None).encode()
    if duplicate and raw.startswith(b"{") and raw != b"{}":
        key, _, _ = raw[1:].partition(b":")
        raw = b"{" + key + b":0," + raw[1:]  # the first key once more, before its own value
    with pytest.MonkeyPatch.context() as patch:
        general_kind, general = _general(patch, loads, raw)
    kind, read = _reading(loads, raw)
    assert kind == general_kind
    assert _same(read, general) if kind == "value" else read == general


# -- SSE -------------------------------------------------------------------------------------------------
LINE = st.sampled_from([b"data: {\"a\":1}", b"data:x", b"data: [DONE]", b"event: message_start", b": comment",
                        b"id: 7", b"data: caf\xc3\xa9", b"data:", b"retry: 10"])
EVENT = st.lists(LINE, min_size=1, max_size=3)
END = st.sampled_from([b"\n", b"\r\n", b"\r"])


def _stream(events, ends, extra_blank):
    out = b""
    for index, lines in enumerate(events):
        end = ends[index % len(ends)]
        out += b"".join(line + end for line in lines) + end
        if extra_blank and index == len(events) // 2:
            out += end
    return out


def _decode(chunks):
    """The events, a stray blank line's bytes kept with the event before it (the buffered reading makes it an
    event of its own when it comes in a chunk of its own: the same bytes reach the client either way)."""
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    out = []
    for event in events + decoder.flush():
        if out and event.event is None and event.data is None and not event.raw.strip(b"\r\n"):
            out[-1] = (*out[-1][:2], out[-1][2] + event.raw)
        else:
            out.append((event.event, event.data, event.raw))
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENT, min_size=1, max_size=6), st.lists(END, min_size=1, max_size=3), st.booleans(),
       st.lists(st.integers(min_value=1, max_value=40), max_size=8))
def test_sse_events_are_the_same_however_the_stream_is_cut(events, ends, extra_blank, cuts):
    stream = _stream(events, ends, extra_blank)
    by_byte = _decode([stream[i:i + 1] for i in range(len(stream))])  # never whole events: the buffered reading
    chunks, start = [], 0
    for size in cuts:
        chunks.append(stream[start:start + size])
        start += size
    chunks.append(stream[start:])
    assert _decode([stream]) == by_byte
    assert _decode([c for c in chunks if c]) == by_byte


def test_whole_lf_events_are_read_without_the_buffer():
    decoder = SSEDecoder()
    events = decoder.feed(b'data: {"a":1}\n\nevent: e\ndata: one\ndata: two\n\n: note\n\n')
    assert [(e.event, e.data, e.raw) for e in events] == [
        (None, '{"a":1}', b'data: {"a":1}\n\n'), ("e", "one\ntwo", b"event: e\ndata: one\ndata: two\n\n"),
        (None, None, b": note\n\n")]
    assert decoder.flush() == []


# -- the OpenAI chat stream relay --------------------------------------------------------------------------
def _chunk(choice=None, **top):
    body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", **top}
    if choice is not None:
        body["choices"] = [choice]
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def _text(content, index=0, **delta):
    return _chunk({"index": index, "delta": {"content": content, **delta}, "finish_reason": None})


def _call(name, arguments, index=0):
    fragment = {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
    return _chunk({"index": index, "delta": {"tool_calls": [fragment]}, "finish_reason": None})


def _raw(text_json_body):
    """A text chunk whose text is the given bytes between the quotes, as they are (``_text`` with ``"X"`` in
    place of its text, then X replaced): what no encoder writes, but an upstream can send."""
    return _text("X").replace(b'"content":"X"', b'"content":"' + text_json_body.encode() + b'"')


FINISH = _chunk({"index": 0, "delta": {}, "finish_reason": "stop"})
CALLS_FINISH = _chunk({"index": 0, "delta": {}, "finish_reason": "tool_calls"})
DONE = b"data: [DONE]\n\n"
SEQUENCES = {
    "text": [_text("", role="assistant"), _text("Hello"), _text(" world"), FINISH, DONE],
    "no role first": [_text("Hi"), _text(" there"), FINISH, DONE],
    "role again": [_text("", role="assistant"), _text("a", role="assistant"), FINISH, DONE],
    "text while a call waits": [_text("", role="assistant"), _call("get_weather", '{"city":'), _text("x"),
                                _call("get_weather", '"Paris"}'), CALLS_FINISH, DONE],
    "refused call then text": [_text("", role="assistant"), _call("delete_all", "{}"), CALLS_FINISH, _text("late"),
                               DONE],
    "second choice": [_text("a"), _text("b", index=1), DONE],
    "logprobs": [_text("a"), _chunk({"index": 0, "delta": {"content": "b"}, "logprobs": {"content": []},
                                     "finish_reason": None}), DONE],
    "refusal field": [_text("a"), _chunk({"index": 0, "delta": {"content": "b", "refusal": "no"},
                                          "finish_reason": None}), DONE],
    "unknown delta field": [_text("a"), _chunk({"index": 0, "delta": {"content": "b", "surprise": {"x": 1}},
                                                "finish_reason": None}), DONE],
    "unknown choice field": [_text("a"), _chunk({"index": 0, "delta": {"content": "b"}, "finish_reason": None,
                                                 "extra": [1]}), DONE],
    "annotations": [_text("a"), _chunk({"index": 0, "delta": {"content": "b", "annotations": [
        {"type": "url_citation", "url_citation": {"url": "https://x.test", "title": "t"}}]},
        "finish_reason": None}), _call("send_email", "{}"), CALLS_FINISH, DONE],
    "content parts": [_text("a"), _chunk({"index": 0, "delta": {"content": [{"type": "text", "text": "b"}]},
                                          "finish_reason": None}), DONE],
    "null content": [_text("a"), _chunk({"index": 0, "delta": {"content": None}, "finish_reason": None}), DONE],
    "index as text": [_text("a"), _chunk({"index": "0", "delta": {"content": "b"}, "finish_reason": None}), DONE],
    "index true": [_text("a"), _chunk({"index": True, "delta": {"content": "b"}, "finish_reason": None}), DONE],
    "citations": [_text("a"), _chunk({"index": 0, "delta": {"content": "b"}, "finish_reason": None},
                                     citations=["https://x.test"]), _call("send_email", "{}"), CALLS_FINISH, DONE],
    "usage": [_text("a"), _chunk({"index": 0, "delta": {"content": "b"}, "finish_reason": None},
                                 usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}), DONE],
    "escapes": [_text("", role="assistant"), _text("a"), _text('say "hi"\\ \n caf\u00e9 \t'), _text("\u2028"),
                _raw("caf\\u00e9 \\ud83d\\ude00 \\/"), FINISH, DONE],
    "a quote in the text's place": [_text("a"), _raw('b","x":"c'), DONE],
    "content twice": [_text("a"), _raw('b","content":"c'), DONE],
    "an escape broken off": [_text("a"), _raw("b\\"), DONE],
    "a lone surrogate": [_text("a"), _raw("\\ud800"), _text("b"), DONE],
    "another model between": [_text("a"), _text("b"), _chunk({"index": 0, "delta": {"content": "c"},
                                                               "finish_reason": None}, model="gpt-4o-mini"),
                              _text("d"), _chunk(None, model="gpt-4o-mini"), _text("e"), DONE],
    "text after a refusal": [_text("", role="assistant"), _text("a"), _call("delete_all", "{}"), CALLS_FINISH,
                             _text("b"), DONE],
    "events split and joined": [_text("a"), _text("b"), _text("c") + _text("d"), _text("e")[:12], _text("e")[12:],
                                _text("f")[:-1], _text("f")[-1:] + _text("g"), _text("h"), DONE],
    "a chunk after half a line": [_text("a"), _text("b"), b": keep", _text("c"), _text("d"), DONE],
    "text beside usage": [_text("a"), _chunk({"index": 0, "delta": {"content": "b"}, "finish_reason": None},
                                             usage=None), _text("c"), DONE],
}


def _with_usage(text, **delta):
    """A text chunk as OpenAI streams it once ``include_usage`` is on (which the proxy turns on to meter)."""
    return _chunk({"index": 0, "delta": {"content": text, **delta}, "finish_reason": None}, usage=None)


USAGE_LAST = _chunk(None, choices=[], usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})
SEQUENCES.update({
    "usage null on every chunk": [_with_usage("", role="assistant"), _with_usage("a"), _with_usage("b"),
                                  _with_usage('c,"usage":null d'), _with_usage('"choices":[]'),
                                  _with_usage("e"), FINISH, USAGE_LAST, DONE],
    "usage null, escapes and quotes in the text's place": [
        _with_usage("a"), _with_usage("b").replace(b'"content":"b"', b'"content":"b\\",\\"usage\\":null"'),
        _with_usage("c").replace(b'"content":"c"', b'"content":"c","usage":null,"x":"y"'),
        _with_usage("d").replace(b'"content":"d"', b'"content":"\\"choices\\":[]"'), _with_usage("e"),
        USAGE_LAST, DONE],
    "usage null, joined and split": [_with_usage("a"), _with_usage("b") + _with_usage("c"),
                                     _with_usage("d")[:20], _with_usage("d")[20:], _with_usage("e"), USAGE_LAST,
                                     DONE],
})


def _fed(feed, finish, chunks, errors=ValueError, ending=lambda exc: f"refused: {exc}".encode()):
    """What ``feed`` gives of each chunk, then ``finish``; a refused stream ends with ``ending`` of the error."""
    out = []
    try:
        for chunk in chunks:
            out.append(feed(chunk))
        out.append(finish())
    except errors as exc:
        out.append(ending(exc))
    return out


def _both_ways(monkeypatch, run, target, name, off):
    """``run()`` with the shortcut, then with it switched off (``target.name = off``): the fast reading and the
    general one, to be compared."""
    fast = run()
    monkeypatch.setattr(target, name, off)
    return fast, run()


def _read_whole(monkeypatch, module, loader, kind, run):
    """How many events of ``kind`` the module read with its JSON ``loader`` while ``run`` ran: a shortcut is
    there for the events after the first (else a test comparing it with the general reading compares the
    general reading with itself)."""
    read = []
    original = getattr(module, loader)
    monkeypatch.setattr(module, loader, lambda text: read.append(text) or original(text))
    run()
    return sum(f'"{kind}"' in (text if isinstance(text, str) else text.decode()) for text in read)


def _relay_all(chunks, strip_usage=False):
    exchange = Exchange("openai", ProfileInfo("p", "p"), "gpt-4o", stream=True)

    def decide(calls, results):
        return "refused: delete_all" if any(call.name == "delete_all" for call in calls) else None

    relay = OpenAIStreamRelay(exchange, decide, lambda error: {"error": error.message}, strip_usage=strip_usage)
    out = _fed(relay.feed_bytes, relay.finish_bytes, chunks)
    response = relay.sync_view()
    return (out, response.text, response.model, response.finish_reason, response.usage,
            [c.name for c in response.tool_calls])


@pytest.mark.parametrize("strip_usage", [False, True], ids=["as asked", "usage added by the proxy"])
@pytest.mark.parametrize("name", SEQUENCES)
def test_text_chunks_pass_as_the_general_reading_passes_them(monkeypatch, name, strip_usage):
    fast, general = _both_ways(monkeypatch, lambda: _relay_all(SEQUENCES[name], strip_usage),
                               openai_stream.OpenAIStreamRelay, "_text_only", lambda self, choice: False)
    assert fast == general


# -- the Responses stream relay ----------------------------------------------------------------------------
def _responses(output, **changes):
    """A streamed Responses answer (one event per chunk), then ``changes``: event number -> its new bytes."""
    chunks = responses_wire.stream(output, size=3)
    for number, replaced in changes.items():
        chunks[int(number)] = replaced
    return chunks


def _delta_numbers(chunks):
    return [n for n, c in enumerate(chunks) if c.startswith(b"event: response.output_text.delta\n")]


def _edited(chunk, old, new):
    assert old in chunk, (old, chunk)
    return chunk.replace(old, new, 1)


def _deltas_edited(old, news, before=b""):
    """The plain answer with the third text delta on edited: ``old`` (``before`` it where a new value is empty)
    replaced by each new value in turn."""
    edits = {}
    for number, new in zip(_D[2:], news):
        edits[str(number)] = _edited(_PLAIN[number], before + old if not new else old, new)
    return _responses([_TEXT], **edits)


_TEXT = responses_wire.message("Hello there, a longer answer in small pieces")
_CALL = responses_wire.function_call("delete_all", {})
_PLAIN = _responses([_TEXT])
_D = _delta_numbers(_PLAIN)
RESPONSES_SEQUENCES = {
    "text": _PLAIN,
    "text then a refused call": _responses([_TEXT, _CALL]),
    "a call then text (held)": _responses([_CALL, _TEXT]),
    "quotes, escapes and other keys in the text's place": _deltas_edited(b'"delta":"', [
        b'"delta":"say \\"hi\\" \\\\ caf\\u00e9 \\ud83d\\ude00 ', b'"delta":"x","response":{"model":"evil"},"y":"',
        b'"delta":"\\ud800', b'"delta":"a\\', b'"delta":"\\u2028\\n\\t']),
    "numbers in the sequence's place": _deltas_edited(b'"sequence_number":', [
        b'"sequence_number":0', b'"sequence_number":1e', b'"sequence_number":-',
        b'"sequence_number":123456789012345678901234', b'"sequence_number":true,"x":']),
    "padding that changes, and none": _deltas_edited(b'"obfuscation":"x7Rk"', [
        b'"obfuscation":"Zq"', b"", b'"obfuscation":"a\\"b"'], before=b","),
    "another item, index and framing": _responses([_TEXT], **{
        str(_D[2]): _edited(_PLAIN[_D[2]], b'"output_index":0', b'"output_index":1'),
        str(_D[3]): _edited(_PLAIN[_D[3]], b"\n", b"\r\n"),
        str(_D[4]): _edited(_PLAIN[_D[4]], b'"item_id":"msg_', b'"item_id":"msh_'),
        str(_D[5]): b"id: 7\n" + _PLAIN[_D[5]]}),
    "a call announced between deltas of the text": (
        _PLAIN[:_D[2]] + [responses_wire.event({"type": "response.output_item.added", "sequence_number": 900,
                                                "output_index": 1, "item": {**_CALL, "arguments": ""}})]
        + _PLAIN[_D[2]:_D[-1] + 1]
        + [responses_wire.event({"type": "response.output_item.done", "sequence_number": 901, "output_index": 1,
                                 "item": _CALL})] + _PLAIN[_D[-1] + 1:]),
    "events split and joined": (_PLAIN[:_D[2]] + [_PLAIN[_D[2]] + _PLAIN[_D[3]], _PLAIN[_D[4]][:30],
                                                  _PLAIN[_D[4]][30:], _PLAIN[_D[5]][:-1],
                                                  _PLAIN[_D[5]][-1:] + _PLAIN[_D[6]]] + _PLAIN[_D[6] + 1:]),
}


def _relay_responses(chunks):
    exchange = Exchange("openai", ProfileInfo("p", "p"), "gpt-4o", stream=True)

    def decide(calls, results):
        return "refused: delete_all" if any(call.name == "delete_all" for call in calls) else None

    relay = ResponsesStreamRelay(exchange, decide)
    out = _fed(relay.feed_bytes, relay.finish_bytes, chunks)
    response = relay.sync_view()
    out = [re.sub(rb"msg_[0-9a-f]{32}", b"msg_REFUSAL", piece) for piece in out]  # the refusal's random id
    return (out, response.text, response.model, response.finish_reason, response.usage,
            [c.name for c in response.tool_calls], relay._seq)


@pytest.mark.parametrize("name", RESPONSES_SEQUENCES)
def test_responses_text_deltas_pass_as_the_general_reading_passes_them(monkeypatch, name):
    fast, general = _both_ways(monkeypatch, lambda: _relay_responses(RESPONSES_SEQUENCES[name]),
                               responses_stream, "_text_delta_template", lambda raw, data: None)
    assert fast == general


def test_the_responses_shortcut_takes_the_text_deltas_of_a_plain_answer(monkeypatch):
    assert len(_D) > 2
    assert _read_whole(monkeypatch, responses_stream, "loads_strict", "response.output_text.delta",
                       lambda: _relay_responses(_PLAIN)) == 1


@pytest.mark.parametrize("raw", [
    b'data: {"a":"x","n":1,"b":"y"}\n\n', b'data: {"n":0,"a":"","b":"\\u00e9"}\n\n',
    b'data: {"a":"x\\"","n":12,"b":"y","c":[1,{"a2":"z"}]}\n\n'])
def test_an_event_template_accepts_exactly_the_json_with_other_values(raw):
    template = EventTemplate.of(raw, strings=("a", "b"), numbers=("n",))
    assert template is not None
    data = json.loads(raw[6:])
    for a, n, b in [("", 0, ""), ('q"uote', 7, "\\"), ("\u2028", 10**30, "é😀"), ("x", -3, "y")]:
        changed = json.dumps({**data, "a": a, "n": n, "b": b}, separators=(",", ":"), ensure_ascii=False)
        values = template.match(b"data: " + changed.encode() + b"\n\n")
        assert dict(zip(template.names, values)) == {"a": a, "n": n, "b": b}
    for wrong in [b'"a":"x","n":1,"q":2', b'"n":01', b'"n":1.0', b'"b":"y" ', b'"a":"x\\"']:
        mutated = raw.replace(b'"a":"x"', wrong) if wrong.startswith(b'"a"') else raw
        mutated = raw.replace(b'"n":1', wrong) if wrong.startswith(b'"n"') and b'"n":1' in raw else mutated
        mutated = raw.replace(b'"b":"y"', wrong) if wrong.startswith(b'"b"') else mutated
        if mutated != raw:
            assert template.match(mutated) is None, mutated


# -- the Anthropic stream reader (the Model Router's Anthropic upstreams) ----------------------------------------
_WORDS = ["Hel", "lo", " the", "re,", " in", " small", " pie", "ces"]
_A_PLAIN = anthropic_wire.text_stream(_WORDS)


def _a_delta(text, index=0):
    return anthropic_wire.event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                        "delta": {"type": "text_delta", "text": text}})


def _a_raw(body, index=0):
    """A text delta with these bytes as its text's JSON string body, as they are."""
    return _a_delta("X", index).replace(b'"text":"X"', b'"text":"' + body + b'"')


_A_FIRST = next(n for n, chunk in enumerate(_A_PLAIN) if chunk.startswith(b"event: content_block_delta"))
ANTHROPIC_SEQUENCES = {
    "text": _A_PLAIN,
    "text then a call": anthropic_wire.tool_stream("get_weather", ['{"city":', '"Paris"}'],
                                                   preamble=["I", " will", " look"]),
    "quotes, escapes and keys in the text's place": (
        _A_PLAIN[:_A_FIRST + 2] + [_a_raw(b'say \\"hi\\" \\\\ caf\\u00e9 \\ud83d\\ude00'),
                                   _a_raw(b'x","type":"input_json_delta","partial_json":"{'), _a_raw(b"\\ud800"),
                                   _a_raw(b"a\\"), _a_raw(b""), _a_raw(b"\\u2028\\n")] + _A_PLAIN[_A_FIRST + 2:]),
    "another block, unopened": (_A_PLAIN[:_A_FIRST + 2] + [_a_delta("x", index=1), _a_delta("y")]
                                + _A_PLAIN[_A_FIRST + 2:]),
    "a delta after the end": _A_PLAIN + [_a_delta("late")],
    "a delta after half an event": (_A_PLAIN[:_A_FIRST + 2] + [_a_delta("f")[:-1], _a_delta("g")]
                                    + _A_PLAIN[_A_FIRST + 2:]),
    "framing": (_A_PLAIN[:_A_FIRST + 2] + [_a_delta("a").replace(b"\n", b"\r\n"), b": ping\n\n" + _a_delta("b"),
                                           _a_delta("c") + _a_delta("d"), _a_delta("e")[:25], _a_delta("e")[25:]]
                + _A_PLAIN[_A_FIRST + 2:]),
}


def _read_anthropic(chunks):
    reader = AnthropicSSEReader()
    return _fed(reader.feed, reader.finish, chunks, Untranslatable, lambda exc: f"untranslatable: {exc}")


@pytest.mark.parametrize("name", ANTHROPIC_SEQUENCES)
def test_anthropic_text_deltas_read_as_the_general_reading_reads_them(monkeypatch, name):
    fast, general = _both_ways(monkeypatch, lambda: _read_anthropic(ANTHROPIC_SEQUENCES[name]),
                               anthropic_messages_events, "_text_delta_template", lambda raw, data: None)
    assert fast == general


def test_the_anthropic_shortcut_takes_the_text_deltas_of_a_plain_answer(monkeypatch):
    assert _read_whole(monkeypatch, anthropic_messages_events, "loads_plain", "text_delta",
                       lambda: _read_anthropic(_A_PLAIN)) == 1


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_the_router_writes_a_text_as_json_dumps_writes_it(text):
    assert json_string(text) == json.dumps(text, ensure_ascii=False).encode()


def test_a_lone_surrogate_is_written_neither_way():
    with pytest.raises(UnicodeEncodeError):
        json.dumps("a\ud800", ensure_ascii=False).encode()
    with pytest.raises(UnicodeEncodeError):
        json_string("a\ud800")


def test_json_string_over_every_character():
    for start in range(0, 0x110000, 0x1000):
        text = "".join(chr(c) for c in range(start, start + 0x1000) if not 0xD800 <= c <= 0xDFFF)
        assert json_string(text) == json.dumps(text, ensure_ascii=False).encode()


# -- the Anthropic Messages relay (the native route, and InvokeModel's Anthropic body) -----------------------------
_A_CALL = anthropic_wire.tool_stream("delete_all", ['{"a":', '1}'], preamble=["I", " will", " do", " it"])
RELAY_SEQUENCES = {
    **ANTHROPIC_SEQUENCES,
    "text, a refused call, text": (_A_CALL[:-2] + [_a_delta("late", index=0), _a_delta("later", index=1)]
                                   + _A_CALL[-2:]),
    "a delta to a stopped block": _A_PLAIN[:-2] + [_a_delta("after the stop")] + _A_PLAIN[-2:],
    "text while a call is held, its block never stopped": [
        *_A_CALL[:_A_FIRST + 2], anthropic_wire.event("content_block_start", {
            "type": "content_block_start", "index": 1, "content_block": {
                "type": "tool_use", "id": "toolu_9", "name": "delete_all", "caller": {"type": "direct"}, "input": {}}}),
        _a_delta(" x"), anthropic_wire.event("content_block_delta", {
            "type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
        _a_delta(" y"), anthropic_wire.event("content_block_stop", {"type": "content_block_stop", "index": 1}),
        *_A_CALL[-2:], _a_delta(" z")],
    "the end with a text block open": [*_A_PLAIN[:-3], *_A_PLAIN[-2:], _a_delta("late")],
    "text after a held call's block": (_A_CALL[:_A_FIRST + 3] + _A_CALL[_A_FIRST + 4:_A_FIRST + 8]
                                       + [_a_delta("x"), _a_delta("y")] + _A_CALL[_A_FIRST + 8:]),
}


BEDROCK_ANTHROPIC = AnthropicOnBedrock()


def _anthropic_relay(platform=None):
    exchange = Exchange("anthropic", ProfileInfo("p", "p"), "m", stream=True)

    def decide(calls, results=()):
        return "refused: delete_all" if any(call.name == "delete_all" for call in calls) else None

    if platform is None:
        return AnthropicStreamRelay(exchange, decide)
    return platform.stream_relay(exchange, decide)


def _relayed_anthropic(chunks, platform=None):
    relay = _anthropic_relay(platform)
    out = _fed(relay.feed_bytes, relay.finish_bytes, chunks, CUT,
               lambda exc: relay.error_bytes(f"cut: {exc.__class__.__name__}"))
    response = relay.sync_view()
    out = [re.sub(rb"toolu_[0-9A-Za-z]+", b"toolu", piece) for piece in out]
    return out, response.text, response.finish_reason, response.usage, [c.name for c in response.tool_calls]


@pytest.mark.parametrize("bedrock", [False, True], ids=["SSE", "InvokeModel"])
@pytest.mark.parametrize("name", RELAY_SEQUENCES)
def test_anthropic_relay_text_deltas_pass_as_the_general_reading_passes_them(monkeypatch, name, bedrock):
    chunks = RELAY_SEQUENCES[name]
    platform = None
    if bedrock:
        platform = BEDROCK_ANTHROPIC
        chunks = invoke_wire.from_sse(_whole_sse_events(chunks))
    fast, general = _both_ways(monkeypatch, lambda: _relayed_anthropic(chunks, platform),
                               anthropic_stream, "_text_template", lambda text, data: None)
    assert fast == general


def _whole_sse_events(chunks):
    """The SSE events of a stream, each whole (InvokeModel carries one event's data per frame)."""
    joined = b"".join(chunks).replace(b"\r\n", b"\n")
    return [piece + b"\n\n" for piece in joined.split(b"\n\n") if b"data: " in piece and _is_json(piece)]


def _is_json(event):
    """Whether the event's data is JSON (the fake's frames are made of JSON events; a broken one is left out)."""
    try:
        json.loads(event.partition(b"data: ")[2])
    except ValueError:
        return False
    return True


def test_the_anthropic_relay_shortcut_takes_the_text_deltas_of_a_plain_answer(monkeypatch):
    assert _read_whole(monkeypatch, anthropic_stream, "loads_plain", "text_delta",
                       lambda: _relayed_anthropic(_A_PLAIN)) == 1


# -- InvokeModel's chunk frames: a frame like the last one taken without being unwrapped whole ------------------------
def _i_delta(text, padding="abcdefghijklmn", index=0):
    return invoke_wire.chunk(_a_delta(text, index).partition(b"data: ")[2].strip().decode(), padding)


def _i_body(text, payload):
    """A text delta's chunk payload: ``payload`` with ``{bytes}`` as the delta's base64."""
    encoded = base64.b64encode(_a_delta(text).partition(b"data: ")[2].strip()).decode()
    return payload.replace("{bytes}", encoded).encode()


def _i_payload(text, payload):
    return frame({":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"},
                 _i_body(text, payload))


def _broken_crc(chunk):
    return chunk[:-1] + bytes([chunk[-1] ^ 1])


def _broken_prelude(chunk):
    """The prelude's checksum wrong, the message's checksum made right again."""
    body = chunk[:8] + bytes([chunk[8] ^ 1]) + chunk[9:-4]
    return body + struct.pack(">I", binascii.crc32(body) & 0xFFFFFFFF)


_I_PLAIN = invoke_wire.from_sse(_whole_sse_events(_A_PLAIN))
_I_FIRST = next(n for n, chunk in enumerate(_I_PLAIN) if b"Y29udGVudF9ibG9ja19kZWx0" in chunk)  # base64 of a delta


def _i_between(*frames, plain=_I_PLAIN):
    """The plain answer with these frames after its first two text deltas (the shortcut on by then)."""
    return plain[:_I_FIRST + 2] + list(frames) + plain[_I_FIRST + 2:]


def _i_metered(text):
    return invoke_wire.chunk(json.dumps({"type": "content_block_delta", "index": 0, "delta": {
        "type": "text_delta", "text": text}, "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": 9, "outputTokenCount": 8}}, separators=(",", ":")))


INVOKE_SEQUENCES = {
    "text": _I_PLAIN,
    "padding that changes, goes and comes back": _i_between(
        _i_delta("a", "x"), _i_delta("b", ""), _i_delta("c", "p" * 300), _i_payload("d", '{"bytes":"{bytes}"}'),
        _i_delta("e")),
    "frames split and joined": _i_between(_i_delta("a")[:30], _i_delta("a")[30:], _i_delta("b") + _i_delta("c"),
                                          _i_delta("d")),
    "a broken message checksum": _i_between(_i_delta("a"), _broken_crc(_i_delta("b")), _i_delta("c")),
    "a broken prelude checksum": _i_between(_i_delta("a"), _broken_prelude(_i_delta("b")), _i_delta("c")),
    "other headers of the same length": _i_between(
        frame({":event-type": "Chunk", ":content-type": "application/json", ":message-type": "event"},
              _i_body("a", '{"bytes":"{bytes}","p":"abcdefghijklmn"}')), _i_delta("b")),
    "other headers": _i_between(frame({":event-type": "chunk", ":message-type": "event"},
                                      _i_body("a", '{"bytes":"{bytes}"}')), _i_delta("b")),
    "an exception, then text": _i_between(
        frame({":event-type": "chunk", ":content-type": "application/json", ":message-type": "exception"},
              _i_body("a", '{"bytes":"{bytes}","p":"abcdefghijklmn"}')), _i_delta("b")),
    **{f"a payload {name}": _i_between(_i_payload("a", payload), _i_delta("b")) for name, payload in {
        "with a repeated key": '{"bytes":"{bytes}","p":"x","bytes":"eyJ9"}',
        "whose padding is a number": '{"bytes":"{bytes}","p":1}',
        "spaced": '{"bytes":"{bytes}" ,"p":"x"}',
        "with another key": '{"bytes":"{bytes}","p":"x","q":"y"}',
        "with an escape in its bytes": '{"bytes":"{bytes}\\u0041","p":"x"}',
        "with an escape in its padding": '{"bytes":"{bytes}","p":"\\u00e9"}',
        "whose bytes are not base64": '{"bytes":"{bytes}!","p":"abcdefghijklmn"}',
        "whose bytes are not ASCII": '{"bytes":"\\u00e9{bytes}","p":"abcdefghijklmn"}'}.items()},
    "an event that is not UTF-8": _i_between(frame(
        {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"},
        b'{"bytes":"' + base64.b64encode(b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
                                         b'"text":"\xff"}}') + b'","p":"abcdefghijklmn"}')),
    # The metrics in a text delta (a template of it carries them): each copy sets the usage again.
    "the invocation metrics in text deltas": _i_between(
        _i_metered("m"), invoke_wire.chunk('{"type":"message_delta","delta":{"stop_reason":null},'
                                           '"usage":{"input_tokens":5,"output_tokens":3}}'), _i_metered("n"),
        plain=invoke_wire.from_sse(_whole_sse_events(_A_PLAIN), metrics=None)),
    **{name: invoke_wire.from_sse(_whole_sse_events(RELAY_SEQUENCES[name])) for name in (
        "a delta to a stopped block", "text while a call is held, its block never stopped",
        "the end with a text block open", "text after a held call's block", "a delta after the end",
        "text, a refused call, text")},
}


@pytest.mark.parametrize("name", INVOKE_SEQUENCES)
def test_invoke_frames_pass_as_the_general_reading_passes_them(monkeypatch, name):
    fast, general = _both_ways(monkeypatch, lambda: _relayed_anthropic(INVOKE_SEQUENCES[name], BEDROCK_ANTHROPIC),
                               invoke_stream.ChunkEnvelope, "last_template", lambda self: None)
    assert fast == general


def test_the_invoke_shortcut_takes_the_frames_of_a_plain_answer_without_unwrapping_them(monkeypatch):
    unwrapped = []
    original = invoke_stream.chunk_event
    monkeypatch.setattr(invoke_stream, "chunk_event", lambda message: unwrapped.append(message) or original(message))
    out, text, *_ = _relayed_anthropic(_I_PLAIN, BEDROCK_ANTHROPIC)
    assert text == "".join(_WORDS) and b"".join(out[:-1]) == b"".join(_I_PLAIN)
    deltas = sum(b"Y29udGVudF9ibG9ja19kZWx0" in chunk for chunk in _I_PLAIN)
    assert deltas > 3 and len(unwrapped) == len(_I_PLAIN) - deltas + 1


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=30), st.binary(max_size=30), st.sampled_from([b"", b'"', b'","p":"', b"\\", b'"}']))
def test_a_two_string_template_matches_as_the_general_loop_does(first, second, extra):
    fast = EventTemplate.of(b'{"bytes":"abc","p":"xyz"}', strings=("bytes", "p"))
    loop = EventTemplate.of(b'{"bytes":"abc","p":"xyz"}', strings=("bytes", "p"))
    loop._two_strings = False
    raw = b'{"bytes":"' + first + extra + b'","p":"' + second + b'"}'
    assert fast.match(raw) == loop.match(raw)
    assert fast.match(raw[:-1]) == loop.match(raw[:-1]) is None
