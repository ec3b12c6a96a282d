"""Items of the OpenAI Responses API as the security view sees them, in requests, answers and streams.

The ground truth is the openai SDK's typed models (``openai/types/responses/``); ``responses_table.TABLE``
declares how every item, content part, tool and stream event is read, and nothing outside it passes as
harmless:

* a **message** (``type: "message"``, or a bare ``{role, content}``): its parts are read by the table
  (``part:input_text``...); a part of an undeclared type, and any remote URL or stored reference inside a part
  at any depth (``file_id``, ``file_url``, an ``image_url`` that is not a ``data:`` URL), is unseen context;
* a **call the client executes** (``CALL``): ``function_call`` and ``custom_tool_call`` named by their
  ``name`` (``<namespace>.<name>`` for a tool of a ``namespace``, the namespace being the call's toolset);
  ``local_shell_call``, ``shell_call``, ``apply_patch_call``, ``computer_call``, ``tool_search_call`` named by
  the tool type that makes them, their arguments the item without its envelope. A call item stays a call
  whatever its other fields say (a hosted ``environment``, ``execution: "server"``): what a client does with
  the item type decides, not a field that claims where it runs;
* an **MCP approval request**: a call of ``mcp:<server_label>`` whose arguments are ``{"name", "arguments"}``;
* a **call output** (``RESULT``): a tool result tied to its call by ``call_id`` only (:class:`CallNames`);
* a **hosted item** (``SERVER_TOOL``: the provider ran the tool, ``web_search_call``, ``mcp_call``,
  ``mcp_list_tools``...): a server tool result named after its tool, whose document is the whole item (an MCP
  server's tool listing is untrusted input like any result);
* **opaque** (``reasoning``, ``compaction_trigger``, ``mcp_approval_response``...): kept untouched;
* **unseen** (``compaction``, ``item_reference``, and every type the table does not hold): the context the
  model reads is not all in the request.

In an answer, an item of a type the table does not hold is a call refused whatever the policies
(``ToolCall.refuse``), so the answer is replaced by the refusal.
"""
from __future__ import annotations

import uuid
from typing import Any, Iterable

from ..exchange import Tool, ToolCall, ToolResult
from .content import content_text
from .responses_table import FAMILY, ITEMS, TABLE
from .shapes import Reading, refused_reason, unseen_reason
from .wire import CallNames, compact_json, parse_arguments

_INERT, _CALL, _RESULT, _SERVER = Reading.INERT, Reading.CALL, Reading.RESULT, Reading.SERVER_TOOL
_UNSEEN, _OPAQUE = Reading.UNSEEN, Reading.OPAQUE
#: The family's tables, for ``shapes.all_tables`` (the table itself is declared in ``responses_table``).
TABLES = [TABLE]

#: The item types some client executes (derived from the table: one place).
CALL_ITEMS = {kind for kind, (_, answer, _) in ITEMS.items() if answer is _CALL}
ENVELOPE = ("id", "type", "status", "call_id", "caller", "created_by")
#: ``exchange.state`` keys: the encrypted contents of the compaction items an answer carries (the response chain
#: remembers the context they summarise), and the request's own compaction items, ``(unseen reason, encrypted
#: content)`` each (the chain vouches for those it relayed).
COMPACTED = "archestra.responses.compacted"
COMPACTIONS = "archestra.responses.compactions"
TEXT_PARTS = ("input_text", "output_text")
_HOSTED_ENVIRONMENTS = ("container_auto", "container_reference")
_REFERENCES = ("file_id", "file_url")


def compaction_of(item: Any) -> str | None:
    """The encrypted content of a compaction item, else None."""
    if isinstance(item, dict) and item.get("type") == "compaction" and isinstance(item.get("encrypted_content"), str) \
            and item["encrypted_content"]:
        return item["encrypted_content"]
    return None


def mcp_name(label: Any) -> str:
    return f"mcp:{label if isinstance(label, str) else ''}"


def qualified(name: Any, namespace: Any) -> str:
    """A function or custom tool's name: ``namespace.name`` inside a namespace (the openai-agents SDK's
    reading; a namespace equal to the name is the API's deferred top-level shape, named ``name``)."""
    name = name if isinstance(name, str) else "" if name is None else str(name)
    if isinstance(namespace, str) and namespace and namespace != name:
        return f"{namespace}.{name}"
    return name


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None if value is None else str(value)


# -- what an item is ---------------------------------------------------------------------------------
def item_type(item: Any) -> Any:
    """An item's type (a bare ``{role, content}`` is a message)."""
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    return "message" if kind is None and "role" in item else kind


def reading(item: Any, answer: bool = False) -> Reading:
    """How an item is read, from the table: in a request, or in an answer (``REFUSED`` when undeclared)."""
    return TABLE.in_answer("item", item_type(item)) if answer else TABLE.in_request("item", item_type(item))


#: ``kind_of`` by reading (any other reading: ``opaque``).
_KINDS = {_INERT: "message", _RESULT: "output", _SERVER: "hosted", _UNSEEN: "unseen"}


def kind_of(item: Any, answer: bool = False) -> str:
    """``message``, ``call`` (decided: client calls, MCP approval requests, and in an answer every item the
    table does not hold), ``output``, ``hosted``, ``unseen`` or ``opaque``."""
    found = reading(item, answer)
    if found is _CALL or (answer and answer_unread(item)):
        return "call"
    return _KINDS.get(found, "opaque")


def hosted_tool(item: dict[str, Any]) -> str | None:
    """The hosted tool an item comes from, or None when the provider did not run it."""
    kind = item_type(item)
    if reading(item) is not _SERVER:
        return None
    tool = ITEMS[kind][2]
    return mcp_name(item.get("server_label")) if tool == "mcp" else tool


def references(value: Any, depth: int = 0) -> str | None:
    """The first remote URL or stored reference inside a part, at any depth (``file_id``, ``file_url``, an
    ``image_url`` that is not inline ``data:``), as ``given by ...``; None when the part carries none."""
    if depth > 64:
        return "nested too deep to read"
    if isinstance(value, list):
        return next((found for entry in value if (found := references(entry, depth + 1))), None)
    if not isinstance(value, dict):
        return None
    for key, inner in value.items():
        if key in _REFERENCES and inner:
            return f"given by {key} {inner}"
        if key == "image_url" and inner:
            url = inner.get("url") if isinstance(inner, dict) else inner
            if not (isinstance(url, str) and url.startswith("data:")):
                return f"given by the URL {url}"
        found = references(inner, depth + 1)
        if found:
            return found
    return None


def part_unseen(part: Any) -> str | None:
    """Why a content part (of a message or a call output) holds context the proxy cannot read, or None."""
    if isinstance(part, str):  # a bare string where a part may stand: text
        return None
    kind = part.get("type") if isinstance(part, dict) else None
    if TABLE.in_request("part", kind) is _UNSEEN:
        return unseen_reason(FAMILY, "content part", kind)
    found = references(part)
    return f"an {kind} part {found}" if found else None


def item_unseen(item: dict[str, Any]) -> str | None:
    """Why a request item makes the model read something the proxy cannot see, or None."""
    kind, found = item_type(item), reading(item)
    if found is _UNSEEN:
        if kind == "item_reference":
            return f"a reference to the stored item {item.get('id')}"
        if kind == "compaction":
            return "a compaction item (a summary of context the request no longer carries)"
        return unseen_reason(FAMILY, "input item", kind)
    if found is _INERT:  # a message: its parts
        content = item.get("content")
        parts = content if isinstance(content, list) else [] if isinstance(content, str) or content is None \
            else [content]
        return next((why for part in parts if (why := part_unseen(part))), None)
    if found is _RESULT:
        output = item.get("output")
        if kind in ("function_call_output", "custom_tool_call_output", "computer_call_output"):
            parts = output if isinstance(output, list) else [output] if isinstance(output, dict) else []
            return next((why for part in parts if (why := part_unseen(part))), None)
        found = references(output if kind != "tool_search_output" else item.get("tools"))
        return f"the output of a {kind} {found}" if found else None
    return None


def answer_unread(item: Any) -> str | None:
    """Why an answer item cannot pass: its type, or a message part, is not in the table (else None)."""
    kind = item_type(item)
    if reading(item, answer=True) not in (_INERT, _CALL, _RESULT, _SERVER, _OPAQUE):
        return refused_reason(FAMILY, "output item", kind)
    if kind == "message" and isinstance(item.get("content"), list):
        for part in item["content"]:
            part_kind = part.get("type") if isinstance(part, dict) else None
            if TABLE.in_answer("part", part_kind) is Reading.REFUSED:
                return refused_reason(FAMILY, "message content part", part_kind)
    return None


# -- calls -------------------------------------------------------------------------------------------
def call_name(item: dict[str, Any]) -> str:
    """The tool an item of kind ``call`` calls (an item the table does not hold: its type)."""
    kind = item_type(item)
    if kind in ("function_call", "custom_tool_call"):
        return qualified(item.get("name"), item.get("namespace"))
    tool = ITEMS[kind][2] if kind in CALL_ITEMS else None
    if tool == "mcp":
        return mcp_name(item.get("server_label"))
    return tool or (kind if isinstance(kind, str) else "")


def _toolset(item: dict[str, Any]) -> str | None:
    namespace, name = item.get("namespace"), item.get("name")
    return namespace if isinstance(namespace, str) and namespace and namespace != name else None


def call_of(item: dict[str, Any]) -> ToolCall:
    """The call an item of kind ``call`` makes; an answer item the table does not hold is a call refused
    whatever the policies."""
    kind = item_type(item)
    call_id = _text_or_none(item.get("call_id") or item.get("id"))
    refuse = answer_unread(item)
    if kind == "function_call" and not refuse:
        arguments, raw = parse_arguments(item.get("arguments", ""))
        return ToolCall(call_id, call_name(item), arguments, raw, toolset=_toolset(item))
    if kind == "custom_tool_call" and not refuse:
        value = item.get("input")
        text = value if isinstance(value, str) else "" if value is None else compact_json(value)
        return ToolCall(call_id, call_name(item), text, text, freeform=True, toolset=_toolset(item))
    if kind == "mcp_approval_request" and not refuse:
        arguments, _ = parse_arguments(item.get("arguments", ""))
        value = {"name": item.get("name"), "arguments": arguments}
        return ToolCall(_text_or_none(item.get("id")), call_name(item), value, compact_json(value))
    rest = {key: value for key, value in item.items() if key not in ENVELOPE}
    return ToolCall(call_id, call_name(item), rest, compact_json(rest), refuse=refuse)


def call_ids(item: dict[str, Any]) -> list[str]:
    """The ids an output may name a call by: ``call_id`` (and a local shell call's item ``id``, which its
    ``local_shell_call_output`` carries)."""
    ids = [item.get("call_id")]
    if item.get("type") == "local_shell_call":
        ids.append(item.get("id"))
    return [i for i in ids if isinstance(i, str) and i]


# -- results -----------------------------------------------------------------------------------------
def output_content(output: Any) -> tuple[str, Any]:
    """A call output as (text for hooks, document for conditions): text parts' text, the whole output as the
    document when it is anything but text (images, files, shell outcomes, objects)."""
    if output is None or isinstance(output, str):
        return output or "", None
    text = content_text(output, TEXT_PARTS) if isinstance(output, list) else None
    only_text = isinstance(output, list) and all(isinstance(p, dict) and p.get("type") == "input_text"
                                                  and isinstance(p.get("text"), str) for p in output)
    if only_text and text is not None:
        return text, None
    return (text if text is not None else compact_json(output)), output


def output_result(item: dict[str, Any], name: str | None, ref: Any, server: bool = False) -> ToolResult:
    """The tool result a call output carries (``tool_search_output`` returns tools: its whole item)."""
    source = item if item.get("type") == "tool_search_output" else item.get("output")
    text, document = output_content(source)
    if item.get("type") == "tool_search_output":
        document = item
    call_id = item.get("call_id") or (item.get("id") if item.get("type") == "local_shell_call_output" else None)
    failed = item.get("status") == "failed"
    return ToolResult(_text_or_none(call_id), name, text, is_error=failed, document=document, server=server,
                      _ref=ref, _original=text)


def hosted_result(item: dict[str, Any], ref: Any) -> ToolResult:
    """What a hosted tool read (pages, files, MCP results): the whole item, named after its tool."""
    text = compact_json(item)
    failed = item.get("status") == "failed" or bool(item.get("error"))
    return ToolResult(_text_or_none(item.get("call_id") or item.get("id")), hosted_tool(item), text,
                      is_error=failed, document=item, server=True, _ref=ref, _original=text)


class Calls:
    """The calls of a list of items, to tie each output to the call it answers."""

    def __init__(self, items: Iterable[Any]):
        self.ids = CallNames()  # over all items: an id reused anywhere names neither tool
        self._first: dict[tuple[str, str], int] = {}
        for index, item in enumerate(items):
            if kind_of(item) == "call":
                name = call_name(item)
                for call_id in call_ids(item):
                    self.ids.add(call_id, name)
                    self._first.setdefault(("id", call_id), index)
                self._first.setdefault(("name", name), index)

    def name(self, item: dict[str, Any], index: int) -> str | None:
        """The tool an output at ``index`` answers: the call its id names, made before it. An output without
        ``call_id`` (``function_call_output`` allows that) counts the ``name`` it claims when an earlier call
        named that tool."""
        call_id = item.get("call_id") or (item.get("id") if item.get("type") == "local_shell_call_output" else None)
        if isinstance(call_id, str) and call_id:
            return self.ids.name(call_id) if self._first.get(("id", call_id), index) < index else None
        claimed = item.get("name")
        return claimed if isinstance(claimed, str) and self._first.get(("name", claimed), index) < index else None


def answer_segments(output: Any) -> list[tuple[list[ToolCall], list[ToolResult]]]:
    """The calls of an answer's ``output`` items, each stretch with the results that came before it.

    Public for every place an answer is inspected (a POST's body, ``response.completed``'s ``response``, a
    retrieved response): each segment is ``(calls, results)``; results are hosted items and outputs found in
    the answer (server results), judged before the calls after them. A last segment ``([], results)`` carries
    results after the last call, so that what the model read is judged even when it made no call.
    """
    items = output if isinstance(output, list) else []
    names = Calls(item for item in items if isinstance(item, dict))
    segments: list[tuple[list[ToolCall], list[ToolResult]]] = []
    calls: list[ToolCall] = []
    results: list[ToolResult] = []
    for index, item in enumerate(items):
        kind = kind_of(item, answer=True)
        if kind == "call":
            calls.append(answer_call(item))
        elif kind in ("hosted", "output"):
            if calls:
                segments.append((calls, results))
                calls, results = [], []
            results.append(hosted_result(item, index) if kind == "hosted"
                           else output_result(item, names.name(item, index), index, server=True))
    if calls or results:
        segments.append((calls, results))
    return segments


def answer_call(item: Any) -> ToolCall:
    """The call an answer item of kind ``call`` stands for (an item that is not even an object: refused)."""
    if isinstance(item, dict):
        return call_of(item)
    return ToolCall(None, "", None, None, refuse=refused_reason(FAMILY, "output item", item))


def answer_calls(output: Any) -> list[ToolCall]:
    """The calls of an answer's ``output``, in order (``answer_segments`` without building the results)."""
    return [answer_call(item) for item in output if kind_of(item, answer=True) == "call"] \
        if isinstance(output, list) else []


# -- refusals ----------------------------------------------------------------------------------------
def refusal_item(text: str, item_id: str | None = None) -> dict[str, Any]:
    """The assistant message that stands in for refused calls."""
    return {"id": item_id or f"msg_{uuid.uuid4().hex}", "type": "message", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}], "role": "assistant"}


def refuse_output(output: list[Any], text: str) -> list[Any]:
    """``output`` without its calls, the refusal message where the first call was."""
    kept: list[Any] = []
    placed = False
    for item in output:
        if kind_of(item, answer=True) == "call":
            if not placed:
                kept.append(refusal_item(text))
                placed = True
            continue
        kept.append(item)
    return kept if placed else [*kept, refusal_item(text)]


# -- tools -------------------------------------------------------------------------------------------
def tool_of(entry: Any, namespace: str | None = None) -> Tool | None:
    """The tool one ``tools`` entry declares (``namespace``: the entry sits in that ``namespace`` tool)."""
    if not isinstance(entry, dict) or entry.get("type") == "namespace":
        return None
    name = tool_name(entry)
    if name is None:
        return None
    description = entry.get("description") if isinstance(entry.get("description"), str) else None
    if namespace is not None:
        return Tool(qualified(name, namespace), description, _schema(entry))
    if is_hosted_tool(entry):
        return Tool(name, description, _configuration(entry), server=True)
    if entry.get("type") in ("function", "custom"):
        return Tool(name, description, _schema(entry))
    return Tool(name, description, dict(entry))


def is_hosted_tool(entry: dict[str, Any]) -> bool:
    """Whether the provider runs a declared tool (its calls happen before the proxy sees the answer): the
    table's server tools, a type the table does not hold, and ``shell`` / ``tool_search`` whose fields say the
    provider runs them (only ever one more decision: their call items stay decided calls)."""
    kind = entry.get("type")
    if kind == "tool_search":
        return entry.get("execution") != "client"
    if kind == "shell":
        environment = entry.get("environment")
        return isinstance(environment, dict) and environment.get("type") in _HOSTED_ENVIRONMENTS
    return TABLE.in_request("tool", kind) not in (_CALL, _INERT)


def field_unseen(name: str, value: Any) -> str | None:
    """Why a top-level request field is context the proxy cannot read (undeclared, and able to carry some)."""
    if f"field:{name}" in TABLE.request or value is None or isinstance(value, (bool, int, float)):
        return None
    return unseen_reason(FAMILY, "request field", name)


def tool_unseen(entry: Any) -> str | None:
    """Why a ``tools`` entry is context the proxy cannot read (a type the table does not hold), or None."""
    kind = entry.get("type") if isinstance(entry, dict) else None
    return unseen_reason(FAMILY, "tool", kind) if TABLE.in_request("tool", kind) is _UNSEEN else None


def tool_name(entry: Any) -> str | None:
    """What a ``tools`` entry (or a ``tool_choice``) is called: function and custom tools by name, MCP servers
    ``mcp:<label>``, every web search version ``web_search``, the rest by type."""
    if not isinstance(entry, dict):
        return None
    kind = entry.get("type")
    if kind in ("function", "custom"):
        return entry["name"] if isinstance(entry.get("name"), str) and entry["name"] else None
    if kind == "mcp":
        return mcp_name(entry.get("server_label"))
    if not isinstance(kind, str) or not kind:
        return None
    if kind.startswith("web_search"):
        return "web_search"
    return "computer" if kind == "computer_use_preview" else kind


def _schema(entry: dict[str, Any]) -> dict[str, Any] | None:
    # A custom tool has no JSON schema: its input format (text or a grammar) stands for it.
    value = entry.get("format" if entry.get("type") == "custom" else "parameters")
    return value if isinstance(value, dict) else None


def _configuration(entry: dict[str, Any]) -> dict[str, Any]:
    """A hosted tool's configuration as recorded and decided, without credentials (MCP ``authorization``
    and ``headers``)."""
    return {key: value for key, value in entry.items() if key not in ("authorization", "headers")}


def item_tools(item: Any) -> list[Any]:
    """Tool definitions an input item carries (``additional_tools``, ``tool_search_output``)."""
    if isinstance(item, dict) and item.get("type") in ("additional_tools", "tool_search_output"):
        tools = item.get("tools")
        return tools if isinstance(tools, list) else []
    return []
