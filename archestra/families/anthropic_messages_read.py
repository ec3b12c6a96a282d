"""Anthropic Messages requests (what the anthropic SDK and Claude Code send) read into the neutral form.

Fail closed: every body field, block type and block key is either read, listed in :data:`DROPPED_FIELDS` with
the reason it changes nothing the model reads or the client executes, or raises :class:`Untranslatable`.
"""
from __future__ import annotations

import json
from typing import Any

from .anthropic_messages_answer import direct_call
from .neutral import (ChatRequest, Image, Message, Part, Reasoning, Text, ToolCallPart, ToolResultPart,
                      ToolSpec, Untranslatable)

#: Request fields and keys left out of the neutral request, and why.
DROPPED_FIELDS = {
    "metadata": "user_id: an opaque id for Anthropic's abuse tracking, nothing the model reads",
    "top_k": "a sampling knob most other families lack (OpenAI chat, Responses, Bedrock Converse)",
    "cache_control": "prompt-cache breakpoints (body, blocks, tools): cost only, the content is the same",
    "thinking": "whether and how much Claude thinks: another family's model reasons by its own settings",
    "output_config.effort": "how hard Claude works, the same kind of setting as thinking",
    "context_management": "server-side clearing of old tool results / thinking: the neutral request already "
                          "holds the whole context the client sent",
    "service_tier": "priority capacity on Anthropic's side only",
    "tools[].defer_loading": "the tool is declared up front instead of on demand: the model sees more, the "
                             "client still executes only what it declared",
    "tools[].eager_input_streaming": "how finely the arguments stream, not what they are",
    "tools[].strict": "Anthropic's grammar-constrained arguments: the client still validates what it runs",
}
_SAMPLING = ("max_tokens", "temperature", "top_p")
_BODY = {"model", "messages", "system", "tools", "tool_choice", "stop_sequences", "stream", "output_config",
         *_SAMPLING, *(name.split(".")[0] for name in DROPPED_FIELDS if "[" not in name)}
#: The keys of a custom tool (``type`` absent or ``custom``); any other tool type is Anthropic's own: run by
#: Anthropic, or run by the client with a schema only Anthropic's models know (bash, text_editor, computer...).
_SCHEMA_KEYS = {"type", "name", "description", "input_schema", "cache_control", "defer_loading",
                "eager_input_streaming", "strict", "allowed_callers"}
_NOT_TRANSLATED = {
    "document": "a PDF or text document", "search_result": "a search result with citations",
    "server_tool_use": "a call of a tool Anthropic runs", "container_upload": "a file in Anthropic's container",
    "mcp_tool_use": "a call of an MCP server Anthropic calls", "mcp_tool_result": "an MCP result",
}


def _keys(block: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(block) - allowed - {"type", "cache_control"})
    if extra:
        raise Untranslatable(f"{where}.{extra[0]}", "not understood by the Anthropic Messages reader")


def _text(block: Any, where: str) -> Text:
    if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
        raise Untranslatable(where, "expected a text block")
    _keys(block, {"text", "citations"}, where)
    if block.get("citations"):
        raise Untranslatable(f"{where}.citations", "citations of documents the other family never saw")
    return Text(block["text"])


def _image(block: dict[str, Any], where: str) -> Image:
    _keys(block, {"source"}, where)
    source = block.get("source") or {}
    if source.get("type") == "base64":
        return Image(media_type=source.get("media_type"), data=source.get("data"))
    if source.get("type") == "url":
        return Image(url=source.get("url"))
    raise Untranslatable(f"{where}.source", f"image source {source.get('type')!r} (only base64 and url)")


def _result(block: dict[str, Any], names: dict[str, str], where: str) -> ToolResultPart:
    _keys(block, {"tool_use_id", "content", "is_error"}, where)
    content = block.get("content") or []
    parts: list[Text | Image] = []
    for i, item in enumerate([{"type": "text", "text": content}] if isinstance(content, str) else content):
        kind = item.get("type") if isinstance(item, dict) else None
        parts.append(_image(item, f"{where}.content.{i}") if kind == "image" else _text(item, f"{where}.content.{i}"))
    call_id = block["tool_use_id"]
    return ToolResultPart(call_id, parts, is_error=bool(block.get("is_error")), name=names.get(call_id))


def _part(block: Any, role: str, names: dict[str, str], where: str) -> Part:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text":
        return _text(block, where)
    if kind in _NOT_TRANSLATED or (isinstance(kind, str) and kind.endswith("_tool_result")):
        raise Untranslatable(where, f"{kind}: {_NOT_TRANSLATED.get(kind, 'a result of a tool Anthropic runs')}, "
                                    "which other families cannot take")
    if kind == "image" and role == "user":
        return _image(block, where)
    if kind == "tool_result" and role == "user":
        return _result(block, names, where)
    if kind == "tool_use" and role == "assistant":
        _keys(block, {"id", "name", "input", "caller"}, where)
        if not direct_call(block):
            raise Untranslatable(f"{where}.caller", "a call made from Anthropic's code execution")
        if not isinstance(block.get("input"), dict) or not all(isinstance(block.get(k), str) for k in ("id", "name")):
            raise Untranslatable(where, "tool_use needs a string id and name and an object input")
        names[block["id"]] = block["name"]
        return ToolCallPart(block["id"], block["name"], json.dumps(block["input"], ensure_ascii=False))
    if kind == "thinking" and role == "assistant":
        _keys(block, {"thinking", "signature"}, where)
        return Reasoning(block.get("thinking") or "", signature=block.get("signature") or None)
    if kind == "redacted_thinking" and role == "assistant":
        _keys(block, {"data"}, where)
        return Reasoning(encrypted=block["data"])
    raise Untranslatable(where, f"block type {kind!r} in a {role} message")


def _blocks(content: Any, where: str) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise Untranslatable(where, "content must be a string or a list of blocks")
    return content


def _tool(tool: Any, where: str) -> ToolSpec:
    if not isinstance(tool, dict):
        raise Untranslatable(where, "a tool must be an object")
    if tool.get("type") not in (None, "custom"):
        raise Untranslatable(where, f"{tool.get('name')!r} is Anthropic's own tool {tool.get('type')!r}: "
                                    "other families neither run it nor know its schema")
    _keys(tool, _SCHEMA_KEYS, where)
    if tool.get("allowed_callers", ["direct"]) != ["direct"]:
        raise Untranslatable(f"{where}.allowed_callers", "callable from Anthropic's code execution")
    return ToolSpec(tool["name"], tool.get("description"), tool.get("input_schema"))


def _tool_choice(request: ChatRequest, choice: Any) -> None:
    if not isinstance(choice, dict):
        raise Untranslatable("tool_choice", "must be an object")
    kind = choice.get("type")
    _keys(choice, {"name", "disable_parallel_tool_use"}, "tool_choice")
    mapped = {"auto": "auto", "any": "required", "none": "none"}.get(kind)
    if kind == "tool":
        mapped = choice.get("name")
    if not isinstance(mapped, str):
        raise Untranslatable("tool_choice", f"type {kind!r}")
    request.tool_choice = mapped
    if "disable_parallel_tool_use" in choice:
        request.parallel_tool_calls = not choice["disable_parallel_tool_use"]


def _output_config(request: ChatRequest, config: Any) -> None:
    """``effort`` is dropped (DROPPED_FIELDS); ``format`` is structured output, always strict on Anthropic."""
    if not isinstance(config, dict):
        raise Untranslatable("output_config", "must be an object")
    _keys(config, {"effort", "format"}, "output_config")
    fmt = config.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or set(fmt) != {"type", "schema"}:
        raise Untranslatable("output_config.format", "only {type: json_schema, schema} is understood")
    request.response_format = {"type": "json_schema", "name": "output", "schema": fmt["schema"], "strict": True}


def read_request(body: dict[str, Any]) -> ChatRequest:
    """A Messages (or count_tokens) body in neutral form. ``role: "system"`` messages, which Claude Code sends
    among the turns (environment notes, agent lists), join the system prompt in their order: the neutral form
    has no system turns, and their instructions keep system authority there."""
    unknown = sorted(set(body) - _BODY)
    if unknown:
        raise Untranslatable(unknown[0], "not understood by the Anthropic Messages reader")
    system = body.get("system")
    request = ChatRequest(model=body.get("model", ""), messages=[], stream=bool(body.get("stream")),
                          system=[Text(system)] if isinstance(system, str) and system else
                          [_text(b, f"system.{i}") for i, b in enumerate(system or [])])
    names: dict[str, str] = {}
    for i, message in enumerate(body.get("messages") or []):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise Untranslatable(where, "a message must be an object")
        role = message.get("role")
        blocks = _blocks(message.get("content"), f"{where}.content")
        if role == "system":
            request.system += [_text(b, f"{where}.content.{j}") for j, b in enumerate(blocks)]
        elif role in ("user", "assistant"):
            request.messages.append(Message(role, [_part(b, role, names, f"{where}.content.{j}")
                                                   for j, b in enumerate(blocks)]))
        else:
            raise Untranslatable(f"{where}.role", f"role {role!r}")
    request.tools = [_tool(t, f"tools.{i}") for i, t in enumerate(body.get("tools") or [])]
    if body.get("tool_choice") is not None:
        _tool_choice(request, body["tool_choice"])
    if body.get("output_config") is not None:
        _output_config(request, body["output_config"])
    request.max_tokens, request.temperature, request.top_p = (body.get(name) for name in _SAMPLING)
    request.stop = list(body.get("stop_sequences") or [])
    return request


#: count_tokens bodies are Messages bodies without ``max_tokens`` and ``stream``: the same reader reads them.
read_count_tokens = read_request
