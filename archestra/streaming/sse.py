"""Server-sent events: an incremental decoder that keeps each event's raw bytes, and an encoder.

The proxy re-emits upstream events byte for byte, so the decoder never normalises what it relays: it
only finds event boundaries (a blank line, with CR, LF or CRLF line ends, split anywhere across chunks)
and parses the ``event:`` and ``data:`` fields for the adapters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import StreamFormatError

MAX_EVENT_BYTES = 16 * 1024 * 1024
_LINE_END = re.compile(rb"\r\n|\r|\n")
_OTHER_FIELDS = (b"id", b"retry")


class SSEError(StreamFormatError):
    """The stream is not valid SSE (an event over the size limit)."""


@dataclass
class SSEEvent:
    raw: bytes
    event: str | None
    data: str | None

    @property
    def is_done(self) -> bool:
        return self.data is not None and self.data.startswith("[DONE]")


class SSEDecoder:
    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES):
        self._buf = bytearray()
        self._scan = 0  # where to look for the next line end
        self._event: str | None = None
        self._data: list[str] = []
        self._lines = 0  # lines of the current event, comments included
        self._max = max_event_bytes

    @property
    def idle(self) -> bool:
        """Nothing of an event waits for more bytes: the next chunk starts a new event."""
        return not self._buf

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if not self._buf and chunk.endswith(b"\n\n") and not chunk.startswith(b"\n") and b"\r" not in chunk \
                and b"\n\n\n" not in chunk:
            return self._whole_events(chunk)
        self._buf += chunk
        events: list[SSEEvent] = []
        start = self._scan
        buf = self._buf
        while True:
            match = _LINE_END.search(buf, start)
            if match is None:
                break
            if match.group() == b"\r" and match.end() == len(buf):
                break  # maybe the first half of a CRLF split across chunks
            line = bytes(buf[start:match.start()])
            start = match.end()
            if line:
                self._field(line)
                self._lines += 1
                continue
            raw = bytes(buf[:start])
            del buf[:start]
            start = 0
            if self._lines or not events:
                events.append(SSEEvent(raw, self._event, "\n".join(self._data) if self._data else None))
            else:
                events[-1].raw += raw  # a stray extra blank line stays with the event before it
            self._event, self._data, self._lines = None, [], 0
        self._scan = start
        if len(buf) > self._max:
            raise SSEError(f"server-sent event larger than {self._max} bytes")
        return events

    def _whole_events(self, chunk: bytes) -> list[SSEEvent]:
        """The common case, read without a buffer: nothing pending, and the chunk is whole events with LF line
        ends, each ended by one blank line (what ``feed`` would find line by line)."""
        events: list[SSEEvent] = []
        for part in chunk[:-2].split(b"\n\n"):
            if part.startswith(b"data: ") and b"\n" not in part:  # one data line
                events.append(SSEEvent(part + b"\n\n", None, part[6:].decode("utf-8", "replace")))
                continue
            for line in part.split(b"\n"):
                self._field(line)
            events.append(SSEEvent(part + b"\n\n", self._event, "\n".join(self._data) if self._data else None))
            self._event, self._data = None, []
        return events

    def flush(self) -> list[SSEEvent]:
        """At end of stream: an event that lacked its final blank line, or trailing bytes."""
        if not self._buf:
            return []
        tail = bytes(self._buf)
        line = bytes(self._buf[self._scan:]).rstrip(b"\r\n")
        if line:  # a lone CR left at the end is a line end (no LF can follow): the clients end the event there
            self._field(line)
        event = SSEEvent(tail, self._event, "\n".join(self._data) if self._data else None)
        self._buf.clear()
        self._scan = 0
        self._event, self._data, self._lines = None, [], 0
        return [event]

    def _field(self, line: bytes) -> None:
        if line.startswith(b":"):
            return  # comment
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name not in _OTHER_FIELDS:
            # Compliant clients ignore unknown fields, lenient ones may read the line as data: either way
            # the proxy would relay something it did not inspect (a JSON body, data lines without "data:").
            raise SSEError(f"not a server-sent event line: {line[:80]!r}")


def encode_event(data: str, event: str | None = None) -> bytes:
    """One SSE event, LF-framed; ``data`` must not contain newlines (compact JSON)."""
    if event is None:
        return b"data: " + data.encode() + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data.encode() + b"\n\n"
