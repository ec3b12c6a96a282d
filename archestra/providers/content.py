"""Message content helpers shared by the providers whose content is a string or a list of typed parts
(``{"type": "text", "text": ...}``): OpenAI and its kin, Anthropic, Cohere."""
from __future__ import annotations

from typing import Any


def content_text(content: Any) -> str | None:
    """The text of an OpenAI message content (a string, or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part.get("text", "") for part in content
                 if isinstance(part, dict) and part.get("type") == "text"]
        return "".join(texts) if texts else None
    return None


def set_content_text(message: dict[str, Any], text: str) -> None:
    """Replace the text of a message, keeping non-text parts (images, audio) where they were."""
    content = message.get("content")
    if not isinstance(content, list):
        message["content"] = text
        return
    parts, placed = [], False
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            if not placed:
                parts.append({**part, "text": text})
                placed = True
            continue
        parts.append(part)
    if not placed:
        parts.insert(0, {"type": "text", "text": text})
    message["content"] = parts
