"""Anthropic Messages answers: a neutral answer rendered as a ``message`` object (front), an upstream
``message`` and error read back (upstream), and the stop reason and usage vocabularies both share."""
from __future__ import annotations

import json
import uuid
from typing import Any

from .anthropic_messages_write import reasoning_block, tool_use_block
from .neutral import (ChatAnswer, FinishReason, Reasoning, Text, ToolCallPart, Untranslatable, UpstreamError,
                      Usage)

#: Anthropic stop reasons in neutral terms. ``pause_turn`` (a server tool's long turn, to be resumed by sending
#: the answer back) has no neutral meaning: Untranslatable.
FINISH_OF_STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                  "model_context_window_exceeded": "length", "tool_use": "tool_calls",
                  "refusal": "content_filter"}
STOP_OF_FINISH = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                  "content_filter": "refusal"}
_KIND_OF_TYPE = {"invalid_request_error": "invalid_request", "request_too_large": "invalid_request",
                 "authentication_error": "authentication", "permission_error": "permission",
                 "billing_error": "permission", "not_found_error": "not_found", "rate_limit_error": "rate_limit",
                 "overloaded_error": "overloaded", "api_error": "api_error", "timeout_error": "api_error"}
_KIND_OF_STATUS = {400: "invalid_request", 401: "authentication", 403: "permission", 404: "not_found",
                   413: "invalid_request", 429: "rate_limit", 503: "overloaded", 529: "overloaded"}
#: The error ``type`` an Anthropic client expects for each neutral error kind.
TYPE_OF_KIND = {"invalid_request": "invalid_request_error", "authentication": "authentication_error",
                "permission": "permission_error", "not_found": "not_found_error",
                "rate_limit": "rate_limit_error", "overloaded": "overloaded_error", "api_error": "api_error"}


def message_id(answer_id: str | None) -> str:
    if not answer_id:
        return f"msg_{uuid.uuid4().hex}"
    return answer_id if answer_id.startswith("msg_") else f"msg_{answer_id}"


def stop_reason(finish: FinishReason) -> str:
    if finish not in STOP_OF_FINISH:
        raise Untranslatable("finish_reason", f"{finish!r}: Anthropic has no stop reason for it")
    return STOP_OF_FINISH[finish]


def finish_reason(stop: Any) -> FinishReason:
    if stop not in FINISH_OF_STOP:
        raise Untranslatable("stop_reason", f"{stop!r} has no neutral meaning")
    return FINISH_OF_STOP[stop]  # type: ignore[return-value]


def usage_fields(usage: Usage) -> dict[str, int]:
    """The usage object's counts (``input_tokens`` / ``output_tokens`` are required: 0 when unknown). Anthropic's
    ``input_tokens`` leaves out the cached ones, which the neutral count includes."""
    cached = (usage.cache_read_tokens or 0) + (usage.cache_write_tokens or 0)
    fields = {"input_tokens": max((usage.input_tokens or 0) - cached, 0), "output_tokens": usage.output_tokens or 0}
    if usage.cache_write_tokens is not None:
        fields["cache_creation_input_tokens"] = usage.cache_write_tokens
    if usage.cache_read_tokens is not None:
        fields["cache_read_input_tokens"] = usage.cache_read_tokens
    return fields


def neutral_usage(usage: Usage) -> Usage:
    """Anthropic's counts (``read_usage``) as the neutral form counts: cached prompt tokens in ``input_tokens``."""
    if usage.input_tokens is None:
        return usage
    cached = (usage.cache_read_tokens or 0) + (usage.cache_write_tokens or 0)
    return Usage(usage.input_tokens + cached, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)


def read_usage(usage: dict[str, Any], into: Usage | None = None) -> Usage:
    """Anthropic usage counts as Anthropic counts them (a later event's counts replace the earlier ones: they are
    cumulative); ``neutral_usage`` turns them into the neutral count."""
    into = into or Usage()
    for name, attr in (("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
                       ("cache_read_input_tokens", "cache_read_tokens"),
                       ("cache_creation_input_tokens", "cache_write_tokens")):
        if isinstance(usage.get(name), int):
            setattr(into, attr, usage[name])
    return into


def render_answer(answer: ChatAnswer) -> dict[str, Any]:
    content = []
    for i, part in enumerate(answer.parts):
        where = f"parts.{i}"
        if isinstance(part, Text):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, ToolCallPart):
            content.append(tool_use_block(part, where))
        elif isinstance(part, Reasoning):
            if (block := reasoning_block(part)) is not None:
                content.append(block)
        else:
            raise Untranslatable(where, f"part {type(part).__name__} in an answer")
    return {"id": message_id(answer.id), "type": "message", "role": "assistant", "model": answer.model,
            "content": content, "stop_reason": stop_reason(answer.finish_reason), "stop_sequence": None,
            "usage": usage_fields(answer.usage)}


def direct_call(block: dict[str, Any]) -> bool:
    """Whether a ``tool_use`` block is the model's own call (``caller`` absent or ``direct``), not one made by
    code running in Anthropic's code execution (programmatic tool calling), which other families cannot take."""
    return block.get("caller", {"type": "direct"}) == {"type": "direct"}


def read_block(block: Any, where: str) -> Text | ToolCallPart | Reasoning:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text" and not block.get("citations"):
        return Text(block["text"])
    if kind == "tool_use" and direct_call(block):
        return ToolCallPart(block["id"], block["name"], json.dumps(block.get("input") or {}, ensure_ascii=False))
    if kind == "thinking":
        return Reasoning(block.get("thinking") or "", signature=block.get("signature") or None)
    if kind == "redacted_thinking":
        return Reasoning(encrypted=block["data"])
    raise Untranslatable(where, f"{kind!r} block (with citations, a server tool's, or unknown)")


def read_answer(body: dict[str, Any]) -> ChatAnswer:
    if body.get("type") != "message" or not isinstance(body.get("content"), list):
        raise Untranslatable("type", f"{body.get('type')!r}: not a Messages answer")
    try:
        parts = [read_block(block, f"content.{i}") for i, block in enumerate(body["content"])]
    except (KeyError, TypeError):
        raise Untranslatable("content", "a block lacks a field its type must have") from None
    return ChatAnswer(id=body.get("id") or "", model=body.get("model") or "", parts=parts,
                      finish_reason=finish_reason(body.get("stop_reason")),
                      usage=neutral_usage(read_usage(body.get("usage") or {})))


def read_error(status: int, body: bytes) -> UpstreamError:
    """Anthropic's ``{"type": "error", "error": {type, message}}``; also Bedrock's ``{"message"}`` and Google's
    ``{"error": {"message", "status"}}`` (what the clouds answer before the model is reached); else the text."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    kind = _KIND_OF_STATUS.get(status, "api_error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return UpstreamError(status, error["message"], _KIND_OF_TYPE.get(error.get("type"), kind))
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return UpstreamError(status, data["message"], kind)
    text = body.decode("utf-8", "replace").strip()[:500]
    return UpstreamError(status, text or f"the upstream answered HTTP {status}", kind)
