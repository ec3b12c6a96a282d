"""Bedrock Converse content blocks as the security decisions see them: tool uses (the client's, and the
provider's own ``server_tool_use``), tool results of every block type, and what an answer's provider-executed
tools (``systemTool`` such as ``nova_grounding``) left in it: their ``toolResult`` blocks and web citations.
The provider's own tool uses are decided like the client's (they ran already: a refusal withholds the answer)."""
from __future__ import annotations

import json
from typing import Any

from ..exchange import Tool, ToolCall, ToolResult
from .anthropic_blocks import declared_tools
from .shapes import FamilyTable, Reading, refused_reason, unseen_reason
from .wire import CallNames

SERVER_TOOL_USE = "server_tool_use"
FAMILY = "Bedrock Converse"
_I, _C, _R, _S, _U, _O, _K, _D, _X = (Reading.INERT, Reading.CALL, Reading.RESULT, Reading.SERVER_TOOL,
                                      Reading.UNSEEN, Reading.OPAQUE, Reading.SKIPPED, Reading.READ, Reading.REFUSED)
_MEDIA = ("image", "document", "video", "audio")
_EXCEPTIONS = ("internalServerException", "modelStreamErrorException", "validationException",
               "throttlingException", "serviceUnavailableException", "modelTimeoutException")

#: The members of botocore's bedrock-runtime unions, as the proxy reads them (tests/test_sdk_types_bedrock.py
#: fails when botocore knows a member this table does not hold).
TABLE = FamilyTable(
    FAMILY,
    request={
        **{f"content:{k}": r for k, r in (
            ("text", _I), ("image", _I), ("document", _I), ("video", _I), ("audio", _I), ("toolUse", _C),
            ("toolResult", _R), ("guardContent", _I), ("cachePoint", _O), ("reasoningContent", _O),
            ("citationsContent", _I), ("searchResult", _I), ("toolAddition", _S), ("toolRemoval", _O))},
        **{f"tool result content:{k}": r for k, r in (
            ("json", _I), ("text", _I), ("image", _I), ("document", _I), ("video", _I), ("searchResult", _I))},
        "system:text": _I, "system:guardContent": _I, "system:cachePoint": _O,
        "source:bytes": _I, "source:text": _I, "source:content": _I, "source:s3Location": _U,
        "document content:text": _I, "guard content:text": _I, "guard content:image": _I,
        "citation location:web": _R, "citation location:documentChar": _I, "citation location:documentPage": _I,
        "citation location:documentChunk": _I, "citation location:searchResultLocation": _I,
        "tool:toolSpec": _C, "tool:systemTool": _S, "tool:cachePoint": _O,
        "tool choice:auto": _O, "tool choice:any": _O, "tool choice:tool": _O,
        "additional field:tools": _S, "additional field:mcp_servers": _S,
        **{f"additional field:{k}": _O for k in (
            "tool_choice", "top_k", "thinking", "anthropic_beta", "reasoning_config", "reasoningConfig",
            "inferenceConfig", "output_config", "effort")},
        "model:prompt": _U,
        # the request's own fields: content-carrying ones are read member by member (above)
        **{f"request field:{k}": r for k, r in (
            ("messages", _I), ("system", _I), ("toolConfig", _C), ("additionalModelRequestFields", _I),
            ("promptVariables", _I), ("modelId", _O), ("inferenceConfig", _O), ("guardrailConfig", _O),
            ("projectIdentifier", _O), ("additionalModelResponseFieldPaths", _O), ("requestMetadata", _O),
            ("performanceConfig", _O), ("serviceTier", _O), ("outputConfig", _O))},
    },
    answer={
        **{f"content:{k}": r for k, r in (
            ("text", _I), ("toolUse", _C), ("toolResult", _R), ("reasoningContent", _O), ("citationsContent", _I),
            ("image", _I),
            # no model answers with these: an answer that does is not one the proxy understands
            ("document", _X), ("video", _X), ("audio", _X), ("guardContent", _X), ("cachePoint", _X),
            ("searchResult", _X), ("toolAddition", _X), ("toolRemoval", _X))},
        **{f"start:{k}": r for k, r in (("toolUse", _C), ("toolResult", _R), ("image", _I))},
        **{f"delta:{k}": r for k, r in (("text", _I), ("toolUse", _C), ("toolResult", _R),
                                        ("reasoningContent", _O), ("citation", _I), ("image", _I))},
        "citation location:web": _R, "citation location:documentChar": _I, "citation location:documentPage": _I,
        "citation location:documentChunk": _I, "citation location:searchResultLocation": _I,
        "source:bytes": _I, "source:s3Location": _X,
        # the answer's own fields (an answer of another format, chat completions' ``choices``..., is refused)
        "output:message": _I,
        **{f"answer field:{k}": r for k, r in (
            ("output", _I), ("stopReason", _O), ("usage", _O), ("metrics", _O), ("additionalModelResponseFields", _O),
            ("trace", _O), ("performanceConfig", _O), ("serviceTier", _O), ("amazon-bedrock-invocationMetrics", _O))},
    },
    events={"event:messageStart": _D, "event:contentBlockStart": _D, "event:contentBlockDelta": _D,
            "event:contentBlockStop": _D, "event:messageStop": _D, "event:metadata": _D,
            **{f"event:{k}": _K for k in _EXCEPTIONS}},
    unknown_event=Reading.SKIPPED,
    notes={
        "content:toolAddition": "a tool named by reference: decided before the request unless it names a "
                                        "declared toolSpec (removed with its block when refused)",
        "source:s3Location": "media and documents Bedrock reads from S3, at any depth",
        "content:searchResult": "its text is inline; its source is a label Bedrock does not fetch",
        "tool result content:searchResult": "its text is inline; its source is a label Bedrock does not fetch",
        "citation location:web": "pages a provider tool read: results of that tool",
        "tool choice:tool": "must name a declared tool (else the request is refused)",
        "additional field:tools": "the model's own tool list (Anthropic's), read by that family",
        "model:prompt": "a prompt stored in Bedrock Prompt management (model id `...:prompt/...`)",
        "request field:promptVariables": "text values put into a stored prompt (which is unseen)",
        "citation location:web": "pages a provider tool read: results of that tool",
        "event:internalServerException": "botocore yields it only as an exception frame's payload",
    },
)
TABLES = [TABLE]


def member(value: Any) -> tuple[Any, Any]:
    """A union's one member ``(name, value)`` as botocore reads it: ``__type`` and null members ignored; not
    exactly one member left (or not an object) gives ``(None, value)``."""
    if not isinstance(value, dict):
        return None, value
    present = [(k, v) for k, v in value.items() if k != "__type" and v is not None]
    return present[0] if len(present) == 1 else (None, value)


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


def unseen(blocks: Any, where: str = "content", at: str = "") -> list[str]:
    """What of a content list the proxy cannot read, asked of the table at every depth: members the table does
    not hold (or blocks that are not one union member), media and documents Bedrock reads from S3 (in tool
    results and documents too), citations of unknown kinds."""
    found: list[str] = []
    if blocks is None:
        return found
    for position, block in enumerate(blocks if isinstance(blocks, list) else [blocks]):
        kind, value = member(block)
        here = f"{at}{where}.{position}"
        if TABLE.in_request(where, kind) is Reading.UNSEEN:
            found.append(f"{here}: {unseen_reason(FAMILY, where, kind)}")
        elif kind in _MEDIA:  # guard content's image too
            found += _source(value, f"{here}.{kind}")
        elif kind == "toolResult":
            found += unseen(value.get("content") if isinstance(value, dict) else None, "tool result content",
                            f"{here}.")
        elif kind == "guardContent":
            found += unseen(value, "guard content", f"{here}.")
        elif kind == "citationsContent":
            for citation in (value.get("citations") if isinstance(value, dict) else None) or ():
                location, _ = member(citation.get("location") if isinstance(citation, dict) else None)
                if TABLE.in_request("citation location", location) is Reading.UNSEEN:
                    found.append(f"{here}: {unseen_reason(FAMILY, 'citation location', location)}")
    return found


def _source(block: Any, here: str) -> list[str]:
    """A media or document block's ``source``: bytes and text the proxy reads, an S3 object it cannot."""
    kind, value = member(block.get("source") if isinstance(block, dict) else None)
    if kind == "s3Location":
        return [f"{here}: read by Bedrock from {value.get('uri') if isinstance(value, dict) else value}"]
    if TABLE.in_request("source", kind) is Reading.UNSEEN:
        return [f"{here}: {unseen_reason(FAMILY, 'source', kind)}"]
    if kind == "content":
        return unseen(value, "document content", f"{here}.source.")
    return []


def answer_refusal(data: Any) -> str | None:
    """Why an answer cannot pass: a field or member the table does not hold, or a block that is not one union
    member (None when every part is understood)."""
    for key in data if isinstance(data, dict) else [type(data).__name__]:
        if TABLE.in_answer("answer field", key) is Reading.REFUSED:
            return refused_reason(FAMILY, "answer field", key)
    output = member(data.get("output"))[0] if isinstance(data, dict) and "output" in data else "message"
    if TABLE.in_answer("output", output) is Reading.REFUSED:
        return refused_reason(FAMILY, "output", output)
    blocks = ((data.get("output") or {}).get("message") or {}).get("content")
    for block in blocks if isinstance(blocks, list) else ():
        kind, value = member(block)
        inner = value if isinstance(value, dict) else {}
        if TABLE.in_answer("content", kind) is Reading.REFUSED:
            return refused_reason(FAMILY, "content block", kind)
        if kind == "image" and TABLE.in_answer("source", member(inner.get("source"))[0]) is Reading.REFUSED:
            return refused_reason(FAMILY, "image source", member(inner.get("source"))[0])
        if kind == "citationsContent":
            refusal = citation_refusal(inner.get("citations"))
            if refusal:
                return refusal
    return None


def citation_refusal(citations: Any) -> str | None:
    """Why citations cannot pass: a location kind the table does not hold."""
    for citation in citations if isinstance(citations, list) else [citations]:
        location = member(citation.get("location") if isinstance(citation, dict) else None)[0]
        if isinstance(citation, dict) and "location" not in citation:
            continue  # a citation without a location points nowhere
        if TABLE.in_answer("citation location", location) is Reading.REFUSED:
            return refused_reason(FAMILY, "citation location", location)
    return None


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
