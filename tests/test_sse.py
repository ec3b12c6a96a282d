"""The SSE decoder: exact event boundaries with any line ending, split anywhere, raw bytes kept."""
from __future__ import annotations

import pytest

from archestra.streaming.sse import SSEDecoder, SSEError, encode_event

STREAM = (b'event: message_start\ndata: {"a": 1}\n\n'
          b': keep-alive comment\n\n'
          b'data: {"b": 2}\r\n\r\n'
          b'data: line one\rdata: line two\r\r'
          b'data: [DONE]\n\n')


def decode(chunks):
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.flush()


def test_fields_and_raw_bytes():
    events = decode([STREAM])
    assert [(e.event, e.data) for e in events] == [
        ("message_start", '{"a": 1}'), (None, None), (None, '{"b": 2}'), (None, "line one\nline two"),
        (None, "[DONE]")]
    assert b"".join(e.raw for e in events) == STREAM
    assert events[-1].is_done and not events[0].is_done


@pytest.mark.parametrize("size", [1, 2, 3, 7, 13])
def test_any_split_gives_the_same_events(size):
    chunks = [STREAM[i:i + size] for i in range(0, len(STREAM), size)]
    assert [(e.event, e.data, e.raw) for e in decode(chunks)] == \
        [(e.event, e.data, e.raw) for e in decode([STREAM])]


def test_crlf_split_between_cr_and_lf_is_one_line_end():
    events = decode([b'data: x\r', b'\n\r', b'\ndata: y\n\n'])
    assert [e.data for e in events] == ["x", "y"]


def test_unterminated_last_event_is_flushed():
    events = decode([b'data: {"a":1}\n\ndata: {"tail":true}'])
    assert [e.data for e in events] == ['{"a":1}', '{"tail":true}']
    assert events[-1].raw == b'data: {"tail":true}'


def test_a_lone_cr_at_the_end_of_the_stream_ends_the_last_line():
    """No LF can follow it: the clients (both Anthropic SDKs) end the event there, and so does the decoder."""
    events = decode([b"event: message_stop\rdata: {}\r", b"\r"])
    assert [(e.event, e.data, e.raw) for e in events] == [("message_stop", "{}", b"event: message_stop\rdata: {}\r\r")]


def test_oversized_event_is_an_error():
    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(SSEError):
        decoder.feed(b"data: " + b"x" * 200)


def test_encoder():
    assert encode_event('{"a":1}') == b'data: {"a":1}\n\n'
    assert encode_event('{"a":1}', "ping") == b'event: ping\ndata: {"a":1}\n\n'
