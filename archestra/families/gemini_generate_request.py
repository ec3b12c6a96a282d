"""A neutral ChatRequest written as a Gemini generateContent body (camelCase, as Google's REST docs spell it).

A call goes back with the ``id`` and ``thoughtSignature`` Gemini gave it, both carried in the id the client kept
(``gemini_generate_ids``), and its result with that ``id``. Calls Gemini gave no id (Gemini 2) or that another
provider made go back without one: Gemini then pairs results with calls by name and order, and some of its
endpoints reject an ``id`` it did not make ("Unknown name "id" at 'contents[n].parts[m].function_call'", reported
by several gateways).
"""
from __future__ import annotations

import json
from typing import Any

from .gemini_generate_ids import gemini_call, own_signature
from .neutral import (ChatRequest, Image, Message, Reasoning, Text, ToolCallPart, ToolResultPart, ToolSpec,
                      Untranslatable)

_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def write_request(request: ChatRequest) -> dict[str, Any]:
    names = {part.id: part.name for message in request.messages for part in message.parts
             if isinstance(part, ToolCallPart)}
    contents = []
    for message in request.messages:
        parts = _assistant_parts(message) if message.role == "assistant" else _user_parts(message, names)
        if parts:  # an assistant turn of another provider's reasoning only leaves nothing to send
            contents.append({"role": "model" if message.role == "assistant" else "user", "parts": parts})
    body: dict[str, Any] = {"contents": contents}
    if request.system:
        body["systemInstruction"] = {"parts": [{"text": text.text} for text in request.system]}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(tool) for tool in request.tools]}]
        config = _tool_config(request)
        if config:
            body["toolConfig"] = {"functionCallingConfig": config}
    generation = _generation_config(request)
    if generation:
        body["generationConfig"] = generation
    return body


def _user_parts(message: Message, names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, Text):
            parts.append({"text": part.text})
        elif isinstance(part, Image):
            parts.append({"inlineData": _blob(part, "image")})
        elif isinstance(part, ToolResultPart):
            parts.append({"functionResponse": _function_response(part, names)})
        else:
            raise Untranslatable(f"{message.role} message", f"a {type(part).__name__} part in a user turn")
    return parts


def _assistant_parts(message: Message) -> list[dict[str, Any]]:
    """The model's turn. Gemini takes back only its own signed thoughts: reasoning without a Gemini signature
    (another provider's, or an unsigned thought summary) is not context Gemini reads and is left out. A signature
    alone (Gemini 3 signs the last text part) goes back on the text part next to it."""
    parts: list[dict[str, Any]] = []
    pending: str | None = None  # a lone signature waiting for the next part
    for part in message.parts:
        if isinstance(part, Reasoning):
            signature = own_signature(part.signature)
            if signature is None:
                continue
            if part.text:
                parts.append({"text": part.text, "thought": True, "thoughtSignature": signature})
            elif parts and "text" in parts[-1] and "thoughtSignature" not in parts[-1]:
                parts[-1]["thoughtSignature"] = signature
            else:
                pending = signature
            continue
        if isinstance(part, Text):
            written: dict[str, Any] = {"text": part.text}
        elif isinstance(part, ToolCallPart):
            written = _function_call(part)
        else:
            raise Untranslatable("assistant message", f"a {type(part).__name__} part in an assistant turn")
        if pending is not None and "thoughtSignature" not in written and "text" in written:
            written["thoughtSignature"], pending = pending, None
        parts.append(written)
    return parts


def _function_call(part: ToolCallPart) -> dict[str, Any]:
    """The call with the id and signature Gemini gave it (carried in the client's id)."""
    gemini_id, signature = gemini_call(part.id)
    call: dict[str, Any] = {"name": part.name, "args": _arguments(part)}
    if gemini_id is not None:
        call["id"] = gemini_id
    return {"functionCall": call} if signature is None else {"functionCall": call, "thoughtSignature": signature}


def _arguments(call: ToolCallPart) -> dict[str, Any]:
    if not call.arguments.strip():
        return {}  # some clients send "" for a call without arguments
    try:
        args = json.loads(call.arguments)
    except ValueError:
        raise Untranslatable("tool_call.arguments", f"the arguments of {call.name!r} are not JSON") from None
    if not isinstance(args, dict):
        raise Untranslatable("tool_call.arguments", f"the arguments of {call.name!r} are not a JSON object")
    return args


def _function_response(result: ToolResultPart, names: dict[str, str]) -> dict[str, Any]:
    """``response`` uses the keys FunctionResponse documents: ``output`` for the function's output, ``error``
    for its error; images go in ``parts`` (Gemini 3's multimodal function responses)."""
    name = names.get(result.call_id) or result.name
    if not name:
        raise Untranslatable("tool_result", f"no call {result.call_id!r} in the conversation names its function")
    text = "\n".join(part.text for part in result.content if isinstance(part, Text))
    written: dict[str, Any] = {"name": name, "response": {"error" if result.is_error else "output": text}}
    gemini_id, _ = gemini_call(result.call_id)
    if gemini_id is not None:
        written["id"] = gemini_id
    images = [{"inlineData": _blob(part, "tool_result image")} for part in result.content if isinstance(part, Image)]
    if images:
        written["parts"] = images
    return written


def _blob(image: Image, where: str) -> dict[str, str]:
    if image.url is not None or image.data is None:
        # fileData is Google fetching a file the proxy never reads (and needs a Files API or gs:// URI).
        raise Untranslatable(where, "Gemini takes images inline only; an image URL is not translated")
    if not image.media_type:
        raise Untranslatable(where, "an inline image without its media type")
    return {"mimeType": image.media_type, "data": image.data}


def _declaration(tool: ToolSpec) -> dict[str, Any]:
    """``parametersJsonSchema`` takes the JSON Schema as it is (``parameters`` is Google's OpenAPI subset)."""
    declaration: dict[str, Any] = {"name": tool.name}
    if tool.description:
        declaration["description"] = tool.description
    if tool.parameters is not None:
        declaration["parametersJsonSchema"] = tool.parameters
    return declaration


def _tool_config(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None:
        return None
    if choice in _MODES:
        return {"mode": _MODES[choice]}
    if choice not in {tool.name for tool in request.tools}:
        raise Untranslatable("tool_choice", f"{choice!r} is not one of the request's tools")
    return {"mode": "ANY", "allowedFunctionNames": [choice]}


def _generation_config(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name, value in (("maxOutputTokens", request.max_tokens), ("temperature", request.temperature),
                        ("topP", request.top_p)):
        if value is not None:
            config[name] = value
    if request.stop:
        config["stopSequences"] = list(request.stop)
    response_format = request.response_format
    if response_format is not None:
        kind = response_format.get("type")
        if kind not in ("json_object", "json_schema"):
            raise Untranslatable("response_format", f"{kind!r} is not a format Gemini knows")
        config["responseMimeType"] = "application/json"
        if kind == "json_schema":
            if not isinstance(response_format.get("schema"), dict):
                raise Untranslatable("response_format.schema", "missing")
            config["responseJsonSchema"] = response_format["schema"]
    return config
