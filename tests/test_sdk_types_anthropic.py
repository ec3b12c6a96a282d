"""Issue 25 section 1: the Anthropic Messages table holds every type the installed anthropic SDK knows.

The type names come from the SDK's own definitions (``anthropic.types`` and ``anthropic.types.beta``): the
members of its unions (message content, tool results, sources, tools, answer blocks...) and their ``type``
``Literal`` annotations, followed at every depth the proxy reads. A new SDK release with a new block, source,
result part or tool type fails here until the table says how the proxy reads it; the last test fails on any
typed object anywhere in a request that is neither in the table nor listed below as carrying no content.
"""
from __future__ import annotations

import typing
from typing import Any, Iterator, Literal, get_args, get_origin

import anthropic.types as T
import anthropic.types.beta as B
import pytest

from archestra.providers.anthropic_context import _NESTED
from archestra.providers.anthropic_table import SERVER_RESULTS, TABLE
from archestra.providers.shapes import Reading


def _leaves(tp: Any) -> Iterator[Any]:
    """The classes a type annotation can hold (through Union, Optional, Annotated, Required, Iterable...)."""
    origin = get_origin(tp)
    if origin is Literal:
        return
    args = get_args(tp)
    if origin is not None and args:
        for arg in args[:1] if hasattr(tp, "__metadata__") else args:
            yield from _leaves(arg)
    elif isinstance(tp, type):
        yield tp


def _hints(cls: type) -> dict[str, Any]:
    """A class's fields: a TypedDict's annotations, a pydantic model's fields (the answer-side models)."""
    fields = getattr(cls, "model_fields", None)
    if isinstance(fields, dict):
        return {name: field.annotation for name, field in fields.items()}
    return typing.get_type_hints(cls, include_extras=True)


def _kinds(cls: type) -> list[str]:
    """The ``type`` Literal values of one SDK class (none for a class without a ``type``)."""
    found: list[str] = []
    hint = _hints(cls).get("type")
    stack = [hint] if hint is not None else []
    while stack:
        tp = stack.pop()
        if get_origin(tp) is Literal:
            found += [v for v in get_args(tp) if isinstance(v, str)]
        else:
            stack += list(get_args(tp))
    return found


def _classes(tp: Any) -> list[type]:
    return [cls for cls in _leaves(tp) if hasattr(cls, "__annotations__") and cls.__module__.startswith("anthropic.")]


def _field(classes: list[type], name: str) -> list[type]:
    return [leaf for cls in classes for leaf in _classes(_hints(cls).get(name))]


def _types(classes: list[type]) -> set[str]:
    return {kind for cls in classes for kind in _kinds(cls)}


def _untyped_custom(classes: list[type]) -> set[str]:
    """A ``tools`` entry whose ``type`` may be left out is read as ``custom``."""
    return {"custom" for cls in classes if "type" in _hints(cls) and "custom" in _kinds(cls)}


MESSAGES = [*_classes(T.MessageParam), *_classes(B.BetaMessageParam)]
CONTENT = _field(MESSAGES, "content")
ANSWER = [*_classes(T.ContentBlock), *_classes(B.BetaContentBlock)]
TOOLS = [*_classes(T.ToolUnionParam), *_classes(B.BetaToolUnionParam)]


def _nested(where: str, classes: list[type], seen: set[tuple[str, type]]) -> Iterator[tuple[str, str]]:
    """``(where, type)`` for every part the proxy reads below ``classes`` (read as ``where``), following the
    same fields as the proxy's reader (anthropic_context._NESTED)."""
    for cls in classes:
        if (where, cls) in seen:
            continue
        seen.add((where, cls))
        for kind in _kinds(cls):
            yield where, kind
            for field, inner in _NESTED.get(kind, ()):
                yield from _nested(inner, _field([cls], field), seen)


def _sdk_request_places() -> set[tuple[str, str]]:
    seen: set[tuple[str, type]] = set()
    places = set(_nested("content", CONTENT, seen))
    places |= {("tool", kind) for kind in _types(TOOLS) | _untyped_custom(TOOLS)}
    places |= {("mcp_server", kind) for kind in _types(_classes(B.BetaRequestMCPServerURLDefinitionParam))}
    places |= {("thread", kind) for kind in _types(_classes(B.BetaMessageThreadParam))}
    places |= {("skill", kind) for kind in _types([T.SkillParams, B.BetaSkillParams])}
    bodies = [T.message_create_params.MessageCreateParamsBase, B.message_create_params.MessageCreateParamsBase]
    places |= {("field", name) for body in bodies for name in _hints(body)}
    return places


def test_the_sdk_really_is_read_here():
    """The derivation finds what the SDK is known to hold (a broken walk would pass everything below)."""
    places = _sdk_request_places()
    for expected in [("content", "image"), ("source", "url"), ("source", "file"), ("document", "image"),
                     ("tool_result", "search_result"), ("result", "web_fetch_result"), ("source", "content"),
                     ("tool_change", "tool_definition"), ("tool", "browser_toolset_20260801"), ("tool", "custom"),
                     ("result", "encrypted_code_execution_result"), ("mcp_server", "url"),
                     ("thread", "continue"), ("skill", "custom"), ("field", "messages"), ("field", "container")]:
        assert expected in places, expected
    assert len(places) > 80


@pytest.mark.parametrize("where", ["content", "tool_result", "source", "document", "search_result", "result",
                                   "tool", "tool_change", "mcp_server", "thread", "skill", "field"])
def test_every_request_type_the_sdk_knows_is_in_the_table(where):
    known = {kind for place, kind in _sdk_request_places() if place == where}
    assert known, where
    missing = known - TABLE.types("request", where)
    assert not missing, f"the anthropic SDK knows {where} types the table does not hold: {sorted(missing)}"


def test_a_container_holds_nothing_but_an_id_and_skills():
    """What the table reads of ``container`` (``container:id``, ``skill:*``): a new field must be read too."""
    for params in (T.ContainerParams, B.BetaContainerParams):
        assert set(_hints(params)) == {"id", "skills"}


def test_every_answer_block_the_sdk_knows_is_in_the_table():
    missing = _types(ANSWER) - TABLE.types("answer", "content")
    assert not missing, f"the anthropic SDK knows answer blocks the table does not hold: {sorted(missing)}"


def test_server_results_are_read_as_results_everywhere():
    for kind in SERVER_RESULTS:
        assert TABLE.in_request("content", kind) is Reading.RESULT
        assert TABLE.in_answer("content", kind) is Reading.RESULT


def test_tool_types_split_into_client_tools_and_server_tools():
    """A tool type is a client tool only when declared so; everything else is a server tool (fail closed)."""
    for kind in _types(TOOLS):
        assert TABLE.in_request("tool", kind) in (Reading.CALL, Reading.SERVER_TOOL), kind
    assert TABLE.in_request("tool", "hologram_20990101") is Reading.UNSEEN


#: Typed objects of a request that carry no content the model reads (settings, locations in citations, ...):
#: anything else typed anywhere in a request must be in the table.
NOT_CONTENT = {
    "ephemeral",  # cache_control
    "char_location", "page_location", "content_block_location", "search_result_location",
    "web_search_result_location",  # citations: where a quoted text sits in a block the proxy reads
    "direct", "code_execution_20250825", "code_execution_20260120",  # a tool_use's caller
    "approximate",  # a web search tool's user location
    "object",  # an input schema
    "all", "none", "only", "except",  # which URLs a web fetch tool may read (configuration)
    "tab_opened", "download_started", "download_completed", "download_failed",  # browser_state changes
    "refusal",  # a fallback block's trigger
}


def _every_typed(classes: list[type], seen: set[type]) -> Iterator[str]:
    for cls in classes:
        if cls in seen:
            continue
        seen.add(cls)
        yield from _kinds(cls)
        for name, hint in _hints(cls).items():
            if name != "type":
                yield from _every_typed(_classes(hint), seen)


def test_every_typed_object_anywhere_in_a_request_is_in_the_table_or_carries_no_content():
    declared = {key.partition(":")[2] for key in TABLE.request}
    everything = set(_every_typed([*CONTENT, *TOOLS], set()))
    unread = everything - declared - NOT_CONTENT
    assert not unread, f"typed objects of the anthropic SDK the table does not read: {sorted(unread)}"
    assert NOT_CONTENT <= everything, f"not in the SDK any more: {sorted(NOT_CONTENT - everything)}"
