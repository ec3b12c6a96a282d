"""What an Anthropic request makes the model read that the proxy cannot: every part, at any depth, read by the
family's declared table (``anthropic_table.TABLE``).

A part whose reading is ``UNSEEN`` (a URL or file source, a search result outside any tool result, a container
upload, a compaction, an encrypted result...) or whose type the table does not hold is unseen context: the
context becomes untrusted and the refusal says where. Parts are read where they sit: a block of a message, a
block inside a ``tool_result``, an image's or a document's ``source``, the blocks of a ``content`` source, the
parts of a provider-executed tool's result. Beyond the places the table names, any nested object that names a
stored file (``file_id``) or a ``url`` / ``file`` source is unseen too, whatever field holds it: a new field
does not open a hole the table has no row for.
"""
from __future__ import annotations

from typing import Any

from .anthropic_table import FAMILY, SERVER_RESULTS, TABLE
from .shapes import Reading, unseen_reason

#: Where the parts of a block are read: block type -> (field, the place its parts are read as).
_NESTED: dict[str, tuple[tuple[str, str], ...]] = {
    "tool_result": (("content", "tool_result"),),
    "image": (("source", "source"),),
    "document": (("source", "source"),),
    "content": (("content", "document"),),  # a ``content`` source
    "search_result": (("content", "search_result"),),
    **{kind: (("content", "result"),) for kind in SERVER_RESULTS if kind != "mcp_tool_listing"},
    "web_fetch_result": (("content", "result"),),
    "code_execution_result": (("content", "result"),),
    "bash_code_execution_result": (("content", "result"),),
    "tool_search_tool_search_result": (("tool_references", "result"),),
    "compaction": (("tool_changes", "content"),),
    "tool_addition": (("tool", "tool_change"),),
    "tool_removal": (("tool", "tool_change"),),
}
_CALLS = (Reading.CALL, Reading.SERVER_TOOL)
_SOURCES = ("url", "file")


def unseen(block: Any, where: str = "content") -> str | None:
    """Why a block (of ``where``) makes the model read something the proxy cannot see, or None."""
    found = _unseen(block, where)
    if found is None and type(block) is dict and _reading(where, block.get("type")) not in _CALLS:
        if reference := _stored_reference(block):  # once, over the whole block
            found = f"a {block.get('type')} block names {reference}"
    return found


def _kind(part: Any) -> Any:
    return part.get("type") if isinstance(part, dict) else None


#: The table's request rows by ``(where, type)``: read for every part of every request, so looked up directly.
_ROWS = {tuple(key.split(":", 1)): reading for key, reading in TABLE.request.items()}


def _reading(where: str, kind: Any) -> Reading:
    """``TABLE.in_request(where, kind)``: UNSEEN for anything the table does not hold."""
    return _ROWS.get((where, kind), Reading.UNSEEN) if type(kind) is str else Reading.UNSEEN


def _unseen(part: Any, where: str) -> str | None:
    """The first unseen part of ``part`` (read as ``where``) and of the parts it holds, by the table."""
    kind = _kind(part)
    reading = _reading(where, kind)
    if kind == "compaction" and not (part.get("content") or part.get("encrypted_content")):
        reading = Reading.OPAQUE  # a failed compaction: the server treats it as nothing
    if reading is Reading.UNSEEN:
        return _reason(where, kind if isinstance(part, dict) else f"{type(part).__name__} value")
    if reading in _CALLS:  # a call's input is what the model wrote, not context it reads
        return None
    for field, inner in _NESTED.get(kind, ()) if isinstance(kind, str) else ():
        value = part.get(field)
        for child in value if isinstance(value, list) else [value] if isinstance(value, dict) else ():
            if found := _unseen(child, inner):
                return found
    return None


def _stored_reference(value: Any) -> str | None:
    """A stored file or a URL source anywhere inside ``value`` (the belt under the table's rows)."""
    stack, count = [value], 0
    while stack:
        item = stack.pop()
        count += 1
        if count > 100_000:
            return "more nested content than the proxy reads"
        if type(item) is dict:
            if "file_id" in item:
                return f"a stored file ({item.get('file_id')!r})"
            if item.get("type") in _SOURCES and ("url" in item or "file_id" in item):
                return f"a {item['type']} source"
            values: Any = item.values()
        elif type(item) is list:
            values = item
        else:
            continue
        for child in values:
            if type(child) is dict or type(child) is list:
                stack.append(child)
    return None


def request_unseen(body: dict[str, Any]) -> list[str]:
    """The request's own fields that bring in context the request does not carry: a field the table does not
    hold, a server-held thread, a reused container (its id, or the field as a string), the skills loaded in it."""
    found = [f"{name}: {unseen_reason(FAMILY, 'field', name)}" for name in body
             if TABLE.in_request("field", name) is Reading.UNSEEN]
    thread = body.get("thread")
    if thread is not None and (reason := _unseen(thread, "thread")):
        found.append(f"thread: {reason}")
    container = body.get("container")
    if isinstance(container, str) or (isinstance(container, dict) and container.get("id") is not None):
        found.append(f"container: {_reason('container', 'id')}")
    elif container is not None and not isinstance(container, dict):
        found.append(f"container: {unseen_reason(FAMILY, 'container', type(container).__name__)}")
    skills = container.get("skills") if isinstance(container, dict) else None
    for skill in skills if isinstance(skills, list) else [skills] if skills is not None else ():
        if reason := _unseen(skill, "skill"):
            found.append(f"container.skills: {reason}")
    return found


def _reason(where: str, kind: Any) -> str:
    note = TABLE.notes.get(f"{where}:{kind}")
    return f"a {where} of type {kind!r}: {note}" if note else unseen_reason(FAMILY, where, kind)
