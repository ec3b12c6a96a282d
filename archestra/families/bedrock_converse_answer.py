"""A Bedrock Converse answer (``ConverseResponse`` in botocore's service-2.json) read into neutral terms, and the
pieces the stream reader and the error reader share with it: the stop reasons, the usage, the answer id, the
tool calls a client may receive, the message of an error.

Fail closed: a content block other than text, a client tool's call or reasoning (citations, images, documents,
guardrail content, a tool the provider ran itself, anything new) raises Untranslatable naming it. Fields beside
the message (``metrics``, ``trace``, ``additionalModelResponseFields``: only returned for the paths a request
names, and the router names none) are no part of the answer a client reads.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

from .neutral import ChatAnswer, FinishReason, Reasoning, Text, ToolCallPart, Untranslatable, Usage

#: Converse ``StopReason`` -> neutral. ``model_context_window_exceeded``: the model stopped because the context
#: was full, so the answer is cut short like at ``max_tokens`` (what chat completions reports as ``length``), not
#: a failure of the call. ``malformed_*``: the model's output could not be read as an answer or tool call.
FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "max_tokens": "length",
    "model_context_window_exceeded": "length", "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter", "malformed_model_output": "error", "malformed_tool_use": "error",
}


#: Bedrock requires ``toolConfig`` whenever the history holds toolUse / toolResult blocks, and Converse has no
#: ``none`` tool choice: a request that lets the model call no tool but has tool blocks in its history declares
#: this tool alone (bedrock_converse_request), and the readers refuse an answer that calls it.
UNCALLABLE_TOOL = "archestra_no_tool_available"


def finish_reason(stop_reason: Any) -> FinishReason:
    if stop_reason not in FINISH_REASONS:
        raise Untranslatable("stopReason", f"unknown stop reason {stop_reason!r}")
    return FINISH_REASONS[stop_reason]


def read_usage(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    return Usage(input_tokens=usage.get("inputTokens"), output_tokens=usage.get("outputTokens"),
                 cache_read_tokens=usage.get("cacheReadInputTokens"),
                 cache_write_tokens=usage.get("cacheWriteInputTokens"))


def answer_id() -> str:
    """Converse answers carry no id (only the ``x-amzn-RequestId`` header, which a codec does not see)."""
    return f"msg_bdrk_{uuid.uuid4().hex}"


def error_message(payload: bytes) -> str | None:
    """The ``message`` (``Message`` in some services' casing) of a Bedrock error body or exception frame."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    message = (data.get("message") or data.get("Message")) if isinstance(data, dict) else None
    return message if isinstance(message, str) else None


def only_member(union: Any, where: str) -> tuple[str, Any]:
    """The one member of a Converse union (ContentBlock, delta...); anything else is not understood."""
    if not isinstance(union, dict) or len(union) != 1:
        raise Untranslatable(where, "expected exactly one member of the union")
    return next(iter(union.items()))


def client_tool_use(use: Any, where: str) -> tuple[str, str]:
    """``(toolUseId, name)`` of a call for the client to run. A tool the provider ran itself (``type:
    server_tool_use``) has no neutral form: its result is the provider's, not a call for the client."""
    if not isinstance(use, dict) or not isinstance(use.get("toolUseId"), str) or \
            not isinstance(use.get("name"), str):
        raise Untranslatable(where, "a toolUse without toolUseId and name")
    if use.get("type") is not None:
        raise Untranslatable(f"{where}.type", f"a tool the provider runs itself ({use['type']!r})")
    if use["name"] == UNCALLABLE_TOOL:
        raise Untranslatable(f"{where}.name", "the model called a tool although the request allowed none")
    return use["toolUseId"], use["name"]


def _reasoning(block: Any, where: str) -> Reasoning:
    kind, value = only_member(block, where)
    if kind == "reasoningText" and isinstance(value, dict) and isinstance(value.get("text"), str):
        return Reasoning(text=value["text"], signature=value.get("signature"))
    if kind == "redactedContent" and isinstance(value, str):  # a blob: base64 text on the JSON wire
        return Reasoning(encrypted=value)
    raise Untranslatable(f"{where}.{kind}", "unknown reasoning content")


def _part(block: Any, where: str) -> Text | ToolCallPart | Reasoning:
    kind, value = only_member(block, where)
    if kind == "text" and isinstance(value, str):
        return Text(value)
    if kind == "toolUse":
        call_id, name = client_tool_use(value, f"{where}.toolUse")
        return ToolCallPart(call_id, name, json.dumps(value.get("input", {}), ensure_ascii=False))
    if kind == "reasoningContent":
        return _reasoning(value, f"{where}.reasoningContent")
    raise Untranslatable(f"{where}.{kind}", "a content block the neutral form has no place for")


def read_answer(body: dict[str, Any]) -> ChatAnswer:
    output = body.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise Untranslatable("output", "no output.message with content")
    if message.get("role") != "assistant":
        raise Untranslatable("output.message.role", f"{message.get('role')!r} instead of 'assistant'")
    parts = [_part(block, f"output.message.content[{i}]") for i, block in enumerate(message["content"])]
    # A prompt router names the model it chose; otherwise the model is the one in the path (the router's).
    router = body.get("trace", {}).get("promptRouter") if isinstance(body.get("trace"), dict) else None
    model = router.get("invokedModelId") if isinstance(router, dict) else None
    return ChatAnswer(id=answer_id(), model=model if isinstance(model, str) else "", parts=parts,
                      finish_reason=finish_reason(body.get("stopReason")), usage=read_usage(body.get("usage")))
