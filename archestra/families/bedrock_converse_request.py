"""A neutral request written as an Amazon Bedrock Converse body (provider-wire-formats.md section 5.2; shapes
from botocore's ``bedrock-runtime`` service-2.json: ``ConverseRequest``).

The model id is not in the body (it is in the path). Converse rejects two messages of the same role in a row and
blank text blocks, so empty text is left out and same-role turns are merged, in order.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from .bedrock_converse_answer import UNCALLABLE_TOOL
from .neutral import (ChatRequest, Image, Message, Part, Reasoning, Text, ToolCallPart, ToolResultPart, ToolSpec,
                      Untranslatable, signed_for_others)

#: What a Converse body leaves out of a neutral request, and why that is safe.
DROPPED_FIELDS = {
    # Reasoning is only meaningful to the provider that produced it; Bedrock checks a reasoning block by its
    # signature, so an unsigned one (another provider's summary, an OpenAI encrypted item) cannot be sent back.
    # ChatRequest has no setting that turns thinking on, so Bedrock does not need it back either.
    "messages[].parts[Reasoning without signature]": "unsigned reasoning cannot be replayed to Bedrock",
    # Converse has no switch for it; every call the model makes still goes through the front's tool policies.
    "parallel_tool_calls": "Converse has no parallel tool call setting",
    # Converse always reports usage (the stream's metadata event).
    "include_usage": "always reported",
    # The path chooses Converse or ConverseStream.
    "stream": "in the path",
}

IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                 "image/webp": "webp"}
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_.:-]{1,64}")
#: A tool without parameters still needs an ``inputSchema`` (required in ToolSpecification).
NO_PARAMETERS = {"type": "object", "properties": {}}
#: Declared in place of the client's tools when the model may call none (see UNCALLABLE_TOOL).
UNCALLABLE_TOOL_SPEC = {"toolSpec": {"name": UNCALLABLE_TOOL, "inputSchema": {"json": NO_PARAMETERS},
                                     "description": "No tool can be called in this turn. Never call this one: "
                                                    "answer in text."}}
#: Bedrock rejects blank text blocks, in tool results too; a tool that printed nothing still has a result.
EMPTY_RESULT = "(no output)"


def tool_use_id(call_id: str) -> str:
    """Converse's toolUseId pattern is narrower than other families' ids: an id outside it is replaced by a
    digest of itself, the same for a call and its result, so the pairing the model reads is kept."""
    if TOOL_USE_ID.fullmatch(call_id):
        return call_id
    return "tooluse_" + hashlib.sha256(call_id.encode("utf-8")).hexdigest()[:40]


def _image(image: Image, where: str) -> dict[str, Any]:
    if image.url is not None or image.data is None:
        raise Untranslatable(where, "Converse takes inline image bytes only, not an image URL")
    fmt = IMAGE_FORMATS.get((image.media_type or "").lower())
    if fmt is None:
        raise Untranslatable(where, f"Converse images are png, jpeg, gif or webp, not {image.media_type!r}")
    return {"image": {"format": fmt, "source": {"bytes": image.data}}}


def _tool_input(call: ToolCallPart, where: str) -> dict[str, Any]:
    if not call.arguments.strip():  # some families send "" for a call without arguments
        return {}
    try:
        value = json.loads(call.arguments)
    except ValueError:
        raise Untranslatable(where, f"the arguments of call {call.id!r} are not JSON") from None
    if not isinstance(value, dict):
        raise Untranslatable(where, "Converse tool input is a JSON object (its inputSchema is of type object)")
    return value


def _result(result: ToolResultPart, where: str) -> dict[str, Any]:
    content = [{"text": item.text} if isinstance(item, Text) else _image(item, f"{where}.content")
               for item in result.content if not isinstance(item, Text) or item.text.strip()]
    block: dict[str, Any] = {"toolUseId": tool_use_id(result.call_id), "content": content or [{"text": EMPTY_RESULT}]}
    if result.is_error:  # "success" is the default; models without status support reject the field
        block["status"] = "error"
    return {"toolResult": block}


def _block(part: Part, role: str, where: str) -> dict[str, Any] | None:
    """One Converse ContentBlock, or None for a part that is left out (blank text, unsigned reasoning)."""
    if isinstance(part, Text):
        return {"text": part.text} if part.text.strip() else None
    if isinstance(part, Image):
        return _image(part, where)
    if isinstance(part, ToolCallPart):
        if role != "assistant":
            raise Untranslatable(where, "a tool call belongs in an assistant message")
        return {"toolUse": {"toolUseId": tool_use_id(part.id), "name": part.name,
                            "input": _tool_input(part, where)}}
    if isinstance(part, ToolResultPart):
        if role != "user":
            raise Untranslatable(where, "a tool result belongs in a user message")
        return _result(part, where)
    if isinstance(part, Reasoning):
        if not signed_for_others(part) or role != "assistant":
            return None  # DROPPED_FIELDS
        return {"reasoningContent": {"reasoningText": {"text": part.text, "signature": part.signature}}}
    raise Untranslatable(where, f"unknown part {type(part).__name__}")


def write_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if message.role not in ("user", "assistant"):
            raise Untranslatable(f"messages[{i}].role", f"unknown role {message.role!r}")
        blocks = [b for j, part in enumerate(message.parts)
                  if (b := _block(part, message.role, f"messages[{i}].parts[{j}]")) is not None]
        if not blocks:
            continue
        if out and out[-1]["role"] == message.role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": message.role, "content": blocks})
    return out


def _tool_spec(tool: ToolSpec, i: int) -> dict[str, Any]:
    if not TOOL_NAME.fullmatch(tool.name):
        raise Untranslatable(f"tools[{i}].name", "Converse tool names are 1-64 of [a-zA-Z0-9_-]")
    if tool.name == UNCALLABLE_TOOL:
        raise Untranslatable(f"tools[{i}].name", "a name this codec keeps for itself")
    spec: dict[str, Any] = {"name": tool.name,
                            "inputSchema": {"json": tool.parameters if tool.parameters else NO_PARAMETERS}}
    if tool.description:  # NonEmptyString
        spec["description"] = tool.description
    return {"toolSpec": spec}


def _uses_tools(messages: list[dict[str, Any]]) -> bool:
    return any("toolUse" in block or "toolResult" in block for m in messages for block in m["content"])


def write_tool_config(request: ChatRequest, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``toolConfig``, or None. Converse has no ``none`` tool choice: the client's tools are then left out, so
    the model cannot call any. Bedrock requires ``toolConfig`` when the history holds tool blocks, so a request
    that lets the model call no tool (``none``, or no tools at all) but has them declares UNCALLABLE_TOOL alone,
    and an answer that calls it anyway is refused by the readers, never handed to the client."""
    choice = request.tool_choice
    if choice == "none" or not request.tools:
        if choice not in (None, "auto", "none"):
            raise Untranslatable("tool_choice", f"{choice!r} without any tools")
        return {"tools": [UNCALLABLE_TOOL_SPEC]} if _uses_tools(messages) else None
    config: dict[str, Any] = {"tools": [_tool_spec(tool, i) for i, tool in enumerate(request.tools)]}
    if choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif choice is not None:
        if choice not in [tool.name for tool in request.tools]:
            raise Untranslatable("tool_choice", f"{choice!r} is not one of the declared tools")
        config["toolChoice"] = {"tool": {"name": choice}}
    return config


def write_output_config(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """``outputConfig.textFormat`` (Converse structured output, ``OutputFormat`` in service-2.json): a JSON schema
    only, sent as JSON text. Converse always holds the model to it, so ``strict: false`` gets a stricter promise.
    ``json_object`` (any JSON) has no Converse form."""
    if response_format is None or response_format.get("type") == "text":
        return None
    if response_format.get("type") != "json_schema" or not isinstance(response_format.get("schema"), dict):
        raise Untranslatable("response_format", f"Converse structured output takes a JSON schema only, not "
                                                f"{response_format.get('type')!r}")
    definition: dict[str, Any] = {"schema": json.dumps(response_format["schema"])}
    for key in ("name", "description"):
        if response_format.get(key):
            definition[key] = response_format[key]
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}


def write_inference_config(request: ChatRequest) -> dict[str, Any] | None:
    """``inferenceConfig``. Converse's temperature and topP run from 0 to 1 (chat completions' temperature to 2):
    a value outside is refused here, with the field named, rather than by Bedrock."""
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        config["maxTokens"] = request.max_tokens
    for field_name, key, value in (("temperature", "temperature", request.temperature),
                                   ("top_p", "topP", request.top_p)):
        if value is not None:
            if not 0 <= value <= 1:
                raise Untranslatable(field_name, f"Converse takes 0 to 1, not {value}")
            config[key] = value
    stops = [stop for stop in request.stop if stop]  # an empty stop sequence stops nothing (NonEmptyString)
    if stops:
        config["stopSequences"] = stops
    return config or None


def write_request(request: ChatRequest) -> dict[str, Any]:
    messages = write_messages(request.messages)
    body: dict[str, Any] = {"messages": messages}
    system = [{"text": item.text} for item in request.system if item.text.strip()]
    optional = {"system": system or None, "toolConfig": write_tool_config(request, messages),
                "inferenceConfig": write_inference_config(request),
                "outputConfig": write_output_config(request.response_format)}
    body.update({key: value for key, value in optional.items() if value is not None})
    return body
