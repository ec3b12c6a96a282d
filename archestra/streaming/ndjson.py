"""An incremental decoder for newline-delimited JSON (``application/x-ndjson``: Ollama's native streams).

One JSON value per line; a line may be split anywhere across chunks (inside a UTF-8 sequence too). Each line
comes out with its raw bytes, newline included, so a relay can re-emit the stream byte for byte. Nothing is
parsed here: the relay reads each line's JSON.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import StreamFormatError

MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass
class NDJSONLine:
    raw: bytes          # the line as received, its newline included (none for a last line without one)
    data: str | None    # the line's text without its line ending; None for a line of white space only

    is_done = False


class NDJSONDecoder:
    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES):
        self._buf = bytearray()
        self._max = max_line_bytes

    def feed(self, chunk: bytes) -> list[NDJSONLine]:
        self._buf += chunk
        out: list[NDJSONLine] = []
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end < 0:
                break
            out.append(_line(bytes(self._buf[start:end + 1])))
            start = end + 1
        del self._buf[:start]
        if len(self._buf) > self._max:
            raise StreamFormatError(f"NDJSON line longer than {self._max} bytes")
        return out

    def flush(self) -> list[NDJSONLine]:
        """The last line, when the stream ended without a newline after it."""
        if not self._buf:
            return []
        tail = bytes(self._buf)
        self._buf.clear()
        return [_line(tail)]


def _line(raw: bytes) -> NDJSONLine:
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise StreamFormatError("an NDJSON line that is not UTF-8") from None
    return NDJSONLine(raw, text if text.strip() else None)
