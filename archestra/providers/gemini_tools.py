"""Gemini's provider-executed tools: the server tools a request declares (Google Search, URL context, code
execution, Maps, retrieval, MCP servers...) and the results they leave in a conversation or an answer.

Server tools are named after their field in snake_case (``googleSearch`` -> ``google_search``), MCP servers
``mcp:<server name>`` as Anthropic's are (their transport headers, credentials, are left out of the recorded
configuration). Their results carry the same names, so an operator trusts them with a result policy on that
tool: ``codeExecutionResult`` parts (``code_execution``), server-side ``toolResponse`` parts (named from their
``toolType``), and, in answers, ``groundingMetadata`` (named from the kind of source it cites) and
``urlContextMetadata`` (``url_context``). Their documents are in lowerCamel whatever the client's spelling.
Tools that read what no answer may show (file search stores, retrieval data stores, an MCP server's tool
listing) are also a result of that tool in the request itself: untrusted until a result policy trusts it.
Computer use is a toolset the client runs: its predefined functions are declared members.
"""
from __future__ import annotations

import json
from typing import Any

from ..exchange import Tool, ToolResult
from .gemini_format import camel, field, snake

#: Tool fields whose tools the client runs itself: the model answers them with ``functionCall`` parts.
CLIENT_FIELDS = {"function_declarations", "computer_use"}
MCP = "mcp_servers"
_TOOL_TYPES = {"GOOGLE_SEARCH_WEB": "google_search", "GOOGLE_SEARCH_IMAGE": "google_search",
               "URL_CONTEXT": "url_context", "GOOGLE_MAPS": "google_maps", "FILE_SEARCH": "file_search",
               "MEDIA_PROCESSING": "media_processing"}


def _mcp_name(server: Any) -> str:
    name = server.get("name") if isinstance(server, dict) else None
    return f"mcp:{name}" if name else "mcp:"


def _mcp_configuration(server: Any) -> dict[str, Any]:
    """An MCP server's configuration without the headers its transport sends (credentials): it is recorded."""
    if not isinstance(server, dict):
        return {"value": server}
    out = {}
    for key, value in server.items():
        if snake(key) == "streamable_http_transport" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if snake(k) != "headers"}
        out[key] = value
    return out


def _configuration(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"value": value}


def server_tools(tools: Any) -> list[Tool]:
    """Every provider-executed tool of a request's ``tools`` (any field but function declarations and
    computer use: a field this proxy does not know is taken for a server tool, so it is decided too)."""
    found = []
    for tool in tools if isinstance(tools, list) else ():
        for key, value in (tool.items() if isinstance(tool, dict) else ()):
            name = snake(key)
            if name in CLIENT_FIELDS or value is None:
                continue
            if name == MCP:
                servers = value if isinstance(value, list) else [value]
                found += [Tool(_mcp_name(s), None, _mcp_configuration(s), server=True) for s in servers]
            else:
                found.append(Tool(name, None, _configuration(value), server=True))
    return found


def keep_server_tools(tools: list[Any], kept: list[Tool]) -> list[Any]:
    """``tools`` without the server tools that are not in ``kept`` (matched by name and configuration);
    entries left empty are dropped."""
    allowed = [(t.name, t.parameters) for t in kept if t.server]
    out = []
    for tool in tools:
        if not isinstance(tool, dict):
            out.append(tool)
            continue
        tool = dict(tool)
        for key in list(tool):
            name = snake(key)
            if name in CLIENT_FIELDS or tool[key] is None:
                continue
            if name == MCP:
                servers = tool[key] if isinstance(tool[key], list) else [tool[key]]
                servers = [s for s in servers if (_mcp_name(s), _mcp_configuration(s)) in allowed]
                if servers:
                    tool[key] = servers
                else:
                    del tool[key]
            elif (name, _configuration(tool[key])) not in allowed:
                del tool[key]
        if tool:
            out.append(tool)
    return out


def _result(call_id: Any, name: str, document: Any, position: Any = None) -> ToolResult:
    document = camel(document)
    text = json.dumps(document, ensure_ascii=False)
    return ToolResult(call_id if isinstance(call_id, str) else None, name, text, document=document, server=True,
                      _ref=position, _original=text)


def tool_type_name(value: dict[str, Any]) -> str:
    """The server tool a ``toolCall`` / ``toolResponse`` belongs to, from its ``toolType``."""
    kind = str(field(value, "toolType") or "")
    return _TOOL_TYPES.get(kind) or (kind.lower() if kind else "server_tool")


def field_result(name: str, value: Any, position: Any = None) -> ToolResult | None:
    """The provider-executed result one part field carries (``name`` in lowerCamel): code execution output,
    a server-side tool response."""
    if not isinstance(value, dict):
        return None
    if name == "codeExecutionResult":
        return _result(value.get("id"), "code_execution", value, position)
    if name == "toolResponse":
        return _result(value.get("id"), tool_type_name(value), value, position)
    return None


#: Server tools whose reads the answer may not show (stored documents, a remote MCP server's tool listing):
#: what they bring is a result of the tool already in the request, untrusted unless a result policy trusts it.
_STORED = {"file_search": "the documents of the file search stores it names",
           "retrieval": "the documents of the data stores it names",
           MCP: "the tool listing (names, descriptions) this MCP server gives Google"}


def stored_reads(tools: Any) -> list[ToolResult]:
    """One result per declared tool that reads what the proxy cannot (see ``_STORED``)."""
    found = []
    for tool in server_tools(tools):
        kind = MCP if tool.name.startswith("mcp:") else tool.name
        if kind in _STORED:
            document = {"tool": tool.name, "reads": _STORED[kind], "configuration": tool.parameters}
            found.append(_result(None, tool.name, document, ("tools", tool.name)))
    return found


#: The functions of Gemini's computer use tool (its members, as a toolset): the client runs them.
COMPUTER_USE = "computer_use"
COMPUTER_FUNCTIONS = ("open_web_browser", "wait_5_seconds", "go_back", "go_forward", "search", "navigate",
                      "click_at", "hover_at", "type_text_at", "key_combination", "scroll_document", "scroll_at",
                      "drag_and_drop")


def computer_members(tools: Any) -> list[Tool]:
    """The predefined functions a declared computer use tool makes callable (but those it excludes)."""
    found = []
    for tool in tools if isinstance(tools, list) else ():
        config = field(tool, "computerUse")
        if isinstance(config, dict):
            excluded = field(config, "excludedPredefinedFunctions") or ()
            found += [Tool(name, None, None) for name in COMPUTER_FUNCTIONS if name not in excluded]
    return found


def _grounding_sources(metadata: dict[str, Any]) -> list[str]:
    """Which server tools a grounding metadata comes from, by the kind of source it cites."""
    names = []
    chunks = [c for c in field(metadata, "groundingChunks") or () if isinstance(c, dict)]
    if (any("web" in c or "image" in c for c in chunks) or field(metadata, "webSearchQueries")
            or field(metadata, "imageSearchQueries") or field(metadata, "searchEntryPoint")):
        names.append("google_search")
    if any("maps" in c for c in chunks) or field(metadata, "googleMapsWidgetContextToken"):
        names.append("google_maps")
    contexts = [field(c, "retrievedContext") for c in chunks if field(c, "retrievedContext")]
    if any(field(c, "fileSearchStore") for c in contexts if isinstance(c, dict)):
        names.append("file_search")
    if (any(not (isinstance(c, dict) and field(c, "fileSearchStore")) for c in contexts)
            or field(metadata, "retrievalQueries") or field(metadata, "retrievalMetadata")):
        names.append("retrieval")
    return names or ["google_search"]


def metadata_results(candidate: Any) -> list[ToolResult]:
    """What a candidate's grounding and URL context metadata say the model read (the whole metadata is the
    result's document)."""
    results = []
    grounding = field(candidate, "groundingMetadata")
    if isinstance(grounding, dict) and grounding:
        results += [_result(None, name, grounding) for name in _grounding_sources(grounding)]
    fetched = field(candidate, "urlContextMetadata")
    if isinstance(fetched, dict) and fetched:
        results.append(_result(None, "url_context", fetched))
    return results


def write_result(part: dict[str, Any], name: str, result: ToolResult) -> None:
    """Put an edited result (blocked, sanitised) back into the field ``name`` (lowerCamel) of its part, in that
    field's own shape."""
    try:
        value = json.loads(result.content)
    except ValueError:
        value = None
    key = next((k for k in (name, snake(name)) if isinstance(part.get(k), dict)), None)
    if key is None:
        return
    if name == "codeExecutionResult":
        part[key] = {**part[key], "output": result.content}
        return
    part[key] = {**part[key], "response": value if isinstance(value, dict) else {"result": result.content}}
    part[key].pop("parts", None)
