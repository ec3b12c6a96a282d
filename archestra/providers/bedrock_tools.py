"""The tools a Converse request declares, wherever it declares them: ``toolConfig.tools`` entries (client
tools, Bedrock's own ``systemTool`` entries, kinds the proxy does not know), ``toolAddition`` blocks in the
messages (a tool named by reference) and the model's own tool list in ``additionalModelRequestFields``; and
the request fields outside the messages that bring in context the proxy cannot read."""
from __future__ import annotations

from typing import Any

from ..exchange import Tool
from .bedrock_content import FAMILY, TABLE, member, native_tools
from .shapes import Reading, unseen_reason


def _tool_entries(body: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(where, kind, value)`` of every tool declaration: ``toolConfig.tools`` entries and the
    ``toolAddition`` blocks of the messages (a tool named by reference)."""
    entries = [("tool", *member(tool)) for tool in (body.get("toolConfig") or {}).get("tools") or ()]
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        entries += [("content", *found) for found in map(member, content if isinstance(content, list) else ())
                    if found[0] == "toolAddition"]
    return entries


def declared_tools(body: dict[str, Any]) -> list[Tool]:
    """The declared tools: client tools (toolSpec) and the ones Bedrock runs or resolves itself, decided
    before the request goes upstream: systemTool entries, tool entries of kinds the proxy does not know,
    toolAddition references to anything but a declared toolSpec, and the model's own tools in
    ``additionalModelRequestFields``."""
    tools, specs = [], set()
    for where, kind, value in _tool_entries(body):
        if kind == "toolSpec" and isinstance(value, dict) and isinstance(value.get("name"), str):
            specs.add(value["name"])
            tools.append(Tool(value["name"], value.get("description"), (value.get("inputSchema") or {}).get("json")
                              if isinstance(value.get("inputSchema"), dict) else None))
    for where, kind, value in _tool_entries(body):
        server = _server_tool(where, kind, value, specs)
        if server is not None:
            tools.append(server)
    return tools + native_tools(body)


def _server_tool(where: str, kind: Any, value: Any, specs: set[str]) -> Tool | None:
    if kind == "toolSpec" and isinstance(value, dict) and isinstance(value.get("name"), str) or \
            TABLE.in_request(where, kind) is Reading.OPAQUE:
        return None
    if kind == "toolAddition":
        reference = value.get("tool") if isinstance(value, dict) else None
        reference = reference if isinstance(reference, dict) else {}
        if reference.get("name") in specs and not reference.get("serverName"):
            return None  # loads a toolSpec the request declares: decided as that tool
        return Tool(str(reference.get("name") or reference.get("serverName") or "toolAddition"), None,
                    {"toolAddition": value}, server=True)
    if kind == "systemTool" and isinstance(value, dict) and isinstance(value.get("name"), str):
        return Tool(value["name"], None, value, server=True)
    # A tool entry the proxy does not know: whatever Bedrock does with it happens upstream
    return Tool(str(kind or "unknown tool entry"), None, {str(kind): value}, server=True)


def unseen_fields(body: dict[str, Any], model: str, table: Any = TABLE) -> list[str]:
    """Request fields outside the messages that bring in context the proxy cannot read: unknown fields of
    ``additionalModelRequestFields`` (handed to the model as they are), tool entries and a tool choice of
    kinds the table does not hold, a prompt stored in Bedrock."""
    found = [f"{key}: {unseen_reason(table.family, 'request field', key)}" for key in body
             if table.in_request("request field", key) is Reading.UNSEEN]
    native = body.get("additionalModelRequestFields")
    if native is not None:
        for key in native if isinstance(native, dict) else [type(native).__name__]:
            if TABLE.in_request("additional field", key) is Reading.UNSEEN:
                found.append(f"additionalModelRequestFields: {unseen_reason(FAMILY, 'additional field', key)}")
    for where, kind, _ in _tool_entries(body):
        if TABLE.in_request(where, kind) is Reading.UNSEEN:
            found.append(f"toolConfig.tools: {unseen_reason(FAMILY, where, kind)}")
    choice = (body.get("toolConfig") or {}).get("toolChoice")
    if choice is not None and TABLE.in_request("tool choice", member(choice)[0]) is Reading.UNSEEN:
        found.append(f"toolConfig.toolChoice: {unseen_reason(FAMILY, 'tool choice', member(choice)[0])}")
    if ":prompt/" in model:
        found.append(f"modelId: {unseen_reason(FAMILY, 'model', 'prompt')} ({model})")
    return found


def write_declared_tools(body: dict[str, Any], kept: list[Tool]) -> None:
    """Remove from the request the tools a hook or the server-tool gate removed: their toolConfig entries,
    toolAddition blocks, and a toolChoice naming one."""
    kept_keys = {(t.server, t.name) for t in kept}
    declared = declared_tools(body)
    native = {(t.server, t.name) for t in native_tools(body)}
    removed = {(t.server, t.name) for t in declared} - kept_keys - native
    if not removed:
        return
    specs = {t.name for t in declared if not t.server}

    def goes(where: str, kind: Any, value: Any) -> bool:
        if kind == "toolSpec" and isinstance(value, dict) and isinstance(value.get("name"), str):
            return (False, value["name"]) in removed
        server = _server_tool(where, kind, value, specs)
        return server is not None and (True, server.name) in removed

    config = body.get("toolConfig")
    if isinstance(config, dict) and isinstance(config.get("tools"), list):
        config["tools"] = [tool for tool in config["tools"] if not goes("tool", *member(tool))]
        choice, named = member(config.get("toolChoice"))
        if choice == "tool" and isinstance(named, dict) and named.get("name") in {name for _, name in removed}:
            config.pop("toolChoice")
        if not any(member(t)[0] in ("toolSpec", "systemTool") for t in config["tools"]):
            body.pop("toolConfig")
    for message in body.get("messages") or ():
        if isinstance(message, dict) and isinstance(message.get("content"), list):
            kept_blocks = [block for block in message["content"]
                           if not (member(block)[0] == "toolAddition" and goes("content", *member(block)))]
            if len(kept_blocks) != len(message["content"]):
                message["content"] = kept_blocks or [{"text": "(a tool addition was removed by the proxy)"}]
