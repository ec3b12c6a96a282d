"""Tools, tool calls and tool results of the OpenAI Chat Completions family, in every shape the family has.

Calls: ``function`` tool calls, ``custom`` (free-form) tool calls, and the legacy ``function_call`` of an
assistant message. Results: ``role: "tool"`` messages, tied to their call by id only, and legacy
``role: "function"`` messages, tied by the function name to a call made earlier in the conversation.
Declared tools: ``function`` and ``custom`` entries of ``tools`` and the legacy ``functions`` list, and the
provider-executed web search (``web_search_options``, a server tool named ``web_search``) whose citations in
an answer are its results.
"""
from __future__ import annotations

import json
from typing import Any

from ..exchange import Tool, ToolCall, ToolResult
from .base import CallNames, compact_json, parse_arguments
from .content import content_text

#: The message (or stream delta) fields that carry tool calls.
CALL_FIELDS = ("tool_calls", "function_call")
#: The server tool ``web_search_options`` turns on (search models search the web before they answer).
WEB_SEARCH = "web_search"


def function_call(function: Any, call_id: Any = None) -> ToolCall | None:
    """A call from a ``function`` object (a tool call's, or the legacy ``function_call``)."""
    if not isinstance(function, dict):
        return None
    arguments, text = parse_arguments(function.get("arguments", ""))
    return ToolCall(_text_or_none(call_id), str(function.get("name") or ""), arguments, text)


def custom_call(custom: Any, call_id: Any = None) -> ToolCall | None:
    """A call of a custom tool: its ``input`` is free-form text, decided as it is."""
    if not isinstance(custom, dict):
        return None
    value = custom.get("input")
    text = value if isinstance(value, str) else "" if value is None else compact_json(value)
    return ToolCall(_text_or_none(call_id), str(custom.get("name") or ""), text, text, freeform=True)


def entry_calls(raw: Any) -> list[ToolCall]:
    """The calls one ``tool_calls`` entry may be read as. An entry holding both a ``function`` and a
    ``custom`` object is both (clients differ in which they read); an entry of an unknown type is a call of
    a tool named by that type, so that it is decided too."""
    if not isinstance(raw, dict):
        return []
    calls = [call for call in (function_call(raw.get("function"), raw.get("id")),
                               custom_call(raw.get("custom"), raw.get("id"))) if call is not None]
    if calls:
        return calls
    rest = {key: value for key, value in raw.items() if key not in ("id", "type", "index")}
    return [ToolCall(_text_or_none(raw.get("id")), str(raw.get("type") or ""), rest, compact_json(rest))]


def message_calls(message: Any) -> list[ToolCall]:
    """Every tool call of an assistant message (or of a stream delta given as a whole)."""
    if not isinstance(message, dict):
        return []
    raw_calls = message.get("tool_calls")
    if raw_calls is not None and not isinstance(raw_calls, list):
        # Read as an array by index (``tool_calls[0]`` of an object keyed "0"), it would carry calls unseen.
        raise ValueError("tool_calls is not an array")
    calls = [call for raw in raw_calls or () for call in entry_calls(raw)]
    legacy = function_call(message.get("function_call"))
    return calls + [legacy] if legacy is not None else calls


def declared_tools(body: dict[str, Any]) -> list[Tool]:
    """The tools a request declares: ``function`` and ``custom`` tools, and legacy ``functions``."""
    tools = []
    for raw in body.get("tools") or ():
        name, spec = tool_name(raw), _tool_spec(raw)
        if name:
            # A custom tool has no JSON schema: its input format (text or a grammar) stands for it.
            parameters = spec.get("format" if raw.get("type") == "custom" else "parameters")
            tools.append(Tool(name, spec.get("description"), parameters if isinstance(parameters, dict) else None))
    for raw in body.get("functions") or ():
        if isinstance(raw, dict) and isinstance(raw.get("name"), str) and raw["name"]:
            tools.append(Tool(raw["name"], raw.get("description"), raw.get("parameters")))
    options = body.get("web_search_options")
    if options is not None:
        tools.append(Tool(WEB_SEARCH, None, options if isinstance(options, dict) else {}, server=True))
    return tools


def tool_name(raw: Any) -> str | None:
    """The name of one ``tools`` entry (``function`` or ``custom``), or None when it has none."""
    name = _tool_spec(raw).get("name")
    return name if isinstance(name, str) and name else None


def keep_tools(body: dict[str, Any], tools: list[Tool]) -> None:
    """Remove from the native body the declared tools hooks removed (entries without a name stay), and the
    web search when it was refused."""
    if not any(tool.server and tool.name == WEB_SEARCH for tool in tools):
        body.pop("web_search_options", None)
    keep = {tool.name for tool in tools if not tool.server}
    if isinstance(body.get("tools"), list):
        body["tools"] = [t for t in body["tools"] if tool_name(t) is None or tool_name(t) in keep]
        if not body["tools"]:
            for key in ("tools", "tool_choice", "parallel_tool_calls"):
                body.pop(key, None)
        elif tool_name(body.get("tool_choice")) not in (None, *keep):
            body.pop("tool_choice")
    if isinstance(body.get("functions"), list):
        body["functions"] = [f for f in body["functions"] if not isinstance(f, dict) or f.get("name") in keep]
        if not body["functions"]:
            body.pop("functions")
            body.pop("function_call", None)
        elif isinstance(body.get("function_call"), dict) and body["function_call"].get("name") not in keep:
            body.pop("function_call")


class ConversationCalls:
    """The calls of a whole conversation, to tie each result to the call it answers."""

    def __init__(self, messages: list[dict[str, Any]]):
        self.ids = CallNames()  # over the whole conversation: an id reused anywhere names neither tool
        self._first: dict[tuple[str, str], int] = {}  # ("id" | "name", value) -> first message calling it
        for index, message in enumerate(messages):
            if message.get("role") == "assistant":
                for call in message_calls(message):
                    self.ids.add(call.id, call.name)
                    if call.id is not None:
                        self._first.setdefault(("id", call.id), index)
                    self._first.setdefault(("name", call.name), index)

    def _called_before(self, kind: str, value: Any, index: int) -> bool:
        return isinstance(value, str) and self._first.get((kind, value), index) < index

    def result(self, message: dict[str, Any], index: int, content: str, document: Any) -> ToolResult:
        """The tool result a ``tool`` or ``function`` message carries.

        A ``tool`` message is tied by its ``tool_call_id`` only: an id that matches no earlier call, or calls of
        two different tools, gives no name (no tool's policy can trust it), whatever ``name`` it claims. A
        legacy ``function`` message has no id: its ``name`` counts when an earlier call named that function.
        """
        if message.get("role") == "tool":
            call_id = _text_or_none(message.get("tool_call_id"))
            name = self.ids.name(call_id) if self._called_before("id", call_id, index) else None
        else:
            call_id = None
            claimed = message.get("name")
            name = claimed if self._called_before("name", claimed, index) else None
        return ToolResult(call_id, name, content, document=document, _ref=index, _original=content)


def citations(message: Any) -> list[ToolResult]:
    """The web pages an answer cites (``annotations``): results of the provider's web search, judged before
    the answer's calls are decided."""
    annotations = message.get("annotations") if isinstance(message, dict) else None
    if not isinstance(annotations, list) or not annotations:
        return []
    text = compact_json(annotations)
    return [ToolResult(None, WEB_SEARCH, text, document=annotations, server=True, _original=text)]


def stored_references(messages: list[dict[str, Any]]) -> list[str]:
    """Context the model reads that the proxy cannot see: files given by ``file_id`` and earlier audio answers
    given by ``audio.id``, stored upstream. Each makes the context untrusted (``Exchange.unseen_context``)."""
    found = []
    for index, message in enumerate(messages):
        content = message.get("content")
        for part in content if isinstance(content, list) else ():
            stored = part.get("file") if isinstance(part, dict) and part.get("type") == "file" else None
            if isinstance(stored, dict) and stored.get("file_id") is not None:
                found.append(f"messages[{index}] refers to the stored file {stored['file_id']}")
        audio = message.get("audio")
        if message.get("role") == "assistant" and isinstance(audio, dict) and audio.get("id") is not None:
            found.append(f"messages[{index}] refers to the stored audio answer {audio['id']}")
    return found


def result_text(content: Any) -> str:
    """A tool result as text for hooks: its text parts, else the whole content as JSON."""
    text = content_text(content)
    return text if text is not None else json.dumps(content)


def result_document(content: Any) -> Any:
    """What policy conditions see of a tool result: the whole content when it is anything but text
    (parts of other types than plain text, or an object), else None (the text, parsed as JSON)."""
    if content is None or isinstance(content, str):
        return None
    if isinstance(content, list) and all(isinstance(part, dict) and part.get("type") == "text"
                                         and isinstance(part.get("text"), str) for part in content):
        return None
    return content


def _tool_spec(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    spec = raw.get("custom") if raw.get("type") == "custom" else raw.get("function")
    return spec if isinstance(spec, dict) else {}


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None if value is None else str(value)
