"""The AWS event-stream codec, checked against botocore's own decoder."""
from __future__ import annotations

import struct
import uuid

import pytest
from botocore.eventstream import EventStreamBuffer

from archestra.streaming.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    encode_event,
    encode_exception,
    encode_message,
)
from tests.fakes import bedrock_wire

DOC_MESSAGE_START = bytes.fromhex(
    "00000076000000529 6d5fade0b3a6576656e742d74797065070 00c6d657373616765537461727 4"
    "0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d657373"
    "6167652d747970650700056576656e747b22726f6c65223a22617373697374616e74227d6fa8c599".replace(" ", ""))


def botocore_decode(data: bytes):
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(m.headers, m.payload) for m in buffer]


def test_encoder_matches_the_bytes_botocore_accepts():
    assert encode_event("messageStart", b'{"role":"assistant"}') == DOC_MESSAGE_START
    assert botocore_decode(DOC_MESSAGE_START) == [({":event-type": "messageStart",
                                                    ":content-type": "application/json",
                                                    ":message-type": "event"}, b'{"role":"assistant"}')]


def test_every_header_type_round_trips_through_botocore():
    headers = {"t": True, "f": False, "long": -(2 ** 40), "bytes": b"\x00\xff", "str": "h\u00e9llo"}
    message = encode_message(headers, b"payload")
    assert botocore_decode(message) == [(headers, b"payload")]
    decoded = EventStreamDecoder().feed(message)[0]
    assert decoded.headers == headers and decoded.payload == b"payload" and decoded.raw == message


def test_decoder_reads_all_header_types_botocore_defines():
    # byte, short, int, timestamp and uuid are not produced by our encoder: build them by hand.
    value_uuid = uuid.uuid4().bytes
    head = (b"\x01a\x02" + struct.pack(">b", -5) + b"\x01b\x03" + struct.pack(">h", 300)
            + b"\x01c\x04" + struct.pack(">i", 70000) + b"\x01d\x08" + struct.pack(">q", 1700000000000)
            + b"\x01e\x09" + value_uuid)
    total = 12 + len(head) + 4
    import binascii
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    body = prelude + head
    message = body + struct.pack(">I", binascii.crc32(body))
    ours = EventStreamDecoder().feed(message)[0].headers
    theirs = botocore_decode(message)[0][0]
    assert ours == {"a": -5, "b": 300, "c": 70000, "d": 1700000000000, "e": value_uuid}
    assert ours["a"] == theirs["a"] and ours["c"] == theirs["c"] and ours["e"] == theirs["e"]


def test_split_anywhere():
    frames = b"".join(bedrock_wire.text_stream(["Hel", "lo", "!"]))
    for size in (1, 5, 17, 100):
        decoder = EventStreamDecoder()
        messages = [m for i in range(0, len(frames), size) for m in decoder.feed(frames[i:i + size])]
        assert decoder.flush() == []
        assert b"".join(m.raw for m in messages) == frames
        assert [m.event_type for m in messages][:2] == ["messageStart", "contentBlockDelta"]


@pytest.mark.parametrize("offset,error", [(5, "prelude checksum"), (60, "message checksum"),
                                          (-2, "message checksum")])
def test_corruption_is_detected(offset, error):
    message = bytearray(encode_event("messageStart", b'{"role":"assistant"}'))
    message[offset] ^= 0x01
    with pytest.raises(EventStreamError, match=error):
        EventStreamDecoder().feed(bytes(message))


def test_oversized_and_truncated_frames():
    huge = struct.pack(">II", 32 * 1024 * 1024, 10)
    import binascii
    huge += struct.pack(">I", binascii.crc32(huge))
    with pytest.raises(EventStreamError, match="length"):
        EventStreamDecoder().feed(huge + b"\x00" * 20)
    decoder = EventStreamDecoder()
    decoder.feed(encode_event("messageStart", b"{}")[:-3])
    with pytest.raises(EventStreamError, match="ended inside a message"):
        decoder.flush()


def test_exception_frame_is_what_botocore_expects():
    [(headers, payload)] = botocore_decode(encode_exception("throttlingException", "slow down"))
    assert headers[":message-type"] == "exception" and headers[":exception-type"] == "throttlingException"
    assert payload == b'{"message": "slow down"}'
