"""Anthropic tools and content blocks as the security view sees them (provider-wire-formats.md section 2).

* Tools. A ``tools`` entry is read by the family's table (``anthropic_table.TABLE``, ``tool:<type>``; no
  ``type`` is ``custom``): the types whose calls come back to the client (custom, ``bash_*``, ``text_editor_*``,
  ``computer_*``, ``memory_*``, the browser and computer toolsets) are client tools; every other type, known
  (``web_search_*``, ``web_fetch_*``, ``code_execution_*``, ``tool_search_tool_*``, ``advisor_*``) or not (fail
  closed: and an undeclared type is unseen context too), is a provider-executed server tool named by its
  ``name`` (or its type when it has none), whose parameters are the whole entry. A toolset entry (no name) is
  the tool ``browser`` / ``computer``, the name its members' calls carry in ``toolset_name``; a call of a
  member carries it as ``ToolCall.toolset``, so that a policy on the toolset reaches every member. Each
  ``mcp_servers`` entry is one server tool named ``mcp:<server name>`` whose parameters are the entry without
  its ``authorization_token``; its ``mcp_toolset`` entries and ``tool_addition`` references follow it; the
  tool listing an ``mcp_toolset`` pins (``tools``) is a result of that server (``pinned_listings``: untrusted
  unless a policy trusts it). Tools defined inline in ``messages`` (``tool_addition`` blocks with a
  ``tool_definition``) are declared tools like the others.
* Calls. ``tool_use`` blocks are client calls; ``server_tool_use`` and ``mcp_tool_use`` blocks are calls the
  provider already ran (``server=True``). An MCP call is named after its server (``mcp:<server name>``) and
  its arguments are its input; code execution's sub-tools (``bash_code_execution``,
  ``text_editor_code_execution``) carry the declared tool's name, ``code_execution``.
* Results. ``tool_result`` answers a client call; every ``*_tool_result`` block (web search, web fetch, MCP,
  code execution, tool search, advisor, and types not known here) and ``mcp_tool_listing`` is the result of
  a server call (``server=True``, ``document`` = the whole block). A result is named after the call whose id
  it answers, of its own kind only (a ``tool_result`` never takes a server call's name, nor the reverse); an
  id shared by two calls names neither. A server result whose call is absent is named by its type when one
  tool alone produces it (``web_fetch_tool_result``: ``web_fetch``), an MCP tool listing by its server.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from ..exchange import Tool, ToolCall, ToolResult
from .anthropic_table import FAMILY, TABLE
from .content import content_text, set_content_text
from .shapes import Reading, refused_reason, unseen_reason
from .wire import CallNames, compact_json

TABLES = [TABLE]
CALL_TYPES = ("tool_use", "server_tool_use", "mcp_tool_use")
_TOOLSET = "_toolset_"
_SUB_TOOLS = {"bash_code_execution": "code_execution", "text_editor_code_execution": "code_execution"}
#: Result types only one (declared) server tool produces.
_RESULT_TOOLS = {"web_search_tool_result": "web_search", "web_fetch_tool_result": "web_fetch",
                 "code_execution_tool_result": "code_execution", "bash_code_execution_tool_result": "code_execution",
                 "text_editor_code_execution_tool_result": "code_execution", "advisor_tool_result": "advisor"}
_REMOVED = "(A tool addition was removed from this message by a tool invocation policy.)"


def blocks(content: Any) -> list[Any]:
    return content if isinstance(content, list) else []


def mcp_name(server: Any) -> str:
    return f"mcp:{server}"


# -- tools ----------------------------------------------------------------------------------------
def tool_type(entry: dict[str, Any]) -> Any:
    """A ``tools`` entry's type as the table names it (an entry without one is a ``custom`` tool)."""
    return entry.get("type") if entry.get("type") is not None else "custom"


def tool_reading(entry: dict[str, Any]) -> Reading:
    return TABLE.in_request("tool", tool_type(entry))


def entry_name(entry: dict[str, Any]) -> str | None:
    """The name a ``tools`` entry (or inline definition) is known by; None for MCP toolsets. A client toolset
    (``browser_toolset_20260801``) is known by the name its members' calls carry (``browser``)."""
    kind = tool_type(entry)
    if kind == "mcp_toolset":
        return None
    if isinstance(kind, str) and _TOOLSET in kind and tool_reading(entry) is Reading.CALL:
        return kind.split(_TOOLSET)[0]
    name = entry.get("name") or entry.get("type")
    return str(name) if name else None


def is_server_entry(entry: dict[str, Any]) -> bool:
    """Every entry whose calls do not come back to the client: declared server tools and undeclared types."""
    return tool_reading(entry) is not Reading.CALL


def tool_of(entry: Any) -> Tool | None:
    if not isinstance(entry, dict) or (name := entry_name(entry)) is None:
        return None
    if is_server_entry(entry):
        return Tool(name, entry.get("description"), dict(entry), server=True)
    if tool_type(entry) == "custom":
        return Tool(name, entry.get("description"), entry.get("input_schema"))
    return Tool(name, entry.get("description"), dict(entry))


def _additions(block: Any) -> list[Any]:
    """The ``tool_addition`` blocks a block is or carries (a compaction's ``tool_changes`` add tools too)."""
    if not isinstance(block, dict):
        return []
    if block.get("type") == "compaction":
        return [change for change in blocks(block.get("tool_changes")) if isinstance(change, dict)
                and change.get("type") == "tool_addition"]
    return [block] if block.get("type") == "tool_addition" else []


def inline_definitions(messages: Iterable[Any]) -> list[dict[str, Any]]:
    """Tool definitions carried by ``tool_addition`` blocks in the conversation (and in compactions)."""
    found = []
    for message in messages:
        for block in blocks(message.get("content") if isinstance(message, dict) else None):
            for addition in _additions(block):
                tool = addition.get("tool")
                if isinstance(tool, dict) and tool.get("type") == "tool_definition":
                    if isinstance(tool.get("definition"), dict):
                        found.append(tool["definition"])
    return found


def tool_entries(body: dict[str, Any]) -> list[Any]:
    """The request's tool entries: ``tools`` and the definitions carried in ``messages``."""
    return [*(body.get("tools") or ()), *inline_definitions(body.get("messages") or ())]


def declared_tools(body: dict[str, Any], entries: list[Any] | None = None) -> list[Tool]:
    entries = tool_entries(body) if entries is None else entries
    tools = [tool for tool in map(tool_of, entries) if tool is not None]
    for server in body.get("mcp_servers") or ():
        if isinstance(server, dict) and server.get("name"):
            config = {k: v for k, v in server.items() if k != "authorization_token"}
            tools.append(Tool(mcp_name(server["name"]), None, config, server=True))
    return tools


def undeclared_tools(body: dict[str, Any], entries: list[Any] | None = None) -> list[str]:
    """The ``tools`` entries (inline definitions included) and ``mcp_servers`` of types the table does not
    hold: unseen context (the entry is also a server tool, decided before the request leaves)."""
    entries = tool_entries(body) if entries is None else entries
    found = [unseen_reason(FAMILY, "tool", tool_type(e) if isinstance(e, dict) else e) for e in entries
             if not isinstance(e, dict) or tool_reading(e) is Reading.UNSEEN]
    servers = body.get("mcp_servers") or ()
    return found + [unseen_reason(FAMILY, "mcp_server", s.get("type") if isinstance(s, dict) else s)
                    for s in servers
                    if TABLE.in_request("mcp_server", s.get("type") if isinstance(s, dict) else None)
                    is Reading.UNSEEN]


def pinned_listings(body: dict[str, Any], entries: list[Any] | None = None) -> list[ToolResult]:
    """The tool listings ``mcp_toolset`` entries pin (in ``tools`` or defined inline): what the model reads of
    an MCP server's tools without the server being asked, so a result of that server (untrusted unless a
    policy trusts ``mcp:<server>``). A blocked or sanitised listing takes its server out of the request."""
    found = []
    for entry in tool_entries(body) if entries is None else entries:
        if isinstance(entry, dict) and entry.get("type") == "mcp_toolset" and entry.get("tools") is not None:
            listing = {"type": "mcp_tool_listing", "mcp_server_name": entry.get("mcp_server_name"),
                       "tools": entry["tools"]}
            text = compact_json(listing)
            found.append(ToolResult(None, mcp_name(entry.get("mcp_server_name")), text, document=listing,
                                    server=True, _ref=("listing", None), _original=text))
    return found


def _dropped(entry: Any, removed: set[tuple[bool, str]]) -> bool:
    """Whether a tools entry (or inline definition / reference) goes: its tool or MCP server was removed.
    Tools are told apart by kind and name, so a client tool never shields a server tool of the same name."""
    if not isinstance(entry, dict):
        return False
    if entry.get("type") == "tool_definition":
        return _dropped(entry.get("definition"), removed)
    if entry.get("type") in ("mcp_toolset", "mcp_toolset_reference", "mcp_tool_reference"):
        return (True, mcp_name(entry.get("mcp_server_name") or entry.get("server_name"))) in removed
    if entry.get("type") == "tool_reference":
        return (True, entry.get("name")) in removed or (False, entry.get("name")) in removed
    return (is_server_entry(entry), entry_name(entry)) in removed


def write_tools(body: dict[str, Any], kept: list[Tool]) -> None:
    """Remove from ``body`` the declared tools that are not in ``kept`` any more (removed by a hook or the
    server-tool gate): ``tools`` entries, ``mcp_servers`` (with their toolsets), ``tool_addition`` blocks
    defining or naming them, and a ``tool_choice`` that names one."""
    removed = {(t.server, t.name) for t in declared_tools(body)} - {(t.server, t.name) for t in kept}
    if not removed:
        return
    if isinstance(body.get("tools"), list):
        body["tools"] = [t for t in body["tools"] if not _dropped(t, removed)]
    if isinstance(body.get("mcp_servers"), list):
        body["mcp_servers"] = [s for s in body["mcp_servers"]
                               if not (isinstance(s, dict) and (True, mcp_name(s.get("name"))) in removed)]
        if not body["mcp_servers"]:
            body.pop("mcp_servers")
    for message in body.get("messages") or ():
        content = blocks(message.get("content") if isinstance(message, dict) else None)
        if any(_additions(b) for b in content):
            # A compaction cannot be edited (its signature): one that adds a removed tool goes whole.
            kept_blocks = [b for b in content if not any(_dropped(a.get("tool"), removed) for a in _additions(b))]
            message["content"] = kept_blocks or [{"type": "text", "text": _REMOVED}]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool" and choice.get("name") in {n for _, n in removed}:
        body["tool_choice"] = {"type": "auto", **{k: v for k, v in choice.items()
                                                  if k == "disable_parallel_tool_use"}}
    if "tools" in body and not body["tools"]:
        body.pop("tools")
        if "mcp_servers" not in body:
            body.pop("tool_choice", None)


# -- calls and results ------------------------------------------------------------------------------
def call_name(block: dict[str, Any]) -> str:
    if block.get("type") == "mcp_tool_use":
        return mcp_name(block.get("server_name", ""))
    name = str(block.get("name", ""))
    return _SUB_TOOLS.get(name, name) if block.get("type") == "server_tool_use" else name


def call_of(block: dict[str, Any]) -> ToolCall:
    """A call block as decided: a toolset member's call carries its toolset (``toolset_name``)."""
    arguments = block.get("input", {})
    return ToolCall(block.get("id"), call_name(block), arguments, json.dumps(arguments),
                    server=block.get("type") != "tool_use", toolset=toolset_of(block))


def toolset_of(block: dict[str, Any]) -> str | None:
    """The toolset a call block's tool is a member of (``toolset_name``: ``browser``, ``computer``)."""
    toolset = block.get("toolset_name")
    return toolset if isinstance(toolset, str) else None


def refused_call(block: Any) -> ToolCall:
    """An answer block the table does not hold: a call no policy can allow (the answer is refused)."""
    kind = block.get("type") if isinstance(block, dict) else block
    shown = kind if isinstance(block, dict) and isinstance(kind, str) else f"{type(kind).__name__} value"
    return ToolCall(block.get("id") if isinstance(block, dict) else None, shown, {}, "{}",
                    refuse=refused_reason(FAMILY, "content block", shown))


def is_server_result(kind: Any) -> bool:
    """Every provider-executed result block, known or not (fail closed)."""
    return isinstance(kind, str) and kind != "tool_result" and (kind.endswith("_tool_result")
                                                                 or kind == "mcp_tool_listing")


class Names:
    """Call id -> tool name, kept apart for client and server calls (see :class:`CallNames`)."""

    def __init__(self) -> None:
        self._names = CallNames()

    def add(self, block: dict[str, Any]) -> None:
        kind = "client" if block.get("type") == "tool_use" else "server"
        self._names.add(block.get("id"), f"{kind}:{call_name(block)}")

    def name(self, call_id: Any, server: bool) -> str | None:
        found = self._names.name(call_id if isinstance(call_id, str) else None)
        prefix = "server:" if server else "client:"
        return found[len(prefix):] if found and found.startswith(prefix) else None

    def knows(self, call_id: Any) -> bool:
        return isinstance(call_id, str) and self._names.knows(call_id)


def tool_result_text(content: Any) -> str:
    text = content_text(content)
    if text is not None:
        return text
    return "" if content is None else json.dumps(content)


def client_result(block: dict[str, Any], names: Names, ref: Any) -> ToolResult:
    """A ``tool_result``: conditions see the whole content when it holds more than text blocks."""
    content = block.get("content")
    text = tool_result_text(content)
    whole = isinstance(content, list) and any(not isinstance(b, dict) or b.get("type") != "text" for b in content)
    return ToolResult(block.get("tool_use_id"), names.name(block.get("tool_use_id"), server=False), text,
                      is_error=bool(block.get("is_error")), document=content if whole else None,
                      _ref=ref, _original=text)


def result_name(block: dict[str, Any], names: Names) -> str | None:
    """The server tool a result block belongs to: the call its id answers. A result whose call is not in
    the request or answer (a ``pause_turn`` continuation answers calls of the previous answer) is named by
    its type when only one tool produces that type; a type that contradicts the call names nothing."""
    kind, call_id = block.get("type"), block.get("tool_use_id")
    if kind == "mcp_tool_listing":
        return mcp_name(block.get("mcp_server_name"))
    by_type = _RESULT_TOOLS.get(str(kind))
    if not names.knows(call_id):
        return by_type
    by_id = names.name(call_id, server=True)
    return by_id if by_type is None or by_id == by_type else None


def server_result(block: dict[str, Any], names: Names, ref: Any) -> ToolResult:
    """A provider-executed result block (web search, web fetch, MCP, code execution, ...)."""
    name = result_name(block, names)
    content = block.get("content")
    text = content if isinstance(content, str) else compact_json(content)
    failed = bool(block.get("is_error")) or (isinstance(content, dict) and str(content.get("type", ""))
                                             .endswith("_error"))
    return ToolResult(block.get("tool_use_id"), name, text, is_error=failed, document=block, server=True,
                      _ref=ref, _original=text)


def answer_segments(content: Any) -> list[tuple[list[ToolCall], list[ToolResult]]]:
    """The calls of one answer, cut where a server result comes after a call: each segment is decided with
    the results that came before it (earlier segments' results stay in context)."""
    names, segments = Names(), []
    calls: list[ToolCall] = []
    results: list[ToolResult] = []
    if content is not None and not isinstance(content, list):  # not an answer's shape: nothing in it is read
        shown = f"{type(content).__name__} value"
        return [([ToolCall(None, "content", {}, "{}", refuse=refused_reason(FAMILY, "content", shown))], [])]
    for position, block in enumerate(blocks(content)):
        reading = TABLE.in_answer("content", block.get("type") if isinstance(block, dict) else None)
        if reading is Reading.REFUSED:
            calls.append(refused_call(block))
        elif block.get("type") in CALL_TYPES:
            names.add(block)
            calls.append(call_of(block))
        elif reading is Reading.RESULT:
            if calls:
                segments.append((calls, results))
                calls, results = [], []
            results.append(server_result(block, names, position))
    if calls:
        segments.append((calls, results))
    return segments


# -- writing hook edits back ------------------------------------------------------------------------
def write_result(raw: dict[str, Any], result: ToolResult, dropped: list[Any]) -> None:
    """Put an edited result (redacted, blocked, sanitised) back where it was read. A server result becomes a
    text block and its call goes (``dropped``): the API accepts no free text in a result's typed content."""
    kind, position = result._ref
    if kind == "listing":  # a pinned MCP listing: its server goes (``Anthropic.write_request``)
        return
    if kind == "string":
        raw["content"] = result.content
        return
    content = raw["content"]
    block = content[position]
    if kind == "tool_result":
        content[position] = {**block, "content": result.content}
    elif kind == "reminder" and block.get("type") == "text":
        content[position] = {**block, "text": result.content}
    else:
        content[position] = {"type": "text", "text": result.content}
        if kind == "server" and result.tool_call_id:
            dropped += [b for b in content if isinstance(b, dict) and b.get("type") in CALL_TYPES[1:]
                        and b.get("id") == result.tool_call_id]


def set_text(raw: dict[str, Any], text: str, skip: set[int]) -> None:
    """Replace a message's own text, keeping other blocks (and the text blocks at ``skip``) where they were."""
    set_content_text(raw, text, skip=skip)
