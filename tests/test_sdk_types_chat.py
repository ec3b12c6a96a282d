"""The chat completions and Cohere v2 tables hold every type the official SDKs know (openai, mistralai,
cohere): the type names are derived from the SDKs' own typed unions, Literal annotations and models, so a
release with a new role, content part, tool, call type, answer field or stream event fails here instead of
passing as something the proxy never read."""
from __future__ import annotations

import typing

import pytest

from archestra.providers.cohere import TABLE as COHERE
from archestra.providers.openai_calls import TABLE as CHAT


def literals(annotation: typing.Any) -> set[str]:
    """Every string a (nested) Literal annotation admits: through Required, Optional, Annotated, unions."""
    if typing.get_origin(annotation) is typing.Literal:
        return {value for value in typing.get_args(annotation) if isinstance(value, str)}
    value = getattr(annotation, "__value__", None)  # TypeAliasType
    if value is not None:
        return literals(value)
    return {found for arg in typing.get_args(annotation) for found in literals(arg)}


def members(union: typing.Any) -> list[typing.Any]:
    """The classes of a (possibly Annotated, aliased, nested) union."""
    value = getattr(union, "__value__", None)
    if value is not None:
        return members(value)
    args = typing.get_args(union)
    if not args:
        return [union] if isinstance(union, type) else []
    return [member for arg in args for member in members(arg)]


def field_literal(cls: type, name: str) -> set[str]:
    if hasattr(cls, "model_fields"):
        return literals(cls.model_fields[name].annotation)
    return literals(typing.get_type_hints(cls, include_extras=True)[name])


def field_names(cls: type) -> set[str]:
    if hasattr(cls, "model_fields"):
        return {field.alias or name for name, field in cls.model_fields.items()}
    return set(typing.get_type_hints(cls))


def missing(table, side: str, where: str, names: set[str]) -> set[str]:
    return names - table.types(side, where)


# -- openai -----------------------------------------------------------------------------------------------------
def test_openai_request_roles_fields_parts_and_tools_are_declared():
    from openai.types.chat import (ChatCompletionContentPartParam, ChatCompletionContentPartRefusalParam,
                                   ChatCompletionMessageParam, ChatCompletionToolUnionParam)

    messages = members(ChatCompletionMessageParam)
    roles = {role for cls in messages for role in field_literal(cls, "role")}
    assert {"system", "developer", "user", "assistant", "tool", "function"} <= roles  # the derivation works
    assert not missing(CHAT, "request", "role", roles)
    assert not missing(CHAT, "request", "field", {name for cls in messages for name in field_names(cls)})
    parts = {kind for cls in members(ChatCompletionContentPartParam) + [ChatCompletionContentPartRefusalParam]
             for kind in field_literal(cls, "type")}
    assert {"text", "image_url", "input_audio", "file", "refusal"} <= parts
    assert not missing(CHAT, "request", "content", parts)
    tools = {kind for cls in members(ChatCompletionToolUnionParam) for kind in field_literal(cls, "type")}
    assert not missing(CHAT, "request", "tool", tools)


def test_openai_answer_fields_calls_and_stream_deltas_are_declared():
    from openai.types.chat import ChatCompletionMessage, ChatCompletionMessageToolCallUnion
    from openai.types.chat.chat_completion_chunk import ChoiceDelta, ChoiceDeltaToolCall

    calls = members(ChatCompletionMessageToolCallUnion)
    kinds = {kind for cls in calls for kind in field_literal(cls, "type")}
    assert kinds == {"function", "custom"} or kinds > {"function", "custom"}
    assert not missing(CHAT, "answer", "tool_call", kinds)
    # Every key of a call entry is a call part (named by its type) or a declared call field.
    keys = {name for cls in calls + [ChoiceDeltaToolCall] for name in field_names(cls)} - kinds
    assert not missing(CHAT, "answer", "call_field", keys)
    assert not missing(CHAT, "answer", "field", field_names(ChatCompletionMessage))
    assert not missing(CHAT, "answer", "delta", field_names(ChoiceDelta))


# -- mistralai --------------------------------------------------------------------------------------------------
def test_mistral_roles_fields_and_content_chunks_are_declared():
    from mistralai.client import models
    from mistralai.client.models import contentchunk, thinkchunk

    chunks = set(contentchunk._CONTENT_CHUNK_VARIANTS)
    assert {"text", "image_url", "document_url", "reference", "file", "thinking"} <= chunks
    thinking = {kind for cls in members(thinkchunk.Thinking) for kind in field_literal(cls, "type")}
    for where in ("request", "answer"):  # assistant messages carry chunks both ways
        assert not missing(CHAT, where, "content", chunks | thinking)
    messages = [models.SystemMessage, models.UserMessage, models.AssistantMessage, models.ToolMessage]
    roles = {role for cls in messages for role in field_literal(cls, "role")}
    assert not missing(CHAT, "request", "role", roles)
    assert not missing(CHAT, "request", "field", {name for cls in messages for name in field_names(cls)})
    assert not missing(CHAT, "answer", "field", field_names(models.AssistantMessage))
    assert not missing(CHAT, "answer", "delta", field_names(models.DeltaMessage))
    assert not missing(CHAT, "answer", "call_field", field_names(models.ToolCall) - {"function"})


# -- cohere -----------------------------------------------------------------------------------------------------
def test_cohere_roles_fields_and_content_types_are_declared():
    from cohere import types

    messages = members(types.ChatMessageV2)
    roles = {role for cls in messages for role in field_literal(cls, "role")}
    assert roles >= {"system", "user", "assistant", "tool"}
    assert not missing(COHERE, "request", "role", roles)
    assert not missing(COHERE, "request", "field", {name for cls in messages for name in field_names(cls)})
    parts = set()
    for union in (types.Content, types.ToolContent, types.AssistantMessageV2ContentOneItem,
                  types.SystemMessageV2ContentOneItem):
        parts |= {kind for cls in members(union) for kind in field_literal(cls, "type")}
    assert {"text", "image_url", "document", "thinking"} <= parts
    assert not missing(COHERE, "request", "content", parts)
    tools = field_literal(types.ToolV2, "type")
    assert not missing(COHERE, "request", "tool", tools)


def test_cohere_answer_fields_calls_and_stream_events_are_declared():
    from cohere import types
    from cohere.v2.types import V2ChatStreamResponse

    assert not missing(COHERE, "answer", "field", field_names(types.AssistantMessageResponse))
    parts = {kind for cls in members(types.AssistantMessageResponseContentItem) for kind in field_literal(cls, "type")}
    assert not missing(COHERE, "answer", "content", parts)
    kinds = field_literal(types.ToolCallV2, "type")
    assert kinds == {"function"} or kinds > {"function"}
    assert not missing(COHERE, "answer", "tool_call", kinds)
    assert not missing(COHERE, "answer", "call_field", field_names(types.ToolCallV2) - kinds)
    assert not missing(COHERE, "answer", "start", field_names(types.ChatMessageStartEventDeltaMessage))
    events = {kind for cls in members(V2ChatStreamResponse) for kind in field_literal(cls, "type")}
    assert {"message-start", "tool-call-start", "message-end"} <= events
    assert not missing(COHERE, "events", "event", events)


@pytest.mark.parametrize("table", [CHAT, COHERE], ids=["chat", "cohere"])
def test_what_the_tables_do_not_hold_is_unseen_or_refused(table):
    assert table.in_request("content", "hologram").value == "unseen context"
    assert table.in_answer("tool_call", "hologram").value == "refused"
    assert table.in_answer("field", "hologram").value == "refused"
