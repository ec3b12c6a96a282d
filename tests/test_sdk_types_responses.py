"""The OpenAI Responses table holds every type the installed openai SDK knows: input items, output items,
content parts, tools and stream events, read from the SDK's own typed unions (their ``type`` Literals). A new
SDK release with a new item type fails here instead of opening a hole."""
from __future__ import annotations

import typing
from typing import Annotated, Literal, Union, get_args, get_origin

import pytest

from archestra.providers.responses_items import TABLE
from archestra.providers.shapes import Reading


def _members(annotation: object) -> list[object]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or str(origin) == "<class 'types.UnionType'>":
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _literals(annotation: object) -> list[str]:
    if get_origin(annotation) is Literal:
        return [value for value in get_args(annotation) if isinstance(value, str)]
    return [value for arg in get_args(annotation) for value in _literals(arg)]


def sdk_types(union: object) -> set[str]:
    """The ``type`` values of every member of an SDK union (pydantic models and TypedDicts alike)."""
    found: set[str] = set()
    for member in _members(union):
        if hasattr(member, "model_fields"):
            field = member.model_fields.get("type")
            annotation = field.annotation if field is not None else None
        else:
            annotation = typing.get_type_hints(member, include_extras=True).get("type")
        assert annotation is not None, f"{member} has no type field: read its union differently"
        found.update(_literals(annotation))
    assert found, union
    return found


def _union(module: str, name: str) -> object:
    return getattr(__import__(f"openai.types.responses.{module}", fromlist=[name]), name)


def _content_union(module: str, model: str, field: str) -> object:
    """The element type of a list field of an SDK model (``content: List[Content]``)."""
    cls = _union(module, model)
    annotation = cls.model_fields[field].annotation
    return get_args(annotation)[0] if get_origin(annotation) in (list, typing.List) else annotation


REQUEST_UNIONS = [
    ("item", "response_input_item_param", "ResponseInputItemParam"),
    ("part", "response_input_content_param", "ResponseInputContentParam"),
    ("part", "response_function_call_output_item_param", "ResponseFunctionCallOutputItemParam"),
    ("tool", "tool_param", "ToolParam"),
    ("tool", "namespace_tool_param", "Tool"),
]


@pytest.mark.parametrize("where,module,name", REQUEST_UNIONS, ids=[name for _, _, name in REQUEST_UNIONS])
def test_every_request_type_the_sdk_knows_is_declared(where, module, name):
    missing = sdk_types(_union(module, name)) - TABLE.types("request", where)
    assert not missing, f"openai SDK {name} members not in the Responses table ({where}): {sorted(missing)}"


def test_every_answer_item_and_message_part_the_sdk_knows_is_declared():
    missing = sdk_types(_union("response_output_item", "ResponseOutputItem")) - TABLE.types("answer", "item")
    assert not missing, f"ResponseOutputItem members not in the table: {sorted(missing)}"
    parts = sdk_types(_content_union("response_output_message", "ResponseOutputMessage", "content"))
    assert not parts - TABLE.types("answer", "part"), sorted(parts - TABLE.types("answer", "part"))
    # Assistant messages sent back in a request carry the same parts.
    assert not parts - TABLE.types("request", "part")


def test_every_request_field_the_sdk_knows_is_declared():
    from openai.types.responses.response_create_params import ResponseCreateParamsStreaming

    fields = set(typing.get_type_hints(ResponseCreateParamsStreaming))
    missing = fields - TABLE.types("request", "field")
    assert not missing, f"Responses request fields not in the table: {sorted(missing)}"


def test_computer_screenshot_part_is_declared():
    screenshot = _union("response_computer_tool_call_output_screenshot_param",
                        "ResponseComputerToolCallOutputScreenshotParam")
    assert sdk_types(screenshot) <= TABLE.types("request", "part")


def test_every_stream_event_the_sdk_knows_is_declared():
    events = sdk_types(_union("response_stream_event", "ResponseStreamEvent"))
    missing = events - TABLE.types("events", "event")
    assert not missing, f"ResponseStreamEvent members not in the table: {sorted(missing)}"


def test_the_declared_readings_are_the_ones_the_rule_needs():
    # Every item type some client executes is a decided call in an answer, whatever its fields.
    for kind in ("function_call", "custom_tool_call", "local_shell_call", "shell_call", "apply_patch_call",
                 "computer_call", "tool_search_call", "mcp_approval_request"):
        assert TABLE.in_answer("item", kind) is Reading.CALL, kind
        assert TABLE.in_request("item", kind) is Reading.CALL, kind
    assert TABLE.in_request("item", "item_reference") is Reading.UNSEEN
    assert TABLE.in_request("item", "hologram") is Reading.UNSEEN
    assert TABLE.in_answer("item", "hologram") is Reading.REFUSED
    assert TABLE.in_answer("item", "item_reference") is Reading.REFUSED  # a stored reference never passes out
    # An answer reads nothing as unseen: every answer reading is one the proxy acts on.
    assert not {*TABLE.answer.values()} - {Reading.INERT, Reading.CALL, Reading.RESULT, Reading.SERVER_TOOL,
                                           Reading.OPAQUE}
    assert TABLE.in_request("item", "mcp_list_tools") is Reading.SERVER_TOOL  # a listing: untrusted input
    # The SDK skips an event type it does not know; so does the relay's bookkeeping.
    assert TABLE.unknown_event is Reading.SKIPPED
