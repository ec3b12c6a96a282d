"""Byte-faithful OpenAI Responses API wire data (the openai SDK's ``openai/types/responses/`` models).

``response()`` is a whole response object (a POST's body, ``response.completed``'s ``response``); the item
builders give output items in their final form; ``stream()`` turns output items into the event sequence the
API sends: ``response.created``, ``response.in_progress``, per item ``output_item.added`` ... ``done`` (with
``content_part``/``output_text`` events for messages, ``function_call_arguments`` / ``custom_tool_call_input``
deltas and done for calls), then ``response.completed`` carrying the whole output and the usage. Every event
has a dense ``sequence_number`` from 0 and both ``event:`` and ``data:`` lines; delta events carry the
``obfuscation`` padding the live API adds.
"""
from __future__ import annotations

import json
from typing import Any

MODEL = "gpt-5.1-2025-11-13"
CREATED = 1764000000
RESPONSE_ID = "resp_0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def usage(input_tokens: int = 36, output_tokens: int = 87, cached: int = 0, reasoning: int = 64) -> dict:
    return {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input_tokens + output_tokens}


def response(output: list[dict], status: str = "completed", used: dict | None = None, model: str = MODEL,
             response_id: str = RESPONSE_ID, **fields: Any) -> dict:
    body = {
        "id": response_id, "object": "response", "created_at": CREATED, "status": status, "background": False,
        "error": None, "incomplete_details": None, "instructions": None, "max_output_tokens": None,
        "max_tool_calls": None, "model": model, "output": output, "parallel_tool_calls": True,
        "previous_response_id": None, "prompt_cache_key": None, "reasoning": {"effort": None, "summary": None},
        "safety_identifier": None, "service_tier": "default", "store": True, "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto", "tools": [],
        "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled",
        "usage": used if used is not None else usage() if status != "in_progress" else None,
        "user": None, "metadata": {},
    }
    body.update(fields)
    return body


# -- output items (final form) -------------------------------------------------------------------------
def message(text: str, item_id: str = "msg_67ccd3acc8d48190a77525dc6de64b4104becb25c2d2a01f") -> dict:
    return {"id": item_id, "type": "message", "status": "completed",
            "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}], "role": "assistant"}


def function_call(name: str, arguments: dict | str, call_id: str = "call_12xCUHk8sDoMvvKQVYrLC2Ig",
                  item_id: str | None = None) -> dict:
    args = arguments if isinstance(arguments, str) else compact(arguments)
    return {"id": item_id or f"fc_{call_id[5:]}", "type": "function_call", "status": "completed",
            "arguments": args, "call_id": call_id, "name": name}


def custom_tool_call(name: str, text: str, call_id: str = "call_cst9Zt1", item_id: str | None = None) -> dict:
    return {"id": item_id or f"ctc_{call_id[5:]}", "type": "custom_tool_call", "status": "completed",
            "call_id": call_id, "input": text, "name": name}


def local_shell_call(command: list[str], call_id: str = "call_lsh4Rk2") -> dict:
    return {"id": f"lsh_{call_id[5:]}", "type": "local_shell_call", "status": "completed", "call_id": call_id,
            "action": {"type": "exec", "command": command, "env": {}, "timeout_ms": 10000,
                       "user": None, "working_directory": None}}


def apply_patch_call(path: str, diff: str, call_id: str = "call_apc7Yq0") -> dict:
    return {"id": f"apc_{call_id[5:]}", "type": "apply_patch_call", "status": "completed", "call_id": call_id,
            "operation": {"type": "update_file", "path": path, "diff": diff}}


def shell_call(commands: list[str], call_id: str = "call_shl5Tq1", environment: dict | None = None) -> dict:
    """A ``shell_call`` (openai ``ResponseFunctionShellToolCall``); ``environment`` says where it runs."""
    return {"id": f"sh_{call_id[5:]}", "type": "shell_call", "status": "completed", "call_id": call_id,
            "action": {"commands": commands, "max_output_length": None, "timeout_ms": 10000},
            "environment": environment, "created_by": "resp_agent"}


def tool_search_call(arguments: dict, execution: str = "client", call_id: str = "call_tsc8Ka3") -> dict:
    """A ``tool_search_call`` (openai ``ResponseToolSearchCall``)."""
    return {"id": f"tsc_{call_id[5:]}", "type": "tool_search_call", "status": "completed", "call_id": call_id,
            "arguments": arguments, "execution": execution}


def computer_call(action: dict, call_id: str = "call_cmp2Vw9") -> dict:
    """A ``computer_call`` (openai ``ResponseComputerToolCall``)."""
    return {"id": f"cu_{call_id[5:]}", "type": "computer_call", "status": "completed", "call_id": call_id,
            "action": action, "pending_safety_checks": []}


def mcp_list_tools(label: str, tools: list[dict], item_id: str = "mcpl_682d4379df088191") -> dict:
    """An ``mcp_list_tools`` item: the tools an MCP server listed (name, description, input_schema)."""
    return {"id": item_id, "type": "mcp_list_tools", "server_label": label, "tools": tools, "error": None}


def web_search_call(query: str, urls: list[str] = (), item_id: str = "ws_68a2b3c4d5e6f7a8b9c0d1e2f3") -> dict:
    action = {"type": "search", "query": query, "sources": [{"type": "url", "url": u} for u in urls]}
    return {"id": item_id, "type": "web_search_call", "status": "completed", "action": action}


def reasoning(encrypted: str = "gAAAAABpZ2VuY3J5cHRlZA==", item_id: str = "rs_68a1b2c3d4e5f6a7b8c9d0e1") -> dict:
    return {"id": item_id, "type": "reasoning", "summary": [], "encrypted_content": encrypted}


def mcp_approval_request(label: str, name: str, arguments: dict, item_id: str = "mcpr_682d498e3bd48191") -> dict:
    return {"id": item_id, "type": "mcp_approval_request", "arguments": compact(arguments), "name": name,
            "server_label": label}


def mcp_call(label: str, name: str, arguments: dict, output: str, item_id: str = "mcp_682d437d90a88191") -> dict:
    return {"id": item_id, "type": "mcp_call", "approval_request_id": None, "arguments": compact(arguments),
            "error": None, "name": name, "output": output, "server_label": label, "status": "completed"}


# -- streams -------------------------------------------------------------------------------------------------
def event(data: dict) -> bytes:
    return f"event: {data['type']}\ndata: {compact(data)}\n\n".encode()


def _pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def _in_progress(item: dict) -> dict:
    """An item as ``output_item.added`` announces it."""
    kind = item["type"]
    if kind == "message":
        return {**item, "status": "in_progress", "content": []}
    if kind == "function_call":
        return {**item, "status": "in_progress", "arguments": ""}
    if kind == "custom_tool_call":
        return {**item, "status": "in_progress", "input": ""}
    if kind == "reasoning":
        return item
    return {**item, "status": "in_progress"} if "status" in item else item


def _item_events(item: dict, index: int, size: int) -> list[dict]:
    where = {"item_id": item["id"], "output_index": index}
    events: list[dict] = [{"type": "response.output_item.added", "output_index": index, "item": _in_progress(item)}]
    kind = item["type"]
    if kind == "message":
        for content_index, part in enumerate(item["content"]):
            spot = {**where, "content_index": content_index}
            events.append({"type": "response.content_part.added", **spot,
                           "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}})
            events += [{"type": "response.output_text.delta", **spot, "delta": piece, "logprobs": [],
                        "obfuscation": "x7Rk"} for piece in _pieces(part["text"], size)]
            events.append({"type": "response.output_text.done", **spot, "text": part["text"], "logprobs": []})
            events.append({"type": "response.content_part.done", **spot, "part": part})
    elif kind == "function_call":
        events += [{"type": "response.function_call_arguments.delta", **where, "delta": piece,
                    "obfuscation": "Q2b"} for piece in _pieces(item["arguments"], size)]
        events.append({"type": "response.function_call_arguments.done", **where, "arguments": item["arguments"]})
    elif kind == "custom_tool_call":
        events += [{"type": "response.custom_tool_call_input.delta", **where, "delta": piece,
                    "obfuscation": "p0"} for piece in _pieces(item["input"], size)]
        events.append({"type": "response.custom_tool_call_input.done", **where, "input": item["input"]})
    elif kind == "web_search_call":
        events += [{"type": f"response.web_search_call.{step}", **where} for step in ("in_progress", "searching",
                                                                                     "completed")]
    events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    return events


def stream_events(output: list[dict], status: str = "completed", size: int = 7, **fields: Any) -> list[dict]:
    """The events (as dicts, numbered) of a streamed answer whose final output is ``output``."""
    start = response([], status="in_progress", **fields)
    events: list[dict] = [{"type": "response.created", "response": start},
                          {"type": "response.in_progress", "response": start}]
    for index, item in enumerate(output):
        events += _item_events(item, index, size)
    terminal = {"completed": "response.completed", "incomplete": "response.incomplete",
                "failed": "response.failed"}[status]
    events.append({"type": terminal, "response": response(output, status=status, **fields)})
    return [{"type": e["type"], "sequence_number": n, **{k: v for k, v in e.items() if k != "type"}}
            for n, e in enumerate(events)]


def stream(output: list[dict], status: str = "completed", size: int = 7, **fields: Any) -> list[bytes]:
    """The SSE bytes of a streamed answer, one event per chunk."""
    return [event(e) for e in stream_events(output, status, size, **fields)]


def error_body(message: str, type_: str = "invalid_request_error", code: str | None = None,
               param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def user_message(text: str, item_id: str = "msg_000") -> dict:
    """A user message as a compaction answer gives it back (the API reference's example of ``/responses/compact``):
    an item with an id, its text an ``input_text`` part."""
    return {"id": item_id, "type": "message", "status": "completed",
            "content": [{"type": "input_text", "text": text}], "role": "user"}


def compaction(encrypted: str, item_id: str = "cmp_68c0a1b2c3d4e5f6") -> dict:
    """A ``compaction`` item (openai ``ResponseCompactionItem``)."""
    return {"id": item_id, "type": "compaction", "encrypted_content": encrypted, "created_by": "system"}


def compacted(output: list[dict], used: dict | None = None) -> dict:
    """The answer of ``POST /responses/compact`` (openai ``CompactedResponse``): the user messages, then one
    compaction item."""
    return {"id": "resp_cmp0a1b2c3d4e5f6", "object": "response.compaction", "created_at": CREATED,
            "output": output, "usage": used if used is not None else usage(120, 40, reasoning=0)}
