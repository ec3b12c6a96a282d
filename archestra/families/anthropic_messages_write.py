"""Neutral requests written as Anthropic Messages bodies (direct, and the body inside Bedrock / Vertex calls)."""
from __future__ import annotations

import json
from typing import Any

from .neutral import (ChatRequest, Image, Message, Reasoning, Text, ToolCallPart, ToolResultPart, Untranslatable,
                      signed_for_others)

#: ``max_tokens`` is required by the Messages API, and clients of other families often leave it out (meaning
#: "as much as the model may"). 4096 is the smallest output limit of the Claude models still served (Claude 3
#: Haiku), so no model refuses it; a client that needs longer answers sets max_tokens itself.
DEFAULT_MAX_TOKENS = 4096
#: Anthropic's temperature range is 0..1, the OpenAI families' 0..2: a higher value is written as 1 (the most
#: random Anthropic allows) rather than refused, as it is a sampling knob.
MAX_TEMPERATURE = 1.0


def _image(image: Image, where: str) -> dict[str, Any]:
    if image.url is not None:
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    if not image.media_type or image.data is None:
        raise Untranslatable(where, "an inline image needs its media type")
    return {"type": "image", "source": {"type": "base64", "media_type": image.media_type, "data": image.data}}


def _input(call: ToolCallPart, where: str) -> dict[str, Any]:
    try:
        value = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError:
        raise Untranslatable(where, f"the arguments of {call.name!r} are not JSON") from None
    if not isinstance(value, dict):
        raise Untranslatable(where, f"the arguments of {call.name!r} are not a JSON object")
    return value


def tool_use_block(call: ToolCallPart, where: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": _input(call, where)}


def reasoning_block(reasoning: Reasoning) -> dict[str, Any] | None:
    """Signed thinking, or redacted thinking; None for reasoning Anthropic cannot verify (no signature), which
    the API would refuse and the model does not need to continue."""
    if signed_for_others(reasoning):
        return {"type": "thinking", "thinking": reasoning.text, "signature": reasoning.signature}
    if reasoning.encrypted:
        return {"type": "redacted_thinking", "data": reasoning.encrypted}
    return None


def _block(part: Any, where: str) -> dict[str, Any] | None:
    if isinstance(part, Text):  # the API refuses empty text blocks (other families write "" beside tool calls)
        return {"type": "text", "text": part.text} if part.text.strip() else None
    if isinstance(part, Image):
        return _image(part, where)
    if isinstance(part, ToolCallPart):
        return tool_use_block(part, where)
    if isinstance(part, Reasoning):
        return reasoning_block(part)
    if isinstance(part, ToolResultPart):
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.call_id, "content": [
            b for i, item in enumerate(part.content) if (b := _block(item, f"{where}.content.{i}"))]}
        if part.is_error:
            block["is_error"] = True
        return block
    raise Untranslatable(where, f"part {type(part).__name__}")


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Consecutive turns of one role merged (the API merges them too, and a tool_result must be in the user turn
    right after its call), tool results first in a user turn (the API refuses text before them)."""
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        blocks = [b for j, part in enumerate(message.parts) if (b := _block(part, f"messages.{i}.parts.{j}"))]
        if not blocks:
            continue
        if out and out[-1]["role"] == message.role:
            out[-1]["content"] += blocks
        else:
            out.append({"role": message.role, "content": blocks})
    for message in out:
        if message["role"] == "user":
            message["content"].sort(key=lambda block: block["type"] != "tool_result")
    return out


def _tool_choice(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None and request.parallel_tool_calls is False:
        choice = "auto"
    if choice is None:
        return None
    written: dict[str, Any] = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}.get(
        choice, {"type": "tool", "name": choice})
    if request.parallel_tool_calls is False and choice != "none":
        written["disable_parallel_tool_use"] = True
    return written


def write_body(request: ChatRequest, structured_output: bool) -> dict[str, Any]:
    """The Messages body without ``model`` and ``stream`` (where they go differs by platform).
    ``structured_output``: whether the platform takes ``output_config.format`` (the direct API does)."""
    body: dict[str, Any] = {"max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
                            "messages": _messages(request.messages)}
    if request.system:
        body["system"] = [{"type": "text", "text": text.text} for text in request.system]
    if request.tools:
        body["tools"] = [{"name": tool.name, **({"description": tool.description} if tool.description else {}),
                          "input_schema": tool.parameters or {"type": "object", "properties": {}}}
                         for tool in request.tools]
        if (choice := _tool_choice(request)) is not None:
            body["tool_choice"] = choice
    elif request.tool_choice not in (None, "none", "auto"):
        raise Untranslatable("tool_choice", f"{request.tool_choice!r} without any tool declared")
    if request.temperature is not None:
        body["temperature"] = min(request.temperature, MAX_TEMPERATURE)
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    fmt = request.response_format
    if fmt is not None:
        if fmt.get("type") != "json_schema" or not structured_output:
            raise Untranslatable("response_format", f"{fmt.get('type')!r} has no equivalent on this Anthropic "
                                                    "platform (only json_schema, on the direct API)")
        body["output_config"] = {"format": {"type": "json_schema", "schema": fmt["schema"]}}
    return body
