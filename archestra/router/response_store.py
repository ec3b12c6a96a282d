"""The conversations behind Responses API answers the Model Router served from a provider that keeps none
(Anthropic, Gemini, Bedrock, Cohere...): OpenAI keeps each response for ``previous_response_id``; here the router
does, as the whole neutral conversation up to and including the answer, under the response id and the profile.
A later request naming the id continues it from the same profile only (any other profile: not found, as an
unknown id).

Rows hold conversations (prompts, tool results): they are kept no longer than the interactions they belong to
(the retention purge removes those older than the retention, ``created_at``), and ``store: false`` requests
are never saved (the router's decision).
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any

from ..extensions import db
from ..families.neutral import ChatAnswer, ChatRequest, Image, Message, Reasoning, Text, ToolCallPart, ToolResultPart
from ..models import RouterResponse

#: The ``kind`` tag of each part in the stored JSON.
_KINDS: dict[str, type] = {"text": Text, "image": Image, "tool_call": ToolCallPart, "tool_result": ToolResultPart,
                           "reasoning": Reasoning}
_TAGS = {cls: kind for kind, cls in _KINDS.items()}


def save(profile_id: str, response_id: str, messages: list[Message], model: str) -> None:
    """Keep ``messages`` (commits). An id already kept is never overwritten: the insert fails (IntegrityError)."""
    db.session.add(RouterResponse(id=response_id, profile_id=profile_id, model=model,
                                  messages=dump_messages(messages)))
    db.session.commit()


def load(profile_id: str, response_id: str) -> list[Message] | None:
    """The conversation kept under ``response_id`` for ``profile_id``; None when there is none (or another
    profile's)."""
    row = db.session.get(RouterResponse, response_id)
    if row is None or row.profile_id != profile_id:
        return None
    return load_messages(row.messages)


def conversation(request: ChatRequest, answer: ChatAnswer) -> list[Message]:
    """What a later request continues: the request's turns (the earlier conversation included) and the answer
    (an answer without parts adds no empty turn, which providers refuse)."""
    turns = list(request.messages)
    return turns + [Message("assistant", list(answer.parts))] if answer.parts else turns


# -- JSON ------------------------------------------------------------------------------------------------
def dump_messages(messages: list[Message]) -> list[dict[str, Any]]:
    return [{"role": message.role, "parts": [_dump(part) for part in message.parts]} for message in messages]


def load_messages(data: list[dict[str, Any]]) -> list[Message]:
    return [Message(message["role"], [_load(part) for part in message["parts"]]) for message in data]


def _dump(part: Any) -> dict[str, Any]:
    values = {f.name: getattr(part, f.name) for f in fields(part)}
    if isinstance(part, ToolResultPart):
        values["content"] = [_dump(piece) for piece in part.content]
    return {"kind": _TAGS[type(part)], **values}


def _load(data: dict[str, Any]) -> Any:
    values = dict(data)
    cls = _KINDS[values.pop("kind")]
    if cls is ToolResultPart:
        values["content"] = [_load(piece) for piece in values["content"]]
    return cls(**values)
