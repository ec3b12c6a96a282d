"""An incremental decoder for a JSON array streamed one element at a time (Gemini without ``alt=sse``).

Each element comes out with its raw bytes, including the framing before it (``[``, ``,``, white space),
so a relay can re-emit the stream byte for byte; the closing ``]`` comes out as a raw-only element.
Element boundaries are found by tracking ``{}``/``[]`` depth outside strings: nothing is re-parsed. Between
elements the array's own grammar is kept (one comma between two elements, nothing after the closing bracket):
bytes a client's JSON reader would stop at are never relayed as if they were elements.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import StreamFormatError

MAX_ELEMENT_BYTES = 16 * 1024 * 1024


@dataclass
class ArrayElement:
    raw: bytes               # framing + element bytes, exactly as received
    prefix: bytes            # the framing part of ``raw``
    data: str | None         # the element's JSON text; None for the closing bracket / trailing bytes

    is_done = False


class JSONArrayDecoder:
    def __init__(self, max_element_bytes: int = MAX_ELEMENT_BYTES):
        self._buf = bytearray()
        self._pos = 0          # scan position in _buf
        self._start = -1       # where the current element begins, -1 while between elements
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._opened = False   # the outer '[' was seen
        self._comma = True     # the next element may start (after '[' or a comma)
        self._closed = False   # the outer ']' was seen
        self._max = max_element_bytes

    def feed(self, chunk: bytes) -> list[ArrayElement]:
        self._buf += chunk
        out: list[ArrayElement] = []
        buf, i = self._buf, self._pos
        while i < len(buf):
            byte = buf[i]
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif byte == 0x5C:  # backslash
                    self._escape = True
                elif byte == 0x22:
                    self._in_string = False
            elif self._start < 0:
                if byte in b" \t\r\n":
                    pass
                elif self._closed:
                    raise StreamFormatError(f"unexpected byte {bytes([byte])!r} after the JSON array")
                elif byte == 0x5B and not self._opened:  # '['
                    self._opened = True
                elif byte in (0x7B, 0x5B) and self._opened and self._comma:  # an element starts
                    self._start, self._depth, self._comma = i, 1, False
                elif byte == 0x2C and self._opened and not self._comma:  # ','
                    self._comma = True
                elif byte == 0x5D and self._opened:  # the closing ']'
                    self._closed = True
                else:
                    raise StreamFormatError(f"unexpected byte {bytes([byte])!r} between JSON array elements")
            elif byte == 0x22:
                self._in_string = True
            elif byte in (0x7B, 0x5B):
                self._depth += 1
            elif byte in (0x7D, 0x5D):
                self._depth -= 1
                if self._depth == 0:
                    prefix = bytes(buf[:self._start])
                    element = bytes(buf[self._start:i + 1])
                    out.append(ArrayElement(prefix + element, prefix, element.decode("utf-8")))
                    del buf[:i + 1]
                    i, self._start = -1, -1
            i += 1
        self._pos = i
        if self._start >= 0 and len(buf) > self._max:
            raise StreamFormatError(f"JSON array element larger than {self._max} bytes")
        return out

    def flush(self) -> list[ArrayElement]:
        if self._start >= 0:
            raise StreamFormatError("JSON stream ended inside an element")
        if not self._buf:
            return []
        tail = bytes(self._buf)
        self._buf.clear()
        self._pos = 0
        return [ArrayElement(tail, tail, None)]
