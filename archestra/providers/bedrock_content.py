"""Bedrock Converse content blocks as the security decisions see them: tool uses (the client's, and the
provider's own ``server_tool_use``), tool results of every block type, and what an answer's provider-executed
tools (``systemTool`` such as ``nova_grounding``) left in it: their ``toolResult`` blocks and web citations.
The provider's own tool uses are decided like the client's (they ran already: a refusal withholds the answer)."""
from __future__ import annotations

import json
from typing import Any

from ..exchange import Tool, ToolCall, ToolResult
from .anthropic_blocks import declared_tools
from .base import CallNames

SERVER_TOOL_USE = "server_tool_use"


def _texts(value: Any, depth: int = 0) -> list[str]:
    """Every piece of text inside a content block, whatever its type (documents, search results, citations);
    past 32 levels (no Converse block nests so deep) the rest is taken as JSON."""
    if isinstance(value, str):
        return [value]
    if depth > 32:
        return [json.dumps(value, ensure_ascii=False)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item, depth + 1)]
    if not isinstance(value, dict):
        return []
    pieces = []
    for key, item in value.items():
        if key == "json":
            pieces.append(json.dumps(item, ensure_ascii=False))
        elif key in ("text", "title", "source", "context", "name", "url", "uri") and isinstance(item, str):
            pieces.append(item)
        elif isinstance(item, (dict, list)) and key != "bytes":
            pieces += _texts(item, depth + 1)
    return pieces


def tool_result_text(content: Any) -> str:
    """A tool result's content as text: the text of every block (text, JSON, documents, search results...)."""
    return "\n".join(_texts(content if isinstance(content, list) else []))


def tool_uses(blocks: Any) -> list[dict[str, Any]]:
    return [b["toolUse"] for b in blocks if isinstance(b, dict) and isinstance(b.get("toolUse"), dict)] \
        if isinstance(blocks, list) else []


def calls(blocks: Any, server: bool | None = False) -> list[ToolCall]:
    """The tool uses of a content list: the client's (``server=False``), the provider's, or all (None)."""
    found = []
    for use in tool_uses(blocks):
        if server is not None and (use.get("type") == SERVER_TOOL_USE) != server:
            continue
        found.append(ToolCall(use.get("toolUseId"), str(use.get("name", "")), use.get("input", {}),
                              json.dumps(use.get("input", {})), server=use.get("type") == SERVER_TOOL_USE))
    return found


def call_names(messages: Any) -> CallNames:
    names = CallNames()
    for message in messages if isinstance(messages, list) else ():
        for call in calls(message.get("content") if isinstance(message, dict) else None, server=None):
            names.add(call.id, call.name)
    return names


def tool_result(block: dict[str, Any], names: CallNames, server: bool, position: Any = None) -> ToolResult:
    """A ``toolResult`` block: tied to the one call its id names; its document is the whole content list."""
    call_id = block.get("toolUseId")
    name = names.name(call_id)
    if name is None and server and not names.knows(call_id) and isinstance(block.get("type"), str):
        name = block["type"]
    text = tool_result_text(block.get("content"))
    return ToolResult(call_id, name, text, is_error=block.get("status") == "error", document=block.get("content"),
                      server=server, _ref=position, _original=text)


def web_citations(block: dict[str, Any]) -> list[Any]:
    """The citations of a ``citationsContent`` block (or a streamed citation) that point at web pages."""
    citations = block.get("citations") if "citations" in block else [block]
    return [c for c in citations or () if isinstance(c, dict) and "web" in (c.get("location") or {})]


def answer_segments(blocks: Any) -> list[tuple[list[ToolCall], list[ToolResult]]]:
    """The tool uses of an answer (the provider's own included), cut where a provider-executed result (a
    ``toolResult`` block, web pages quoted by citations) comes after a call: each stretch is decided with the
    results before it."""
    names, segments = CallNames(), []
    found: list[ToolCall] = []
    results: list[ToolResult] = []
    for block in blocks if isinstance(blocks, list) else ():
        if not isinstance(block, dict):
            continue
        result = None
        if isinstance(block.get("toolUse"), dict):
            found += calls([block], server=None)
            names.add(found[-1].id, found[-1].name)
        elif isinstance(block.get("toolResult"), dict):
            result = tool_result(block["toolResult"], names, True)
        elif isinstance(block.get("citationsContent"), dict) and web_citations(block["citationsContent"]):
            result = cited_result(web_citations(block["citationsContent"]), blocks)
        if result is not None:
            if found:
                segments.append((found, results))
                found, results = [], []
            results.append(result)
    if found:
        segments.append((found, results))
    return segments


def cited_result(cited: list[Any], blocks: Any = None, server_name: str | None = None) -> ToolResult:
    """Web pages quoted by citations, as the result of the server tool that found them (when there was one)."""
    if server_name is None:
        server = calls(blocks, server=True)
        server_name = server[0].name if server else None
    text = tool_result_text(cited)
    return ToolResult(None, server_name, text, document=cited, server=True, _original=text)


def unseen(blocks: Any) -> list[str]:
    """Media and documents Bedrock reads from S3 (``source.s3Location``): context the proxy cannot see."""
    found = []
    for block in blocks if isinstance(blocks, list) else ():
        if not isinstance(block, dict):
            continue
        for kind, value in block.items():
            source = value.get("source") if isinstance(value, dict) else None
            if isinstance(source, dict) and isinstance(source.get("s3Location"), dict):
                found.append(f"a {kind} block read from {source['s3Location'].get('uri')}")
            elif kind == "toolResult" and isinstance(value, dict):
                found += unseen(value.get("content"))
    return found


def native_tools(body: dict[str, Any]) -> list[Tool]:
    """Tools declared in the model's own format inside ``additionalModelRequestFields`` (Anthropic's ``tools``
    and ``mcp_servers``, which Bedrock hands to Claude as they are): typed server tools there are decided
    before the request like ``systemTool`` entries."""
    native = body.get("additionalModelRequestFields")
    if not isinstance(native, dict):
        return []
    return declared_tools({"tools": native.get("tools") if isinstance(native.get("tools"), list) else [],
                           "mcp_servers": native.get("mcp_servers") if isinstance(native.get("mcp_servers"), list)
                           else []})
