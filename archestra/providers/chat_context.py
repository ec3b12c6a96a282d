"""What a chat request (OpenAI chat completions and its kin, Cohere v2) gives the model that the proxy cannot
read, read by the family's declared table: roles, message fields and content parts the table does not hold,
remote URLs and stored references at any depth of a part, and the request-level grounding ``documents``.

URLs and ids are read where the wire formats put them: under the keys in ``_URL_KEYS`` (``url``,
``image_url``, ``document_url``... a string or an object holding ``url``) and ``file_id``, however deep in a
content part. A ``data:`` URL and inline base64 are data the proxy can see (inert); a URL with any other
scheme is fetched by the provider (unseen context), and so is a stored id.
"""
from __future__ import annotations

import re
from typing import Any

from ..exchange import ToolResult
from .shapes import FamilyTable, Reading, unseen_reason
from .wire import compact_json

#: The pseudo-tool whose results are a request's grounding documents (an operator may trust it by policy).
DOCUMENTS = "documents"
#: Keys whose string value (or an object's ``url``) is a URL the provider may fetch.
_URL_KEYS = frozenset({"url", "image_url", "document_url", "audio_url", "video_url", "file_url"})
#: Keys whose string value is inline data, or a URL when it has a scheme (Mistral ``input_audio``).
_DATA_KEYS = frozenset({"file_data", "input_audio", "data"})
#: Keys whose value is an id of something stored upstream.
_STORED_KEYS = frozenset({"file_id"})
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*):")
#: In a data key, only a URL that says so is one (``note: ...`` is text, base64 has no colon).
_DATA_URL = re.compile(r"^\s*(data:|[A-Za-z][A-Za-z0-9+.\-]*://)")
#: Parts whose fields are text the model reads (a Cohere document's ``data`` holds its fields, URLs included,
#: as text): nothing in them is fetched.
_TEXT_PARTS = frozenset({"document"})
#: Nesting beyond this is not read: unseen.
_DEPTH = 32


def unseen_context(table: FamilyTable, body: dict[str, Any]) -> list[str]:
    """Every part of a chat request the proxy cannot read, as ``Exchange.unseen_context`` entries."""
    found: list[str] = []
    fields = table.place("request", "field")  # message keys are strings: table.in_request("field", key)
    for index, message in enumerate(body.get("messages") or ()):
        # ``where`` is only spelled out for something found (most messages hold nothing unseen).
        role = message.get("role")
        if table.in_request("role", role) is Reading.UNSEEN:
            found.append(f"messages[{index}]: {unseen_reason(table.family, 'role', role)}")
        for key, value in message.items():
            if fields.get(key, Reading.UNSEEN) is not Reading.UNSEEN or empty(value):
                continue
            where = f"messages[{index}]"
            stored = value.get("id") if key == "audio" and isinstance(value, dict) else None
            found.append(f"{where} refers to the stored audio answer {stored}" if stored is not None
                         else f"{where}: {unseen_reason(table.family, 'message field', key)}")
        content = message.get("content")
        if content is not None and not isinstance(content, str):  # text has nothing unseen (_content: [])
            found += _content(table, content, f"messages[{index}]")
    for position, tool in enumerate(body.get("tools") or ()):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if table.in_request("tool", kind) is Reading.UNSEEN:
            found.append(f"tools[{position}]: {unseen_reason(table.family, 'tool', kind)}")
    return found


def documents_result(table: FamilyTable, body: dict[str, Any]) -> ToolResult | None:
    """The request's grounding ``documents`` (Cohere; the chat templates of OpenAI-compatible servers such as
    vLLM) as the result of the pseudo-tool ``documents``: untrusted unless a policy trusts that tool."""
    documents = body.get("documents")
    if empty(documents) or table.in_request("request", "documents") is not Reading.RESULT:
        return None
    text = compact_json(documents)
    return ToolResult(None, DOCUMENTS, text, document=documents, server=True, _ref=DOCUMENTS, _original=text)


def _content(table: FamilyTable, content: Any, where: str, depth: int = 0) -> list[str]:
    if content is None or isinstance(content, str):
        return []
    if not isinstance(content, list):
        return [f"{where}: {unseen_reason(table.family, 'content', type(content).__name__)}"]
    found = []
    for position, part in enumerate(content):
        at = f"{where}.content[{position}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if table.in_request("content", kind) is Reading.UNSEEN:
            found.append(f"{at}: {unseen_reason(table.family, 'content part', kind)}")
            continue
        if kind not in _TEXT_PARTS:
            found += _references(table, part, at, depth)
        if kind == "thinking" and isinstance(part.get("thinking"), list):  # Mistral: chunks inside
            found += _content(table, part["thinking"], at, depth + 1)
    return found


def _references(table: FamilyTable, value: Any, where: str, depth: int) -> list[str]:
    """The URLs and stored ids anywhere inside one content part."""
    if depth > _DEPTH:
        return [f"{where}: nested deeper than the proxy reads"]
    found: list[str] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(item, str):
            reason = _reference(table, key, item)
            if reason:
                found.append(f"{where}: {reason}")
        elif key in _URL_KEYS and isinstance(item, dict) and not isinstance(item.get("url"), str) \
                and not empty(item.get("url")):
            found.append(f"{where}: a {key} whose url is not text")
        else:
            found += _references(table, item, where, depth + 1)
    return found


def _reference(table: FamilyTable, key: Any, value: str) -> str | None:
    if key in _STORED_KEYS:
        return None if table.in_request("stored", key) is not Reading.UNSEEN else f"refers to the stored file {value}"
    if key not in _URL_KEYS and key not in _DATA_KEYS:
        return None
    scheme = _SCHEME.match(value) if key not in _DATA_KEYS or _DATA_URL.match(value) else None
    if scheme is None:
        # Inline base64 (no scheme) is data; a URL field without a scheme is something the provider resolves.
        return None if key in _DATA_KEYS else f"a {key} the proxy cannot read ({value[:80]!r})"
    name = scheme.group(1).lower()
    if table.in_request("url", name) is Reading.UNSEEN:
        return f"a {key} the provider fetches ({value[:200]})"
    return None


def empty(value: Any) -> bool:
    """A field that carries nothing (absent, null, empty text, list or object): there is nothing to read."""
    if value is None:
        return True
    kind = type(value)
    if kind is str or kind is list or kind is dict:  # what JSON gives: empty when it has no length
        return not value
    return value == "" or value == [] or value == {}
