"""Message content helpers.

``content_text`` / ``set_content_text``: content that is a string or a list of typed parts
(``{"type": "text", "text": ...}``), as OpenAI and its kin, Anthropic and Cohere send it.
``parts_text`` / ``set_parts_text``: lists of union members keyed by name (``{"text": ...}``), as Gemini
parts and Bedrock content blocks are.
"""
from __future__ import annotations

from typing import Any, Collection


def content_text(content: Any, kinds: tuple[str, ...] = ("text",)) -> str | None:
    """The text of an OpenAI message content (a string, or a list of parts whose type is one of ``kinds``:
    the Responses API names them ``input_text`` / ``output_text``)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part.get("text", "") for part in content
                 if isinstance(part, dict) and part.get("type") in kinds]
        return "".join(texts) if texts else None
    return None


def set_content_text(message: dict[str, Any], text: str, kinds: tuple[str, ...] = ("text",),
                     skip: Collection[int] = ()) -> None:
    """Replace the text of a message, keeping non-text parts (images, audio), and the text parts at the
    positions in ``skip``, where they were; a new text part has the type ``kinds[0]``."""
    content = message.get("content")
    if not isinstance(content, list):
        message["content"] = text
        return
    parts, placed = [], False
    for position, part in enumerate(content):
        if position not in skip and isinstance(part, dict) and part.get("type") in kinds:
            if not placed:
                parts.append({**part, "text": text})
                placed = True
            continue
        parts.append(part)
    if not placed:
        parts.insert(0, {"type": kinds[0], "text": text})
    message["content"] = parts


def parts_text(parts: Any) -> str | None:
    texts = [p["text"] for p in parts or () if isinstance(p, dict) and isinstance(p.get("text"), str)
             and not p.get("thought")]
    return "".join(texts) if texts else None


def set_parts_text(parts: list[Any], text: str) -> list[Any]:
    """Replace the text parts with one, where the first was; other parts stay as they are."""
    out, placed = [], False
    for part in parts:
        if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought"):
            if not placed:
                out.append({**part, "text": text})
                placed = True
            continue
        out.append(part)
    return out if placed else [{"text": text}, *out]
