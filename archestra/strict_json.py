"""Reading request bodies so that the proxy sees exactly what the upstream will see.

Parsers disagree on some JSON: with a key repeated in one object, Python keeps the last value while other
parsers keep the first or refuse the body, and ``NaN`` / ``Infinity`` are not JSON at all. A body the proxy
inspected must be the body the upstream parses, so such bodies are refused instead of forwarded as they came.

A first reading by orjson (several times faster; this runs on every request and every stream event) is taken
only when it provably agrees: orjson's own encoding of what it read is the input byte for byte. Then every key
appears once in its object (an encoding holds each key once), the numbers are the ones written (a number orjson
would read differently, an integer beyond 64 bits, does not encode back to its text), and the nesting is shallow
(few brackets at all). Anything else, spaced or escaped JSON included, is read by the strict decoder below.
"""
from __future__ import annotations

import json
from typing import Any

import orjson

#: Inputs with more opening brackets than this are read by the strict decoder (its nesting limit applies).
FAST_MAX_BRACKETS = 200


class AmbiguousJSON(ValueError):
    """JSON that different parsers would read differently."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise AmbiguousJSON(f"the key {duplicate!r} appears twice in one object")
    return result


def _no_constant(name: str) -> Any:
    raise AmbiguousJSON(f"{name} is not valid JSON")


# One decoder for every call: json.loads would build a new one each time (this runs on every stream event).
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_pairs, parse_constant=_no_constant)
_UNIQUE_KEYS_DECODER = json.JSONDecoder(object_pairs_hook=_unique_pairs)


def _fast(raw: Any) -> Any:
    """What orjson reads, when it provably reads what the strict decoder would; ``_NOT_FAST`` otherwise."""
    try:
        text = raw.encode() if type(raw) is str else raw if isinstance(raw, bytes) else None
    except UnicodeEncodeError:  # lone surrogates: read as Python reads them
        return _NOT_FAST
    if text is None or text.count(b"{") + text.count(b"[") > FAST_MAX_BRACKETS or b'": ' in text[:256]:
        return _NOT_FAST  # deep perhaps, or spaced (never the encoding orjson writes): not worth a try
    try:
        value = orjson.loads(text)
        same = orjson.dumps(value) == text
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return _NOT_FAST
    return value if same else _NOT_FAST


_NOT_FAST = object()


def loads_strict(raw: bytes | str) -> Any:
    """``json.loads`` that refuses duplicate keys, non-finite number literals and nesting too deep to read
    (ValueError)."""
    value = _fast(raw)
    if value is not _NOT_FAST:
        return value
    if not isinstance(raw, str):
        raw = raw.decode(json.detect_encoding(raw), "surrogatepass")
    try:
        return _DECODER.decode(raw)
    except RecursionError:
        raise AmbiguousJSON("the JSON is nested too deeply") from None


def loads_unique_keys(raw: str) -> Any:
    """``json.loads`` that refuses only what hides a value: a key repeated in one object, nesting too deep to
    read (AmbiguousJSON). For text a model reads (tool results), where ``NaN`` is just what the text says."""
    value = _fast(raw)
    if value is not _NOT_FAST:
        return value
    try:
        return _UNIQUE_KEYS_DECODER.decode(raw)
    except RecursionError:
        raise AmbiguousJSON("the JSON is nested too deeply") from None


def loads_plain(raw: str | bytes) -> Any:
    """``json.loads`` itself (a repeated key keeps its last value): for stream events whose clients parse them
    with it (or with ``JSON.parse``, which reads them the same way)."""
    value = _fast(raw)
    return json.loads(raw) if value is _NOT_FAST else value
