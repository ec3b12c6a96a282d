"""A ``chat.completion`` answer <-> the neutral :class:`ChatAnswer`, and the pieces its stream and the
request's history share with it (finish reasons, usage, tool calls, reasoning).

Reasoning is rendered as ``reasoning_content`` (the field DeepSeek, vLLM and LiteLLM clients read; the openai
SDK keeps it as an extra field) and never mixed into ``content``; its signature or encryption only means
something to the provider that made it and is left out.
"""
from __future__ import annotations

import json
from typing import Any

from .neutral import ChatAnswer, FinishReason, Reasoning, Text, ToolCallPart, Untranslatable, Usage

#: The upstream's finish reasons read as neutral ones (``error``: Mistral's). ``function_call`` (legacy
#: functions, never requested) and anything unknown are refused.
FINISH_READ: dict[str, FinishReason] = {"stop": "stop", "length": "length", "tool_calls": "tool_calls",
                                        "content_filter": "content_filter", "error": "error"}
#: Message fields of an answer that carry nothing when null or empty; ``role`` is always fine.
_ANSWER_FIELDS = frozenset({"role", "content", "refusal", "tool_calls", "reasoning_content", "reasoning",
                            "annotations", "audio", "function_call"})

_CALL_FIELDS = frozenset({"index", "id", "type", "function"})


def finish_read(reason: Any, where: str) -> FinishReason:
    if reason not in FINISH_READ:
        raise Untranslatable(where, f"finish reason {reason!r} is not translatable")
    return FINISH_READ[reason]


def finish_rendered(reason: FinishReason) -> str:
    """OpenAI's finish reason for a neutral one; an answer that ended in error has none (refused)."""
    if reason == "error":
        raise Untranslatable("finish_reason", "the upstream answer ended in an error")
    return reason


def usage_read(usage: Any) -> Usage:
    """OpenAI counts cached tokens inside ``prompt_tokens``; the neutral ``input_tokens`` is that same total
    and ``cache_read_tokens`` the cached part of it."""
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(input_tokens=usage.get("prompt_tokens"), output_tokens=usage.get("completion_tokens"),
                 cache_read_tokens=cached)


def usage_rendered(usage: Usage) -> dict[str, Any]:
    prompt, completion = usage.input_tokens or 0, usage.output_tokens or 0
    rendered: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                                "total_tokens": prompt + completion}
    if usage.cache_read_tokens is not None:
        rendered["prompt_tokens_details"] = {"cached_tokens": usage.cache_read_tokens}
    return rendered


def render_answer(answer: ChatAnswer, created: int) -> dict[str, Any]:
    texts = [part.text for part in answer.parts if isinstance(part, Text)]
    calls = [part for part in answer.parts if isinstance(part, ToolCallPart)]
    reasoning = "".join(part.text for part in answer.parts if isinstance(part, Reasoning))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None,
                               "refusal": None, "annotations": []}
    if calls:
        message["tool_calls"] = [{"id": call.id, "type": "function",
                                  "function": {"name": call.name, "arguments": call.arguments}}
                                 for call in calls]
    if reasoning:
        message["reasoning_content"] = reasoning
    return {"id": answer.id, "object": "chat.completion", "created": created, "model": answer.model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish_rendered(answer.finish_reason)}],
            "usage": usage_rendered(answer.usage)}


def read_content(content: Any, where: str) -> list[Text]:
    """``content``: a string, or (Mistral and others) a list of ``text`` parts."""
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [Text(content)]
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else None
                raise Untranslatable(f"{where}[{i}]", f"content part of type {kind!r} is not translatable")
            texts.append(Text(part["text"]))
        return texts
    raise Untranslatable(where, "content is neither a string nor a list of parts")


def read_reasoning(holder: dict[str, Any], where: str) -> str:
    """``reasoning_content`` (DeepSeek, Z.AI, older vLLM) or ``reasoning`` (newer vLLM, Ollama, OpenRouter)."""
    text = ""
    for key in ("reasoning_content", "reasoning"):
        value = holder.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise Untranslatable(f"{where}.{key}", "reasoning that is not text is not translatable")
        text += value
    return text


def refuse_carriers(holder: dict[str, Any], where: str) -> None:
    """Refuse fields that carry content this codec does not translate: audio, legacy function calls,
    citations (annotations), and any field it does not know that holds a value."""
    for key, value in holder.items():
        if key == "role" or value in (None, [], {}):
            continue
        if key in ("audio", "function_call", "annotations") or key not in _ANSWER_FIELDS:
            raise Untranslatable(f"{where}.{key}", "not translatable to another API family")


def read_call(call: Any, where: str) -> tuple[str | None, str | None, str | None]:
    """A tool call or a streamed fragment of one: ``(id, name, arguments)``. Custom (free-form) calls are
    refused; ``arguments`` given as an object (Mistral may) becomes its JSON text."""
    if not isinstance(call, dict) or call.get("type", "function") not in ("function", None):
        kind = call.get("type") if isinstance(call, dict) else None
        raise Untranslatable(where, f"tool call of type {kind!r}: only function calls translate")
    unknown = sorted(set(call) - _CALL_FIELDS)
    if unknown:
        raise Untranslatable(f"{where}.{unknown[0]}", "not translatable")
    function = call.get("function") or {}
    if not isinstance(function, dict) or set(function) - {"name", "arguments"}:
        raise Untranslatable(f"{where}.function", "not a function call")
    arguments = function.get("arguments")
    if isinstance(arguments, dict):
        arguments = json.dumps(arguments)
    if arguments is not None and not isinstance(arguments, str):
        raise Untranslatable(f"{where}.function.arguments", "not JSON text")
    return call.get("id"), function.get("name"), arguments


def read_calls(calls: Any, where: str) -> list[ToolCallPart]:
    """The complete tool calls of a message (an answer's, or an assistant message of a request's history)."""
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise Untranslatable(where, "not a list")
    parts = []
    for i, call in enumerate(calls):
        call_id, name, arguments = read_call(call, f"{where}[{i}]")
        if not isinstance(call_id, str) or not isinstance(name, str):
            raise Untranslatable(f"{where}[{i}]", "a call needs an id and a name")
        parts.append(ToolCallPart(call_id, name, arguments or ""))
    return parts


def read_answer(body: dict[str, Any]) -> ChatAnswer:
    choices = body.get("choices")
    if not isinstance(choices, list) or len(choices) != 1:
        raise Untranslatable("choices", "exactly one choice translates")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise Untranslatable("choices[0].message", "missing")
    where = "choices[0].message"
    refuse_carriers(message, where)
    parts: list[Text | ToolCallPart | Reasoning] = []
    reasoning = read_reasoning(message, where)
    if reasoning:
        parts.append(Reasoning(reasoning))
    parts += read_content(message.get("content"), f"{where}.content")
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append(Text(message["refusal"]))
    parts += read_calls(message.get("tool_calls"), f"{where}.tool_calls")
    return ChatAnswer(id=str(body.get("id", "")), model=str(body.get("model", "")), parts=parts,
                      finish_reason=finish_read(choice.get("finish_reason"), "choices[0].finish_reason"),
                      usage=usage_read(body.get("usage")))
