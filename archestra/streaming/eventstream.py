"""The AWS event-stream binary framing (``application/vnd.amazon.eventstream``), decoder and encoder.

A message: ``total_length u32 | headers_length u32 | prelude_crc u32 | headers | payload | message_crc u32``
(big-endian; CRC32 of the first 8 bytes, then of everything before the last 4). Each header:
``name_len u8 | name | type u8 | value``. Decoded messages keep their raw bytes for byte-exact relaying.
"""
from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from typing import Any

from . import StreamFormatError

PRELUDE = 12
MAX_HEADERS_BYTES = 128 * 1024
MAX_PAYLOAD_BYTES = 24 * 1024 * 1024
MAX_MESSAGE_BYTES = PRELUDE + MAX_HEADERS_BYTES + MAX_PAYLOAD_BYTES + 4

# header value types
_TRUE, _FALSE, _BYTE, _SHORT, _INT, _LONG, _BYTES, _STRING, _TIMESTAMP, _UUID = range(10)
_FIXED = {_BYTE: ">b", _SHORT: ">h", _INT: ">i", _LONG: ">q", _TIMESTAMP: ">q"}


class EventStreamError(StreamFormatError):
    """A corrupt or oversized event-stream message."""


@dataclass
class EventMessage:
    headers: dict[str, Any]
    payload: bytes
    raw: bytes

    @property
    def event_type(self) -> str | None:
        return self.headers.get(":event-type")

    @property
    def message_type(self) -> str | None:
        return self.headers.get(":message-type")

    @property
    def is_exception(self) -> bool:
        """Whether a client raises on this message: botocore's rule (``EventStreamMessage.to_response_dict``)
        exactly. Any other message, ``:message-type`` missing, odd or not a string included, is an event the
        client reads by its ``:event-type``, so the relays must read it as one too."""
        kind = self.headers.get(":message-type")
        return kind == "error" or kind == "exception"

    # The relay interface shared with SSE events.
    is_done = False

    @property
    def data(self) -> str | None:
        return self.payload.decode("utf-8", "replace") if self.payload else None


def _crc(data: bytes | memoryview) -> int:
    return binascii.crc32(data) & 0xFFFFFFFF


def _headers(data: bytes) -> dict[str, Any]:
    """The headers of a message: a stream repeats the same few header blocks (``chunk`` events), read once each."""
    known = _READ_HEADERS.get(data)
    if known is None:
        known = _parse_headers(data)
        if len(data) <= 256 and len(_READ_HEADERS) < 64:
            _READ_HEADERS[data] = known
    return dict(known)


#: Header blocks already read (their bytes -> their headers): immutable values only (str, bool, int, bytes).
_READ_HEADERS: dict[bytes, dict[str, Any]] = {}


def _parse_headers(data: bytes) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    i = 0
    try:
        while i < len(data):
            name_len = data[i]
            name = data[i + 1:i + 1 + name_len].decode("utf-8")
            i += 1 + name_len
            kind = data[i]
            i += 1
            if kind in (_TRUE, _FALSE):
                value: Any = kind == _TRUE
            elif kind in _FIXED:
                size = struct.calcsize(_FIXED[kind])
                (value,) = struct.unpack_from(_FIXED[kind], data, i)
                i += size
            elif kind in (_BYTES, _STRING):
                (length,) = struct.unpack_from(">H", data, i)
                raw = data[i + 2:i + 2 + length]
                if len(raw) != length:
                    raise EventStreamError("event-stream header value runs past the headers")
                value = raw.decode("utf-8") if kind == _STRING else bytes(raw)
                i += 2 + length
            elif kind == _UUID:
                value = bytes(data[i:i + 16])
                i += 16
            else:
                raise EventStreamError(f"unknown event-stream header type {kind}")
            if i > len(data):
                raise EventStreamError("event-stream header runs past the headers")
            if name in headers:  # botocore raises DuplicateHeader: which value a reader takes is not defined
                raise EventStreamError(f"duplicate event-stream header {name!r}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise EventStreamError(f"malformed event-stream headers ({exc.__class__.__name__})") from None
    return headers


def payload_if_like(chunk: bytes, headers: bytes) -> bytes | None:
    """The payload of ``chunk`` when it is exactly one whole, valid message whose header block is ``headers`` byte
    for byte (an earlier message's, read by the decoder); None otherwise: the decoder reads it (and raises where
    it is corrupt)."""
    total, start = len(chunk), PRELUDE + len(headers)
    if total < start + 4 or total > MAX_MESSAGE_BYTES or chunk[PRELUDE:start] != headers:
        return None
    size, headers_len, prelude_crc = struct.unpack_from(">III", chunk, 0)
    view = memoryview(chunk)
    if size != total or headers_len != len(headers) or _crc(view[:8]) != prelude_crc \
            or _crc(view[:-4]) != int.from_bytes(chunk[-4:], "big"):
        return None
    return chunk[start:-4]


class EventStreamDecoder:
    """Feed bytes, get complete messages; raises :class:`EventStreamError` on corrupt frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[EventMessage]:
        self._buf += chunk
        out = []
        while len(self._buf) >= PRELUDE:
            total, headers_len, prelude_crc = struct.unpack_from(">III", self._buf, 0)
            if _crc(memoryview(self._buf)[:8]) != prelude_crc:
                raise EventStreamError("event-stream prelude checksum mismatch")
            if headers_len > MAX_HEADERS_BYTES:
                raise EventStreamError(f"event-stream headers larger than {MAX_HEADERS_BYTES} bytes")
            if total > MAX_MESSAGE_BYTES or total < PRELUDE + headers_len + 4:
                raise EventStreamError(f"invalid event-stream message length {total}")
            if len(self._buf) < total:
                break
            raw = bytes(self._buf[:total])
            del self._buf[:total]
            (message_crc,) = struct.unpack_from(">I", raw, total - 4)
            if _crc(raw[:-4]) != message_crc:
                raise EventStreamError("event-stream message checksum mismatch")
            headers = _headers(raw[PRELUDE:PRELUDE + headers_len])
            out.append(EventMessage(headers, raw[PRELUDE + headers_len:-4], raw))
        return out

    @property
    def idle(self) -> bool:
        """Nothing held: the next chunk starts a message."""
        return not self._buf

    def flush(self) -> list[EventMessage]:
        if self._buf:
            raise EventStreamError(f"event-stream ended inside a message ({len(self._buf)} bytes left)")
        return []


def _encode_header(name: str, value: Any) -> bytes:
    encoded_name = name.encode("utf-8")
    head = bytes([len(encoded_name)]) + encoded_name
    if isinstance(value, bool):
        return head + bytes([_TRUE if value else _FALSE])
    if isinstance(value, int):
        return head + bytes([_LONG]) + struct.pack(">q", value)
    if isinstance(value, bytes):
        return head + bytes([_BYTES]) + struct.pack(">H", len(value)) + value
    text = str(value).encode("utf-8")
    return head + bytes([_STRING]) + struct.pack(">H", len(text)) + text


def encode_message(headers: dict[str, Any], payload: bytes) -> bytes:
    """One event-stream message. Strings are type 7, bytes type 6, ints int64, bools true/false."""
    header_bytes = b"".join(_encode_header(name, value) for name, value in headers.items())
    if len(header_bytes) > MAX_HEADERS_BYTES or len(payload) > MAX_PAYLOAD_BYTES:
        raise EventStreamError("event-stream message too large to encode")
    total = PRELUDE + len(header_bytes) + len(payload) + 4
    prelude = struct.pack(">II", total, len(header_bytes))
    prelude += struct.pack(">I", _crc(prelude))
    body = prelude + header_bytes + payload
    return body + struct.pack(">I", _crc(body))


def encode_event(event_type: str, payload: bytes) -> bytes:
    return encode_message({":event-type": event_type, ":content-type": "application/json",
                           ":message-type": "event"}, payload)


def encode_exception(exception_type: str, message: str) -> bytes:
    import json

    return encode_message({":exception-type": exception_type, ":content-type": "application/json",
                           ":message-type": "exception"}, json.dumps({"message": message}).encode())
