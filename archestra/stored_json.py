"""How JSON columns are written: the database engine's ``json_serializer``.

Two savings on the recorder's path, the values read back unchanged:

* A body the proxy already read with its strict parser (``Checked``: the request it forwarded, the answer it
  decided) is stored as the text it came as (``JSONText``), not parsed again and re-encoded.
* Everything else is encoded by orjson (several times faster than ``json.dumps``); what orjson cannot encode
  (integers beyond 64 bits, strings holding lone surrogates, keys that are not strings) falls back to
  ``json.dumps``, as before. Non-finite floats (``NaN``, ``Infinity``: not JSON, refused by PostgreSQL) become
  ``null``.
"""
from __future__ import annotations

import json
from typing import Any

import orjson


class Checked(bytes):
    """Bytes that the strict parser (``strict_json.loads_strict``) read as one JSON document."""


class JSONText(str):
    """JSON text to store as it is."""


def stored_text(data: bytes) -> JSONText | None:
    """``data`` as text to store verbatim, when it was checked and decodes cleanly; None otherwise."""
    if not isinstance(data, Checked):
        return None
    try:
        return JSONText(data.decode(json.detect_encoding(data)))  # utf-8-sig drops a byte order mark
    except UnicodeDecodeError:  # lone surrogates the strict parser let through ("surrogatepass")
        return None


def dumps(value: Any) -> str:
    """The engine's JSON serializer (SQLAlchemy's ``json_serializer``)."""
    if type(value) is JSONText:
        return value
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value)
