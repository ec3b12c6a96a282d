"""Neutral answers as Responses API ``Response`` objects (``openai/types/responses/response.py``): the body of
a non-streamed answer and the ``response`` of the stream's lifecycle events, built by the same functions so that
both readings of a streamed answer (its events and its terminal ``response.output``) agree.

Ids are derived, never random: the response id from the upstream's answer id (:func:`response_id`, which the
router uses to keep the conversation for ``previous_response_id``), each item's id from the response id and its
``output_index``. The upstream answers' ids must therefore be unique: provider ids are; where a provider gives
none, its codec (or the router) must mint a random one, never a constant.
"""
from __future__ import annotations

import hashlib
from typing import Any

from .neutral import ChatRequest, FinishReason, Reasoning, Text, ToolCallPart, Usage
from .responses_front_items import seal

#: finish reason -> (status, incomplete_details, error) of the Response.
_ENDINGS: dict[str, tuple[str, Any, Any]] = {
    "stop": ("completed", None, None),
    "tool_calls": ("completed", None, None),
    "length": ("incomplete", {"reason": "max_output_tokens"}, None),
    "content_filter": ("incomplete", {"reason": "content_filter"}, None),
    "error": ("failed", None, {"code": "server_error", "message": "the model's answer ended with an error"}),
}

#: status -> the stream's terminal event.
TERMINAL_EVENTS = {"completed": "response.completed", "incomplete": "response.incomplete",
                   "failed": "response.failed"}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:48]


def response_id(upstream_id: str) -> str:
    """The Response id the client gets for the upstream answer ``upstream_id`` (kept as is when it already is
    one)."""
    return upstream_id if upstream_id.startswith("resp_") else f"resp_{_digest(upstream_id)}"


#: The id prefix of the output item each kind of part becomes (as OpenAI's ids look).
_PREFIXES: dict[type, str] = {Text: "msg", Reasoning: "rs", ToolCallPart: "fc"}


def item_id(kind: type, response: str, index: int) -> str:
    """The id of output item ``index`` of ``response``, made of a part of type ``kind``."""
    return f"{_PREFIXES[kind]}_{_digest(f'{response}:{index}')}"


def message_item(response: str, index: int, text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if status != "in_progress" \
        else []
    return {"id": item_id(Text, response, index), "type": "message", "role": "assistant", "status": status,
            "content": content}


def reasoning_item(response: str, index: int, reasoning: Reasoning) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": reasoning.text}] if reasoning.text else []
    return {"id": item_id(Reasoning, response, index), "type": "reasoning", "summary": summary,
            "encrypted_content": seal(reasoning)}


def call_item(response: str, index: int, call: ToolCallPart, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id(ToolCallPart, response, index), "type": "function_call", "call_id": call.id, "name": call.name,
            "arguments": call.arguments if status != "in_progress" else "", "status": status}


def output_items(response: str, parts: list[Text | ToolCallPart | Reasoning],
                 cut: bool = False) -> list[dict[str, Any]]:
    """The answer's parts as output items in order; a run of texts is one message, empty texts none. ``cut``:
    the answer was cut short (max tokens) in its last item, whose status is then ``incomplete`` as OpenAI marks
    it (a call's arguments may be unfinished JSON)."""
    items: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, Text):
            if not part.text:
                continue
            if items and items[-1]["type"] == "message":
                items[-1]["content"][0]["text"] += part.text
            else:
                items.append(message_item(response, len(items), part.text))
        elif isinstance(part, Reasoning):
            items.append(reasoning_item(response, len(items), part))
        else:
            items.append(call_item(response, len(items), part))
    if cut and items and items[-1]["type"] != "reasoning":
        items[-1]["status"] = "incomplete"
    return items


def usage_json(usage: Usage) -> dict[str, Any] | None:
    """OpenAI's usage; None when the upstream reported none. ``input_tokens`` is the neutral count as is."""
    if usage.input_tokens is None and usage.output_tokens is None:
        return None
    input_tokens, output_tokens = usage.input_tokens or 0, usage.output_tokens or 0
    return {"input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": usage.cache_read_tokens or 0,
                                     "cache_write_tokens": usage.cache_write_tokens or 0},
            "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens}


def response_body(response: str, created_at: int, model: str, request: ChatRequest | None,
                  output: list[dict[str, Any]], finish: FinishReason | None, usage: Usage | None) -> dict[str, Any]:
    """The Response object; ``finish`` None: still in progress. The request's settings are echoed as OpenAI
    does (the SDK's model requires ``tools``, ``tool_choice`` and ``parallel_tool_calls``)."""
    status, incomplete, error = _ENDINGS[finish] if finish is not None else ("in_progress", None, None)
    request = request or ChatRequest(model=model, messages=[])
    return {
        "id": response, "object": "response", "created_at": created_at, "status": status, "background": False,
        "error": error, "incomplete_details": incomplete, "instructions": None,
        "max_output_tokens": request.max_tokens, "max_tool_calls": None, "model": model, "output": output,
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "reasoning": {"effort": None, "summary": None}, "temperature": request.temperature,
        "text": {"format": _format(request.response_format)}, "tool_choice": _tool_choice(request.tool_choice),
        "tools": [{"type": "function", "name": tool.name, "description": tool.description,
                   "parameters": tool.parameters, "strict": None} for tool in request.tools],
        "top_p": request.top_p, "truncation": "disabled",
        "usage": usage_json(usage) if usage is not None else None, "user": None, "metadata": {},
    }


def _tool_choice(choice: str | None) -> Any:
    if choice is None:
        return "auto"
    return choice if choice in ("auto", "none", "required") else {"type": "function", "name": choice}


def _format(response_format: dict[str, Any] | None) -> dict[str, Any]:
    if response_format is None:
        return {"type": "text"}
    return {key: value for key, value in response_format.items() if value is not None}
