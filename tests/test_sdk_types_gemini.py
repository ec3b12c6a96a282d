"""The Gemini table holds every field google-genai knows (its pydantic models, by their wire names): a new SDK
release with a new part, tool or candidate field fails here instead of passing unread."""
from __future__ import annotations

import pytest
from google.genai import types

from archestra.providers.gemini_format import TABLE

#: Fields the SDK adds on its side: never on the wire.
SDK_ONLY = {"sdkHttpResponse", "automaticFunctionCallingHistory", "parsed"}


def wire_names(model: type) -> set[str]:
    """The camelCase names the wire uses for a google-genai model's fields."""
    return {info.alias or name for name, info in model.model_fields.items()} - SDK_ONLY


@pytest.mark.parametrize(("model", "side", "where"), [
    (types.Part, "request", "part"), (types.Part, "answer", "part"),
    (types.FunctionResponsePart, "request", "response part"),
    (types.Tool, "request", "tool"),
    (types.FunctionResponse, "request", "function response"), (types.GenerationConfig, "request", "generation"),
    (types.FunctionCall, "answer", "function call"), (types.PartialArg, "answer", "partial arg"),
    (types.ExecutableCode, "answer", "code"), (types.ToolCall, "answer", "tool call"),
    (types.Content, "request", "content"), (types.Content, "answer", "content"),
    (types.Candidate, "answer", "candidate"),
    (types.GenerateContentResponse, "answer", "response"),
], ids=lambda value: getattr(value, "__name__", value))
def test_every_field_the_sdk_knows_is_in_the_table(model, side, where):
    missing = wire_names(model) - TABLE.types(side, where)
    assert not missing, f"google-genai's {model.__name__} has fields the table does not declare: {sorted(missing)}"


def test_the_request_fields_the_sdk_sends_are_in_the_table():
    """Every top-level field google-genai's request converters write (AI Studio and Vertex AI)."""
    import inspect
    import re

    from google.genai import models

    sent = set()
    for converter in (models._GenerateContentParameters_to_mldev, models._GenerateContentParameters_to_vertex,
                      models._GenerateContentConfig_to_mldev, models._GenerateContentConfig_to_vertex):
        source = inspect.getsource(converter)
        sent |= set(re.findall(r"setv\(\s*(?:parent_object|to_object),\s*\[\s*'(\w+)'\s*\]", source))
    # generationConfig's own fields (temperature...) go into it; top-level ones are the rest
    config_fields = set(re.findall(r"setv\(\s*to_object,\s*\[\s*'(\w+)'\s*\]",
                                   inspect.getsource(models._GenerateContentConfig_to_mldev) +
                                   inspect.getsource(models._GenerateContentConfig_to_vertex)))
    top_level = sent - config_fields
    assert {"contents", "tools", "systemInstruction", "cachedContent"} <= top_level
    assert not top_level - TABLE.types("request", "request"), sorted(top_level - TABLE.types("request", "request"))


def test_tool_types_of_server_side_calls_have_names():
    """A ``toolCall``'s ``toolType`` names the tool a policy is written for; every type the SDK knows has one."""
    from archestra.providers.gemini_tools import tool_type_name

    for kind in types.ToolType:
        if kind is not types.ToolType.TOOL_TYPE_UNSPECIFIED:
            assert tool_type_name({"toolType": kind.value}) != "server_tool"
