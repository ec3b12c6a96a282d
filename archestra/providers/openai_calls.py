"""Tools, tool calls and tool results of the OpenAI Chat Completions family, in every shape the family has.

Calls: ``function`` tool calls, ``custom`` (free-form) tool calls, and the legacy ``function_call`` of an
assistant message. Results: ``role: "tool"`` messages, tied to their call by id only, and legacy
``role: "function"`` messages, tied by the function name to a call made earlier in the conversation.
Declared tools: ``function`` and ``custom`` entries of ``tools`` and the legacy ``functions`` list, and the
provider-executed tools other request fields turn on (chat_search.py: ``web_search_options``, OpenRouter's
``plugins``, xAI's ``search_parameters``), whose citations and results in an answer are their results.

``TABLE`` is the family's declared reading (providers/shapes.py): every role, message field, content part and
tool-call type the parsers read. In a request what it does not hold is unseen context; in an answer, a refused
call (``ToolCall.refuse``), and in a stream the stream is cut before the part passes.
"""
from __future__ import annotations

import json
from typing import Any

from ..exchange import Tool, ToolCall, ToolResult
from .chat_context import empty
from .chat_search import keep_server_tools, request_server_tools
from .content import content_text
from .shapes import FamilyTable, Reading, refused_reason
from .wire import CallNames, compact_json, parse_arguments

FAMILY = "OpenAI chat completions"
_I, _C, _R, _U, _O, _S = Reading.INERT, Reading.CALL, Reading.RESULT, Reading.UNSEEN, Reading.OPAQUE, \
    Reading.SERVER_TOOL
#: Where a reference (a URL, a stored id) is read: ``url:<scheme>`` for URLs, ``stored:<field>`` for ids.
_REFERENCES = {"url:data": _I, "url:http": _U, "url:https": _U, "stored:file_id": _U}
#: Message fields (request and answer share most): what each carries.
_FIELDS = {"field:role": _O, "field:content": _I, "field:refusal": _I, "field:tool_calls": _C,
           "field:function_call": _C, "field:reasoning": _I, "field:reasoning_content": _I,
           "field:reasoning_details": _I}

TABLE = FamilyTable(
    FAMILY,
    request={
        "role:system": _I, "role:developer": _I, "role:user": _I, "role:assistant": _I,
        "role:tool": _R, "role:function": _R, "role:ipython": _R,
        **_FIELDS, "field:name": _O, "field:tool_call_id": _O, "field:prefix": _O, "field:audio": _U,
        "content:text": _I, "content:refusal": _I, "content:image_url": _I, "content:input_audio": _I,
        "content:file": _I, "content:document_url": _I, "content:audio_url": _I, "content:video_url": _I,
        "content:image_embeds": _I, "content:thinking": _I, "content:resource": _I,
        "content:reference": _U, "content:resource_link": _U, "content:tool_reference": _U,
        **_REFERENCES,
        "tool:function": _I, "tool:custom": _I, "tool:openrouter:web_search": _S,
        "request:documents": _R, "request:web_search_options": _S, "request:plugins": _S,
        "request:search_parameters": _S,
    },
    answer={
        **_FIELDS, "field:annotations": _R, "field:audio": _I, "field:prefix": _O,
        "tool_call:function": _C, "tool_call:custom": _C,
        "call_field:id": _O, "call_field:type": _O, "call_field:index": _O,
        "content:text": _I, "content:thinking": _I, "content:reference": _I, "content:tool_reference": _I,
        **{f"content:{kind}": Reading.REFUSED for kind in (
            "image_url", "document_url", "file", "input_audio", "resource", "resource_link")},
        "delta:role": _O, "delta:tool_call_id": _O, "delta:index": _O, "delta:metadata": _O,
        "delta:content": _I, "delta:refusal": _I, "delta:tool_calls": _C,
        "delta:function_call": _C, "delta:audio": _I, "delta:reasoning": _I, "delta:reasoning_content": _I,
        "delta:annotations": _R, "delta:reasoning_details": _I, "field:executed_tools": _R,
        "delta:executed_tools": _R, "response:citations": _R, "response:search_results": _R,
        "stream_choice:message": _I,
    },
    events={"event:message": Reading.READ},
    unknown_event=Reading.READ,
    notes={
        "role:ipython": "Llama tool results (vLLM chat templates): a result tied like `tool` or `function` ones",
        "role:function": "legacy results, tied by the function name to an earlier call of it",
        "field:audio": "in a request, an earlier audio answer given by its stored `id` (unseen); in an answer, the "
                       "audio itself",
        "content:input_audio": "inline base64 audio; a URL (Mistral) is read by the `url:` rows",
        "content:file": "`file_data` is inline; a `file_id` is read by the `stored:` rows",
        "content:document_url": "Mistral: the document's URL, read by the `url:` rows",
        "content:audio_url": "vLLM: read by the `url:` rows", "content:video_url": "vLLM: read by the `url:` rows",
        "content:image_embeds": "vLLM: inline embeddings",
        "content:thinking": "Mistral: its chunks are read as content parts",
        "content:resource": "Mistral: an inline MCP resource (text or blob)",
        "content:reference": "Mistral: documents given by id; in a request they are not in it (unseen), in an answer "
                             "they are the ids it cites",
        "content:resource_link": "Mistral: a resource given by its URI only",
        "content:tool_reference": "Mistral: a built-in tool's source, not in the request",
        "url:data": "inline data the proxy can see", "url:http": "fetched by the provider: unseen",
        "stored:file_id": "a file stored upstream",
        "request:documents": "grounding documents (vLLM chat templates): results of the pseudo-tool `documents`",
        "request:web_search_options": "the provider's web search, a server tool named `web_search`",
        "tool:function": "a `tools` entry of a type not listed is unseen, and a server tool named by its type "
                         "(the provider may run it): decided before the request leaves",
        "field:annotations": "pages the provider's web search cited: results of `web_search`",
        "call_field:id": "other keys of a tool call entry are refused",
        "content:image_url": "in a request, its URL is read by the `url:` rows (Mistral sends it as a string); "
                             "in an answer: refused",
        "delta:metadata": "Mistral: metadata of a delta, no content",
        "field:reasoning_content": "DeepSeek, xAI, Kimi: the model's reasoning, text (sent back in requests too)",
        "field:reasoning_details": "OpenRouter, MiniMax: reasoning text, summaries or encrypted reasoning, sent back "
                                   "unchanged in requests",
        "field:executed_tools": "Groq: tools its compound models ran (search, browser, code), results named by their "
                                "`type`; in a request (sent back) unseen",
        "request:plugins": "OpenRouter: each plugin a server tool, `{\"id\": \"web\"}` named `web_search` (as is a "
                           "model with the `:online` suffix), others `openrouter:<id>`",
        "tool:openrouter:web_search": "OpenRouter's web search server tool: decided before the request leaves, its "
                                      "citations are results of `web_search`",
        "request:search_parameters": "xAI Live Search (unless `mode` is `off`), a server tool named `web_search`",
        "response:citations": "Perplexity, xAI: URLs the provider's search read, results of `web_search`; other "
                              "response-level fields (ids, `usage`, `x_groq`, `provider`) are metadata, unread",
        "response:search_results": "Perplexity: the pages its search read (title, url, snippet), results of "
                                   "`web_search`",
        "stream_choice:message": "Perplexity: the message so far beside a chunk's delta; only its fields read as "
                                 "text pass (calls must come as deltas, results are taken as the delta's)",
    },
)
TABLES = [TABLE]

#: The message (or stream delta) fields that carry tool calls.
CALL_FIELDS = ("tool_calls", "function_call")


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


def entry_calls(raw: Any, table: FamilyTable = TABLE) -> list[ToolCall]:
    """The calls one ``tool_calls`` entry may be read as. An entry holding both a ``function`` and a
    ``custom`` object is both (clients differ in which they read). An entry whose type, or one of whose keys,
    the family's table does not hold is also a refused call: what the proxy does not understand never passes.
    """
    if not isinstance(raw, dict):
        return []
    kinds = table.types("answer", "tool_call")
    calls = [call for call in (function_call(raw.get("function"), raw.get("id")) if "function" in kinds else None,
                               custom_call(raw.get("custom"), raw.get("id")) if "custom" in kinds else None)
             if call is not None]
    kind = raw.get("type")
    if kind is not None and table.in_answer("tool_call", kind) is Reading.REFUSED:
        unknown: tuple[str, Any] | None = ("tool call", kind)
    else:
        unknown = None
        fields = table.place("answer", "call_field")  # keys are strings: table.in_answer("call_field", key)
        for key, value in raw.items():  # the table first: most keys are declared, and empty() is then moot
            if key not in kinds and fields.get(key, Reading.REFUSED) is Reading.REFUSED and not empty(value):
                unknown = ("tool call field", key)
                break
    if unknown is None and calls:
        return calls
    where, shown = unknown or ("tool call", kind)
    rest = {key: value for key, value in raw.items() if key not in ("id", "type", "index")}
    return calls + [ToolCall(_text_or_none(raw.get("id")), shown if isinstance(shown, str) else "", rest,
                             compact_json(rest), refuse=refused_reason(table.family, where, shown))]


def message_calls(message: Any, table: FamilyTable = TABLE) -> list[ToolCall]:
    """Every tool call of an assistant message (or of a stream delta given as a whole)."""
    if not isinstance(message, dict):
        return []
    raw_calls = message.get("tool_calls")
    if raw_calls is not None and not isinstance(raw_calls, list):
        # Read as an array by index (``tool_calls[0]`` of an object keyed "0"), it would carry calls unseen.
        raise ValueError("tool_calls is not an array")
    calls = [call for raw in raw_calls or () for call in entry_calls(raw, table)]
    legacy = function_call(message.get("function_call"))
    return calls + [legacy] if legacy is not None else calls


def answer_calls(message: Any, where: str = "field", table: FamilyTable = TABLE) -> list[ToolCall]:
    """The calls of an answer message (``where="field"``) or of a stream delta sent as a JSON body
    (``"delta"``), and a refused call for each field or content part there the table does not hold."""
    if not isinstance(message, dict):
        return []
    fields = table.place("answer", where)  # keys are strings: table.in_answer(where, key)
    refused = [(where, key) for key, value in message.items()
               if fields.get(key, Reading.REFUSED) is Reading.REFUSED and not empty(value)]
    content = message.get("content")
    for part in content if isinstance(content, list) else ():
        kind = part.get("type") if isinstance(part, dict) else None
        if table.in_answer("content", kind) is Reading.REFUSED:
            refused.append(("content", kind))
    if content is not None and not isinstance(content, (str, list)):
        refused.append(("content", type(content).__name__))
    return message_calls(message, table) + [
        ToolCall(None, str(kind), message, compact_json(message), refuse=refused_reason(table.family, place, kind))
        for place, kind in refused]


def refusable(key: str, where: str = "field", table: FamilyTable = TABLE) -> bool:
    """Whether an answer field goes when its message is replaced by a refusal: its calls, and anything the
    table does not hold."""
    return table.in_answer(where, key) in (Reading.CALL, Reading.REFUSED)



def declared_tools(body: dict[str, Any], table: FamilyTable = TABLE, search_suffix: str | None = None) -> list[Tool]:
    """The tools a request declares: ``function`` and ``custom`` tools, legacy ``functions``, each entry of
    a type the table does not hold, as a server tool named by its type (the provider may run it before the
    proxy sees the answer, so it is decided before the request leaves), and the server tools other fields
    turn on (chat_search.py; ``search_suffix``: the provider's model suffix that turns its web search on)."""
    tools = []
    for raw in body.get("tools") or ():
        kind = hosted(raw, table)
        if kind is not None:
            tools.append(Tool(kind, None, raw, server=True))
            continue
        name, spec = tool_name(raw), _tool_spec(raw)
        if name:
            # A custom tool has no JSON schema: its input format (text or a grammar) stands for it.
            parameters = spec.get("format" if raw.get("type") == "custom" else "parameters")
            tools.append(Tool(name, spec.get("description"), parameters if isinstance(parameters, dict) else None))
    for raw in body.get("functions") or ():
        if isinstance(raw, dict) and isinstance(raw.get("name"), str) and raw["name"]:
            tools.append(Tool(raw["name"], raw.get("description"), raw.get("parameters")))
    return tools + request_server_tools(body, search_suffix)


def tool_name(raw: Any) -> str | None:
    """The name of one ``tools`` entry (``function`` or ``custom``), or None when it has none."""
    name = _tool_spec(raw).get("name")
    return name if isinstance(name, str) and name else None


def hosted(raw: Any, table: FamilyTable = TABLE) -> str | None:
    """The type of a ``tools`` entry the provider runs itself (one the table declares a server tool, or does not
    hold: the provider may run it), else None."""
    kind = raw.get("type") if isinstance(raw, dict) else None
    return kind if isinstance(kind, str) and table.in_request("tool", kind) in (Reading.UNSEEN,
                                                                                Reading.SERVER_TOOL) else None


def keep_tools(body: dict[str, Any], tools: list[Tool], table: FamilyTable = TABLE,
               search_suffix: str | None = None) -> None:
    """Remove from the native body the declared tools hooks removed (entries without a name stay), and the
    server tools (web search, plugins, entries of types the table does not hold) that were refused."""
    servers = {tool.name for tool in tools if tool.server}
    keep_server_tools(body, servers, search_suffix)
    keep = {tool.name for tool in tools if not tool.server}

    def kept(raw: Any) -> bool:
        kind = hosted(raw, table)
        return kind in servers if kind is not None else tool_name(raw) is None or tool_name(raw) in keep

    if isinstance(body.get("tools"), list):
        body["tools"] = [t for t in body["tools"] if kept(t)]
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
        """The tool result a ``tool``, ``function`` or ``ipython`` message carries.

        A ``tool`` message is tied by its ``tool_call_id`` only: an id that matches no earlier call, or calls of
        two different tools, gives no name (no tool's policy can trust it), whatever ``name`` it claims. A
        legacy ``function`` message has no id: its ``name`` counts when an earlier call named that function.
        An ``ipython`` message (Llama's tool results) is tied by its id when it has one, else by its name.
        """
        role = message.get("role")
        if role == "tool" or (role != "function" and message.get("tool_call_id") is not None):
            call_id = _text_or_none(message.get("tool_call_id"))
            name = self.ids.name(call_id) if self._called_before("id", call_id, index) else None
        else:
            call_id = None
            claimed = message.get("name")
            name = claimed if self._called_before("name", claimed, index) else None
        return ToolResult(call_id, name, content, document=document, _ref=index, _original=content)


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
