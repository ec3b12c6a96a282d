"""Items of the OpenAI Responses API as the security view sees them, in requests, answers and streams.

The ground truth is the openai SDK's typed models (``openai/types/responses/``). Every item is one of:

* a **message** (``type: "message"``, or a bare ``{role, content}``): roles system / developer / user /
  assistant, content a string or parts (``input_text`` / ``output_text`` carry its text);
* a **call the client executes**: ``function_call`` and ``custom_tool_call`` (free-form ``input``) named by
  their ``name`` (``<namespace>.<name>`` for a tool of a ``namespace``, as the openai-agents SDK names it);
  ``local_shell_call``, ``shell_call`` (unless it runs in a hosted container), ``apply_patch_call``,
  ``computer_call`` and client-side ``tool_search_call``, named by the tool type that makes them
  (``local_shell``, ``shell``, ``apply_patch``, ``computer`` for both computer tool versions,
  ``tool_search``), their arguments the item without its envelope (``id``, ``type``, ``status``,
  ``call_id``, ``caller``, ``created_by``): ``action.command``, ``operation.path``...;
* an **MCP approval request** (``mcp_approval_request``): a call of ``mcp:<server_label>`` whose arguments are
  ``{"name": <the MCP tool>, "arguments": <its arguments>}`` (see ``responses.py`` on MCP approvals);
* a **call output** (``function_call_output``, ``custom_tool_call_output``, ``local_shell_call_output``,
  ``shell_call_output``, ``apply_patch_call_output``, ``computer_call_output``, ``tool_search_output``):
  a tool result tied to its call by ``call_id`` only (:class:`CallNames`: an id two tools share names
  neither), the whole output as the ``document`` policy conditions see;
* a **hosted item** (the provider ran the tool: ``web_search_call``, ``file_search_call``,
  ``code_interpreter_call``, ``image_generation_call``, ``mcp_call``, ``mcp_list_tools``, ``program`` /
  ``program_output``, server-side ``tool_search_call`` / ``tool_search_output``, hosted ``shell_call`` /
  ``shell_call_output``): a server tool result named after its tool (``web_search``, ``mcp:<label>``...),
  whose document is the whole item;
* **opaque** (``reasoning``, ``compaction``, ``compaction_trigger``, ``additional_tools``,
  ``mcp_approval_response``, ``item_reference``): kept untouched.

An answer item of a type not known here is decided as a call of a tool named by its type (fail closed).
"""
from __future__ import annotations

import uuid
from typing import Any, Iterable

from ..exchange import Tool, ToolCall, ToolResult
from .base import CallNames, compact_json, parse_arguments
from .content import content_text

ENVELOPE = ("id", "type", "status", "call_id", "caller", "created_by")
#: Calls the client executes: item type -> the tool they call (None: the item's ``name``).
CLIENT_CALLS: dict[str, str | None] = {
    "function_call": None, "custom_tool_call": None, "local_shell_call": "local_shell", "shell_call": "shell",
    "apply_patch_call": "apply_patch", "computer_call": "computer", "tool_search_call": "tool_search"}
CALL_OUTPUTS = ("function_call_output", "custom_tool_call_output", "local_shell_call_output", "shell_call_output",
                "apply_patch_call_output", "computer_call_output", "tool_search_output")
#: Items the provider's own tools produce: item type -> the hosted tool (None: ``mcp:<server_label>``).
HOSTED_ITEMS: dict[str, str | None] = {
    "web_search_call": "web_search", "file_search_call": "file_search", "code_interpreter_call": "code_interpreter",
    "image_generation_call": "image_generation", "mcp_call": None, "mcp_list_tools": None,
    "program": "programmatic_tool_calling", "program_output": "programmatic_tool_calling"}
APPROVAL = "mcp_approval_request"
OPAQUE = ("message", "reasoning", "compaction", "compaction_trigger", "additional_tools", "mcp_approval_response",
          "item_reference")
#: ``exchange.state`` keys: the encrypted contents of the compaction items an answer carries (the response chain
#: remembers the context they summarise), and the request's own compaction items, ``(unseen reason, encrypted
#: content)`` each (the chain vouches for those it relayed from a trusted context).
COMPACTED = "archestra.responses.compacted"
COMPACTIONS = "archestra.responses.compactions"


def compaction_of(item: Any) -> str | None:
    """The encrypted content of a compaction item, else None."""
    if isinstance(item, dict) and item.get("type") == "compaction" and isinstance(item.get("encrypted_content"), str) \
            and item["encrypted_content"]:
        return item["encrypted_content"]
    return None
#: Tool types the client runs (its calls come back to the client); every other type is hosted.
CLIENT_TOOLS = {"function": None, "custom": None, "local_shell": "local_shell", "shell": "shell",
                "apply_patch": "apply_patch", "computer": "computer", "computer_use_preview": "computer",
                "tool_search": "tool_search"}
_HOSTED_ENVIRONMENTS = ("container_auto", "container_reference")
TEXT_PARTS = ("input_text", "output_text")


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
def _hosted_environment(environment: Any) -> bool:
    return isinstance(environment, dict) and environment.get("type") in _HOSTED_ENVIRONMENTS


def hosted_tool(item: dict[str, Any]) -> str | None:
    """The hosted tool an item comes from, or None when the provider did not run it."""
    kind = item.get("type")
    if kind in HOSTED_ITEMS:
        return HOSTED_ITEMS[kind] or mcp_name(item.get("server_label"))
    if kind in ("tool_search_call", "tool_search_output") and item.get("execution") == "server":
        return "tool_search"
    if kind in ("shell_call", "shell_call_output") and _hosted_environment(item.get("environment")):
        return "shell"
    return None


def kind_of(item: Any) -> str:
    """``message``, ``call`` (decided: client calls, MCP approval requests, unknown types), ``output``,
    ``hosted`` or ``opaque``."""
    if not isinstance(item, dict):
        return "opaque"
    kind = item.get("type")
    if kind is None and "role" in item:
        return "message"
    if hosted_tool(item) is not None:
        return "hosted"
    if kind in CLIENT_CALLS or kind == APPROVAL:
        return "call"
    if kind in CALL_OUTPUTS:
        return "output"
    if kind in OPAQUE:
        return "message" if kind == "message" else "opaque"
    return "call"


# -- calls -------------------------------------------------------------------------------------------
def call_name(item: dict[str, Any]) -> str:
    """The tool an item of kind ``call`` calls."""
    kind = item.get("type")
    if kind in ("function_call", "custom_tool_call"):
        return qualified(item.get("name"), item.get("namespace"))
    if kind == APPROVAL:
        return mcp_name(item.get("server_label"))
    return CLIENT_CALLS.get(str(kind)) or str(kind or "")


def call_of(item: dict[str, Any]) -> ToolCall:
    """The call an item of kind ``call`` makes."""
    kind = item.get("type")
    call_id = _text_or_none(item.get("call_id") or item.get("id"))
    if kind == "function_call":
        arguments, raw = parse_arguments(item.get("arguments", ""))
        return ToolCall(call_id, call_name(item), arguments, raw)
    if kind == "custom_tool_call":
        value = item.get("input")
        text = value if isinstance(value, str) else "" if value is None else compact_json(value)
        return ToolCall(call_id, call_name(item), text, text, freeform=True)
    if kind == APPROVAL:
        arguments, _ = parse_arguments(item.get("arguments", ""))
        value = {"name": item.get("name"), "arguments": arguments}
        return ToolCall(_text_or_none(item.get("id")), call_name(item), value, compact_json(value))
    rest = {key: value for key, value in item.items() if key not in ENVELOPE}
    return ToolCall(call_id, call_name(item), rest, compact_json(rest))


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
    items = [item for item in output if isinstance(item, dict)] if isinstance(output, list) else []
    names = Calls(items)
    segments: list[tuple[list[ToolCall], list[ToolResult]]] = []
    calls: list[ToolCall] = []
    results: list[ToolResult] = []
    for index, item in enumerate(items):
        kind = kind_of(item)
        if kind == "call":
            calls.append(call_of(item))
        elif kind in ("hosted", "output"):
            if calls:
                segments.append((calls, results))
                calls, results = [], []
            results.append(hosted_result(item, index) if kind == "hosted"
                           else output_result(item, names.name(item, index), index, server=True))
    if calls or results:
        segments.append((calls, results))
    return segments


def answer_calls(output: Any) -> list[ToolCall]:
    """The calls of an answer's ``output``, in order (``answer_segments`` without building the results)."""
    return [call_of(item) for item in output if isinstance(item, dict) and kind_of(item) == "call"] \
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
        if kind_of(item) == "call" and isinstance(item, dict):
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
    kind = entry.get("type")
    if kind == "tool_search":
        return entry.get("execution") != "client"
    if kind == "shell":
        return _hosted_environment(entry.get("environment"))
    return kind not in CLIENT_TOOLS and kind != "namespace"


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
    return CLIENT_TOOLS.get(kind) or kind


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
