"""The ``input`` items of a Responses API request (``openai/types/responses/response_input_item_param.py``) in
neutral form: messages, function calls and their outputs, reasoning. Every other item type (hosted tools' calls,
shell / patch / computer calls, MCP items, item references, compactions...) only means something to OpenAI's
own servers and raises :class:`Untranslatable` naming it.

System and developer messages are returned apart (the neutral form has one system prompt, never a message):
the front puts them after ``instructions`` in input order. Their position among the turns is lost; the other
choice, turning them into user turns, would hand the developer's text to the model with the user's authority.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from .neutral import Image, Message, Part, Reasoning, Text, ToolCallPart, ToolResultPart, Untranslatable

#: Keys an item or part may carry that change nothing the model reads (ids and statuses OpenAI echoes,
#: citations and log probabilities of earlier answers, the ``phase`` label of GPT-5 assistant messages, the
#: ``detail`` resolution hint of images and prompt-cache breakpoints).
IGNORED_KEYS = frozenset({"id", "status", "annotations", "logprobs", "phase", "detail", "prompt_cache_breakpoint"})

#: Reasoning that carries another provider's signature travels in ``encrypted_content`` behind this prefix, so
#: that a client sending the item back (``store: false``) returns it to the upstream that signed it.
SIGNED = "archestra-reasoning:"

_TEXT_PARTS = {"user": ("input_text", "input_image"), "system": ("input_text",), "developer": ("input_text",),
               "assistant": ("output_text", "refusal")}


def only(obj: Any, allowed: tuple[str, ...], where: str, ignored: frozenset[str] = IGNORED_KEYS) -> dict[str, Any]:
    """``obj`` as a dict whose keys (with a value) are all ``allowed`` or ``ignored``; Untranslatable otherwise."""
    if not isinstance(obj, dict):
        raise Untranslatable(where, "not a JSON object")
    for key, value in obj.items():
        if value is not None and key not in allowed and key not in ignored:
            raise Untranslatable(f"{where}.{key}", "not translatable to another provider")
    return obj


def read_input(items: Any) -> tuple[list[Message], list[Text]]:
    """``input`` (a string or a list of items) as (messages, system texts): one message per item, to be
    merged into turns (:func:`merge_turns`)."""
    if isinstance(items, str):
        return [Message("user", [Text(items)])], []
    if not isinstance(items, list):
        raise Untranslatable("input", "neither a string nor a list of items")
    messages: list[Message] = []
    system: list[Text] = []
    for index, item in enumerate(items):
        where = f"input[{index}]"
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind == "message":
            role, parts = _message(item, where)
            if role in ("system", "developer"):
                system += [part for part in parts if isinstance(part, Text)]
                continue
        elif kind == "function_call":
            role, parts = "assistant", [_call(item, where)]
        elif kind == "function_call_output":
            role, parts = "user", [_output(item, where)]
        elif kind == "reasoning":
            role, parts = "assistant", _reasoning(item, where)
        else:
            raise Untranslatable(f"{where}.type", f"{kind!r} items exist only on OpenAI's servers")
        if parts:
            messages.append(Message(role, parts))  # type: ignore[arg-type]
    return messages, system


def merge_turns(messages: list[Message]) -> list[Message]:
    """Consecutive messages of one role as one turn (new Message objects; the given ones are left as they are)."""
    merged: list[Message] = []
    for message in messages:
        if merged and merged[-1].role == message.role:
            merged[-1] = Message(message.role, [*merged[-1].parts, *message.parts])
        else:
            merged.append(Message(message.role, list(message.parts)))
    return merged


def name_results(messages: list[Message]) -> None:
    """Give each tool result the name of the call it answers, where the history has the call (the results are
    replaced, not changed: the kept conversation's parts may be shared)."""
    names = {part.id: part.name for m in messages for part in m.parts if isinstance(part, ToolCallPart)}
    for message in messages:
        message.parts = [replace(part, name=names.get(part.call_id))
                         if isinstance(part, ToolResultPart) and part.name is None else part
                         for part in message.parts]


def _message(item: dict[str, Any], where: str) -> tuple[str, list[Part]]:
    only(item, ("type", "role", "content"), where)
    role = item.get("role")
    if role not in _TEXT_PARTS:
        raise Untranslatable(f"{where}.role", f"unknown role {role!r}")
    content = item.get("content")
    if isinstance(content, str):
        return role, [Text(content)]
    if not isinstance(content, list):
        raise Untranslatable(f"{where}.content", "neither a string nor a list of parts")
    return role, [_part(part, _TEXT_PARTS[role], f"{where}.content[{n}]") for n, part in enumerate(content)]


def _part(part: Any, kinds: tuple[str, ...], where: str) -> Text | Image:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind not in kinds:
        raise Untranslatable(f"{where}.type", f"{kind!r} parts cannot go to another provider here")
    if kind in ("input_text", "output_text"):
        return Text(_string(only(part, ("type", "text"), where), "text", where))
    if kind == "refusal":
        return Text(_string(only(part, ("type", "refusal"), where), "refusal", where))
    return _image(only(part, ("type", "image_url", "file_id"), where), where)


def _image(part: dict[str, Any], where: str) -> Image:
    if part.get("file_id") is not None:
        raise Untranslatable(f"{where}.file_id", "files uploaded to OpenAI are not readable by another provider")
    url = part.get("image_url")
    if not isinstance(url, str):
        raise Untranslatable(f"{where}.image_url", "an image without a URL")
    if url.startswith(("https://", "http://")):
        return Image(url=url)
    head, comma, data = url.partition(",")
    if url.startswith("data:") and comma and head.endswith(";base64"):
        return Image(media_type=head[len("data:"):-len(";base64")] or None, data=data)
    raise Untranslatable(f"{where}.image_url", "neither an http(s) URL nor a base64 data URL")


def _call(item: dict[str, Any], where: str) -> ToolCallPart:
    only(item, ("type", "call_id", "name", "arguments"), where)
    _direct(item, where)
    return ToolCallPart(_string(item, "call_id", where), _string(item, "name", where),
                        _string(item, "arguments", where))


def _output(item: dict[str, Any], where: str) -> ToolResultPart:
    only(item, ("type", "call_id", "output", "name"), where)
    _direct(item, where)
    output = item.get("output")
    if isinstance(output, str):
        content: list[Text | Image] = [Text(output)]
    elif isinstance(output, list):
        content = [_part(part, ("input_text", "input_image"), f"{where}.output[{n}]")
                   for n, part in enumerate(output)]
    else:
        raise Untranslatable(f"{where}.output", "neither a string nor a list of parts")
    name = item.get("name")
    return ToolResultPart(_string(item, "call_id", where), content, name=name if isinstance(name, str) else None)


def _direct(item: dict[str, Any], where: str) -> None:
    """Calls made by the model itself; tool namespaces, programmatic and asynchronous calls are OpenAI's own."""
    for key in ("namespace", "async"):
        if item.get(key):
            raise Untranslatable(f"{where}.{key}", "an OpenAI tool-calling feature")
    caller = item.get("caller")
    if caller is not None and caller != {"type": "direct"}:
        raise Untranslatable(f"{where}.caller", "only calls the model made directly can be translated")


def _reasoning(item: dict[str, Any], where: str) -> list[Part]:
    """A reasoning item as neutral Reasoning; none when it holds neither text nor encrypted content (OpenAI
    then keeps the reasoning on its servers under the item's id, which no other provider can resolve, and the
    item tells the model nothing)."""
    only(item, ("type", "summary", "content", "encrypted_content"), where)
    pieces = item.get("content") or item.get("summary") or []
    if not isinstance(pieces, list):
        raise Untranslatable(f"{where}.summary", "not a list")
    texts = [_string(only(p, ("type", "text"), f"{where}.summary"), "text", where) for p in pieces]
    encrypted = item.get("encrypted_content")
    if encrypted is not None and not isinstance(encrypted, str):
        raise Untranslatable(f"{where}.encrypted_content", "not a string")
    text = "\n\n".join(texts)
    if not text and not encrypted:
        return []
    if encrypted and encrypted.startswith(SIGNED):
        try:
            sealed = json.loads(encrypted[len(SIGNED):])
        except ValueError:
            sealed = None
        if not isinstance(sealed, dict):
            raise Untranslatable(f"{where}.encrypted_content", "a damaged signed reasoning")
        return [Reasoning(text, signature=sealed.get("signature"), encrypted=sealed.get("encrypted"))]
    return [Reasoning(text, encrypted=encrypted)]


def seal(reasoning: Reasoning) -> str | None:
    """``encrypted_content`` for neutral reasoning (the inverse of what :func:`read_input` reads)."""
    if reasoning.signature is None:
        return reasoning.encrypted
    sealed = {"signature": reasoning.signature, "encrypted": reasoning.encrypted}
    return SIGNED + json.dumps(sealed, separators=(",", ":"))


def _string(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise Untranslatable(f"{where}.{key}", "missing or not a string")
    return value
