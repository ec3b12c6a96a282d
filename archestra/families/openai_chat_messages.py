"""Chat completions ``messages`` <-> neutral messages: roles, content parts, tool calls and tool results.

Reading is strict (fail closed): a role, message field or content part not positively understood raises
:class:`Untranslatable` naming where it is, so nothing the model would read is lost on the way to another
family. Writing is the reverse for an OpenAI-compatible upstream.
"""
from __future__ import annotations

import re
from typing import Any

from .neutral import Image, Message, Part, Reasoning, Text, ToolCallPart, ToolResultPart, Untranslatable
from .openai_chat_answer import read_calls, read_reasoning

#: ``data:<media type>;base64,<data>``: the only inline image form chat completions has.
_DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)", re.S)


def _fields(message: dict[str, Any], where: str, known: set[str]) -> None:
    """Refuse a message field outside ``known`` that holds anything (null and empty values carry nothing)."""
    for key, value in message.items():
        if key not in known and value not in (None, "", [], {}):
            raise Untranslatable(f"{where}.{key}", "not translatable to another API family")


def _part_fields(part: dict[str, Any], where: str) -> None:
    """A part holds its type, its content and at most an (inert) cache breakpoint."""
    unknown = set(part) - {"type", part["type"], "prompt_cache_breakpoint"}
    if unknown:
        raise Untranslatable(f"{where}.{sorted(unknown)[0]}", "not translatable")


def _text_part(part: Any, where: str, allowed: tuple[str, ...] = ("text",)) -> Text | None:
    """A ``text`` (or, where allowed, ``refusal``) part as a Text; None when empty."""
    kind = part.get("type") if isinstance(part, dict) else None
    if kind not in allowed:
        raise Untranslatable(where, f"content part of type {kind!r} is not translatable")
    _part_fields(part, where)
    text = part.get(kind)
    if not isinstance(text, str):
        raise Untranslatable(f"{where}.{kind}", "not a string")
    return Text(text) if text else None


def _text_parts(content: Any, where: str, allowed: tuple[str, ...] = ("text",)) -> list[Text]:
    """A string, or a list of ``text`` (and, where allowed, ``refusal``) parts, as Texts (empty ones left out)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [Text(content)] if content else []
    if not isinstance(content, list):
        raise Untranslatable(where, "content is neither a string nor a list of parts")
    texts = (_text_part(part, f"{where}[{i}]", allowed) for i, part in enumerate(content))
    return [text for text in texts if text is not None]


def read_image(url: Any, where: str) -> Image:
    if not isinstance(url, str):
        raise Untranslatable(where, "image URL is not a string")
    match = _DATA_URL.fullmatch(url)
    if match:
        return Image(media_type=match["type"], data=match["data"])
    if url.startswith(("https://", "http://")):
        return Image(url=url)
    raise Untranslatable(where, "image URL is neither a base64 data URL nor http(s)")


def _user_parts(content: Any, where: str) -> list[Part]:
    if not isinstance(content, list):
        return list(_text_parts(content, where))
    parts: list[Part] = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "image_url" and isinstance(part.get("image_url"), dict):
            _part_fields(part, f"{where}[{i}]")
            # ``detail`` (low / high / auto) is a resolution hint, not content: the image itself is kept.
            _fields(part["image_url"], f"{where}[{i}].image_url", {"url", "detail"})
            parts.append(read_image(part["image_url"].get("url"), f"{where}[{i}].image_url.url"))
        else:
            text = _text_part(part, f"{where}[{i}]")
            parts += [text] if text else []
    return parts


def read_messages(messages: Any) -> tuple[list[Text], list[Message]]:
    """The system prompt (leading system / developer messages) and the conversation. Consecutive ``tool``
    messages become one user message holding their results in order; each result is named by its call."""
    if not isinstance(messages, list):
        raise Untranslatable("messages", "not a list")
    system: list[Text] = []
    out: list[Message] = []
    names: dict[str, str] = {}  # call id -> tool name, from the history
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            if out:
                raise Untranslatable(f"{where}.role", "a system message inside the conversation has no place "
                                                      "in other families (only a leading system prompt)")
            _fields(message, where, {"role", "content"})
            system += _text_parts(message.get("content"), f"{where}.content")
        elif role == "user":
            _fields(message, where, {"role", "content"})
            out.append(Message("user", _user_parts(message.get("content"), f"{where}.content")))
        elif role == "assistant":
            _fields(message, where, {"role", "content", "refusal", "tool_calls", "reasoning_content", "reasoning"})
            calls = read_calls(message.get("tool_calls"), f"{where}.tool_calls")
            names.update((call.id, call.name) for call in calls)
            refusal = message.get("refusal")
            reasoning = read_reasoning(message, where)
            parts: list[Part] = [*([Reasoning(reasoning)] if reasoning else []),
                                 *_text_parts(message.get("content"), f"{where}.content", ("text", "refusal")),
                                 *([Text(refusal)] if isinstance(refusal, str) and refusal else []), *calls]
            out.append(Message("assistant", parts))
        elif role == "tool":
            # ``name`` (some clients send it) is the tool's name, which the result carries anyway.
            _fields(message, where, {"role", "content", "tool_call_id", "name"})
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise Untranslatable(f"{where}.tool_call_id", "missing")
            name = message.get("name")
            result = ToolResultPart(call_id, list(_text_parts(message.get("content"), f"{where}.content")),
                                    name=name if isinstance(name, str) and name else names.get(call_id))
            if i and isinstance(messages[i - 1], dict) and messages[i - 1].get("role") == "tool":
                out[-1].parts.append(result)
            else:
                out.append(Message("user", [result]))
        else:
            raise Untranslatable(f"{where}.role", f"role {role!r} is not translatable")
    return system, out


# -- writing --------------------------------------------------------------------------------------------------
def _image_part(image: Image, where: str) -> dict[str, Any]:
    if image.url is None and (image.media_type is None or image.data is None):
        raise Untranslatable(where, "an image needs a URL or its media type and data")
    url = image.url if image.url is not None else f"data:{image.media_type};base64,{image.data}"
    return {"type": "image_url", "image_url": {"url": url}}


def _text_content(texts: list[Text]) -> str | list[dict[str, Any]]:
    if len(texts) == 1:
        return texts[0].text
    return [{"type": "text", "text": text.text} for text in texts]


def _result_message(result: ToolResultPart, where: str) -> dict[str, Any]:
    texts = []
    for part in result.content:
        if not isinstance(part, Text):
            raise Untranslatable(f"{where}.content", "a tool message holds text only (no images)")
        texts.append(part)
    # ``is_error`` has no field here: the result's own text is what tells the model it failed.
    return {"role": "tool", "tool_call_id": result.call_id, "content": _text_content(texts) if texts else ""}


def _user_messages(message: Message, where: str) -> list[dict[str, Any]]:
    """Tool results as ``tool`` messages and the rest as user messages, in the order of the parts."""
    out: list[dict[str, Any]] = []
    pending: list[Text | Image] = []

    def flush() -> None:
        if pending:
            if all(isinstance(part, Text) for part in pending):
                content: Any = _text_content(pending)  # type: ignore[arg-type]
            else:
                content = [_image_part(p, where) if isinstance(p, Image) else {"type": "text", "text": p.text}
                           for p in pending]
            out.append({"role": "user", "content": content})
            pending.clear()

    for j, part in enumerate(message.parts):
        if isinstance(part, ToolResultPart):
            flush()
            out.append(_result_message(part, f"{where}.parts[{j}]"))
        elif isinstance(part, (Text, Image)):
            pending.append(part)
        else:
            raise Untranslatable(f"{where}.parts[{j}]", f"{type(part).__name__} in a user message")
    flush()
    return out or [{"role": "user", "content": ""}]


def _assistant_message(message: Message, where: str) -> dict[str, Any]:
    texts = [part for part in message.parts if isinstance(part, Text)]
    calls = [part for part in message.parts if isinstance(part, ToolCallPart)]
    for j, part in enumerate(message.parts):
        if not isinstance(part, (Text, ToolCallPart, Reasoning)):
            raise Untranslatable(f"{where}.parts[{j}]", f"{type(part).__name__} in an assistant message")
    # Reasoning is left out: chat completions has no standard field for it (OpenAI refuses unknown message
    # fields), and its signature or encryption only ever means something to the provider that made it.
    written: dict[str, Any] = {"role": "assistant",
                               "content": _text_content(texts) if texts else (None if calls else "")}
    if calls:
        written["tool_calls"] = [{"id": call.id, "type": "function",
                                  "function": {"name": call.name, "arguments": call.arguments}}
                                 for call in calls]
    return written


def write_messages(system: list[Text], messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": text.text} for text in system]
    for i, message in enumerate(messages):
        if message.role == "assistant":
            out.append(_assistant_message(message, f"messages[{i}]"))
        else:
            out += _user_messages(message, f"messages[{i}]")
    return out
