"""A neutral request written as a Cohere v2 chat body (``POST /v2/chat``; provider-wire-formats.md section 4.1).

Shapes follow the SDK's request types (``cohere/types/chat_message_v2.py``, ``content.py``, ``tool_content.py``,
``assistant_message_v2content_one_item.py``, ``tool_v2.py``, ``response_format_v2.py``). Cohere v2 has no
tool-result error flag, no named tool choice and no switch for parallel calls: see :data:`DROPPED_FIELDS` and
the :class:`Untranslatable` cases below.
"""
from __future__ import annotations

from typing import Any

from .neutral import (ChatRequest, Image, Message, Part, Reasoning, Text, ToolCallPart, ToolResultPart,
                      Untranslatable)

#: What the request loses on its way to Cohere, and why that changes nothing the model reads or the client runs.
DROPPED_FIELDS = {
    "include_usage": "Cohere always reports usage in message-end; there is nothing to ask for",
    "response_format.name": "a label of the schema for the client's own bookkeeping; the model never reads it",
    "response_format.strict": "Cohere always constrains the output to json_schema (as strict as strict: true)",
    "tool_result.is_error": "Cohere's tool message has no error flag; the error text itself is in the content",
    "reasoning.signature": "signatures and encrypted reasoning are only meaningful to the provider that made "
                           "them: Cohere cannot read them (their text, if any, is sent as thinking / tool_plan)",
}

#: Sampling knobs Cohere takes in a narrower range, moved to its nearest end: ``p`` must lie in [0.01, 0.99]
#: (``cohere/v2/client.py``), so ``top_p: 1`` (no nucleus cut, a common client default) goes as 0.99.
CLAMPED_FIELDS = {"top_p": (0.01, 0.99)}

#: Neutral tool_choice -> Cohere's; ``auto`` is Cohere's default and is not written.
_TOOL_CHOICE = {"required": "REQUIRED", "none": "NONE"}


def write_request(request: ChatRequest) -> dict[str, Any]:
    """The v2 chat body for ``request``; Untranslatable for what Cohere cannot express."""
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": _texts(request.system)})
    for message in request.messages:
        messages += _assistant(message) if message.role == "assistant" else _user(message)
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": request.stream}
    if request.tools:
        body["tools"] = [{"type": "function", "function": {
            "name": tool.name, **({"description": tool.description} if tool.description is not None else {}),
            # Cohere requires a schema; a tool without arguments takes an empty object
            "parameters": tool.parameters if tool.parameters is not None else {"type": "object", "properties": {}},
        }} for tool in request.tools]
    if request.tool_choice not in (None, "auto"):
        if request.tool_choice not in _TOOL_CHOICE:
            raise Untranslatable("tool_choice", f"Cohere cannot force one named tool ({request.tool_choice!r}): "
                                                "only REQUIRED (any tool) or NONE")
        body["tool_choice"] = _TOOL_CHOICE[request.tool_choice]
    if request.parallel_tool_calls is False:
        raise Untranslatable("parallel_tool_calls", "Cohere cannot be told to make at most one call per turn")
    if request.top_p is not None:
        low, high = CLAMPED_FIELDS["top_p"]
        body["p"] = min(max(request.top_p, low), high)
    for name, value in (("max_tokens", request.max_tokens), ("temperature", request.temperature)):
        if value is not None:
            body[name] = value
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.response_format is not None:
        body["response_format"] = _response_format(request.response_format)
    return body


def _response_format(fmt: dict[str, Any]) -> dict[str, Any]:
    kind = fmt.get("type")
    if kind == "text":
        return {"type": "text"}
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        if not isinstance(fmt.get("schema"), dict):
            raise Untranslatable("response_format.schema", "a json_schema format needs its schema object")
        return {"type": "json_object", "json_schema": fmt["schema"]}
    raise Untranslatable("response_format.type", f"unknown format {kind!r}")


def _texts(texts: list[Text]) -> str | list[dict[str, Any]]:
    """One text block as a plain string (what clients send most), several as text blocks."""
    if len(texts) == 1:
        return texts[0].text
    return [{"type": "text", "text": text.text} for text in texts]


def _user(message: Message) -> list[dict[str, Any]]:
    """A neutral user turn: each tool result its own ``tool`` message; runs of text and images user messages,
    in their order (Cohere wants the tool messages right after the assistant's calls)."""
    out: list[dict[str, Any]] = []
    run: list[Text | Image] = []
    for part in message.parts:
        if isinstance(part, ToolResultPart):
            if run:
                out.append(_user_message(run))
                run = []
            out.append({"role": "tool", "tool_call_id": part.call_id, "content": _tool_content(part)})
        elif isinstance(part, (Text, Image)):
            run.append(part)
        else:
            raise Untranslatable(f"user.{_kind(part)}", "a user turn holds text, images and tool results only")
    if run:
        out.append(_user_message(run))
    return out


def _user_message(parts: list[Text | Image]) -> dict[str, Any]:
    if all(isinstance(part, Text) for part in parts):
        return {"role": "user", "content": _texts(parts)}  # type: ignore[arg-type]
    return {"role": "user", "content": [
        {"type": "text", "text": part.text} if isinstance(part, Text)
        else {"type": "image_url", "image_url": {"url": _image_url(part)}} for part in parts]}


def _image_url(image: Image) -> str:
    """A data URI, or the remote URL itself: Cohere fetches web URLs (``ImageUrl.url``: "a base64 data URI or a
    web URL")."""
    if image.data is not None:
        if not image.media_type:
            raise Untranslatable("image.media_type", "an inline image needs its media type for a data URI")
        return f"data:{image.media_type};base64,{image.data}"
    if image.url:
        return image.url
    raise Untranslatable("image", "an image with neither data nor url")


def _tool_content(result: ToolResultPart) -> str | list[dict[str, Any]]:
    texts: list[Text] = []
    for part in result.content:
        if not isinstance(part, Text):
            raise Untranslatable("tool_result.image", "a Cohere tool result holds text and documents, no images")
        texts.append(part)
    return _texts(texts) if texts else ""


def _assistant(message: Message) -> list[dict[str, Any]]:
    """An assistant turn. Cohere refuses text content next to tool calls ("text content is not allowed when
    tool_calls are provided ... use 'tool_plan'", vercel/ai#5794), so in a turn with calls the text and the
    reasoning, in their order, are its ``tool_plan`` (what Cohere itself says before calling); in a turn without
    calls, reasoning is ``thinking`` content. Reasoning without text is dropped (see DROPPED_FIELDS)."""
    calls = [part for part in message.parts if isinstance(part, ToolCallPart)]
    content: list[dict[str, Any]] = []
    plan: list[str] = []
    for part in message.parts:
        if isinstance(part, ToolCallPart) or (isinstance(part, Reasoning) and not part.text):
            continue
        if not isinstance(part, (Text, Reasoning)):
            raise Untranslatable(f"assistant.{_kind(part)}", "an assistant turn holds text, reasoning and calls")
        if calls:
            plan.append(part.text)
        elif isinstance(part, Text):
            content.append({"type": "text", "text": part.text})
        else:
            content.append({"type": "thinking", "thinking": part.text})
    out: dict[str, Any] = {"role": "assistant"}
    if calls:
        if plan:
            out["tool_plan"] = "\n\n".join(plan)
        out["tool_calls"] = [{"id": call.id, "type": "function",
                              "function": {"name": call.name, "arguments": call.arguments}} for call in calls]
    else:
        out["content"] = content
    return [out]


def _kind(part: Part) -> str:
    return type(part).__name__
