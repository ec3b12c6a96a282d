"""A Cohere v2 chat answer read into neutral terms (provider-wire-formats.md section 4.1; SDK types
``cohere/v2/types/v2chat_response.py``, ``cohere/types/assistant_message_response.py``, ``usage.py``).

Decisions, shared with the stream reader (``cohere_chat_stream``):

* ``tool_plan`` is :class:`Reasoning`: the SDK calls it "a chain-of-thought style reflection and plan that the
  model generates when working with Tools". It is not the answer to the user, and as Reasoning it comes back in
  the history and is written as ``tool_plan`` again (``cohere_chat_request``).
* ``thinking`` content is Reasoning; ``text`` is Text; any other content type is Untranslatable.
* Citations are left out: they point at spans of the answer's own text and at the sources those spans came
  from. The router sends no ``documents``, so every source is a tool result (or a document inside one) that the
  client itself sent: nothing the client would not otherwise see. A source of any other type is Untranslatable.
"""
from __future__ import annotations

from typing import Any

from .neutral import ChatAnswer, FinishReason, Reasoning, Text, ToolCallPart, Untranslatable, Usage

FINISH_REASONS: dict[str, FinishReason] = {
    "COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length", "TOOL_CALL": "tool_calls",
    "ERROR": "error", "TIMEOUT": "error",
}
#: Answer fields that carry nothing the client would miss: ``logprobs`` (numbers about the text it gets),
#: ``meta`` (API version and warnings, as in v1).
_IGNORED_FIELDS = {"logprobs", "meta"}
_SOURCE_TYPES = {"tool", "document"}  # see the module docstring


def read_answer(body: dict[str, Any]) -> ChatAnswer:
    unknown = set(body) - {"id", "finish_reason", "message", "usage"} - _IGNORED_FIELDS
    if unknown:
        raise Untranslatable(sorted(unknown)[0], "a field of the Cohere answer this reader does not know")
    message = body.get("message")
    if not isinstance(message, dict):
        raise Untranslatable("message", "the answer has no message object")
    unknown = set(message) - {"role", "content", "tool_plan", "tool_calls", "citations"}
    if unknown or message.get("role", "assistant") != "assistant":
        raise Untranslatable(f"message.{sorted(unknown)[0] if unknown else 'role'}", "not an assistant message "
                                                                                      "this reader knows")
    parts: list[Text | ToolCallPart | Reasoning] = []
    for item in message.get("content") or []:
        parts.append(content_part(item))
    if message.get("tool_plan"):
        parts.append(Reasoning(string_field(message["tool_plan"], "message.tool_plan")))
    for call in message.get("tool_calls") or []:
        parts.append(_call(call))
    for citation in message.get("citations") or []:
        check_citation(citation)
    return ChatAnswer(id=string_field(body.get("id"), "id"), model="", parts=parts,
                      finish_reason=finish_reason(body.get("finish_reason")), usage=usage(body.get("usage")))


def content_part(item: Any) -> Text | Reasoning:
    kind = item.get("type") if isinstance(item, dict) else None
    if kind == "text":
        return Text(string_field(item.get("text"), "content.text"))
    if kind == "thinking":
        return Reasoning(string_field(item.get("thinking"), "content.thinking"))
    raise Untranslatable(f"content.{kind}", "a Cohere content type this reader does not know")


def function_of(call: Any, where: str) -> dict[str, Any]:
    """The ``function`` of a tool call; Untranslatable for any other kind of call."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or call.get("type", "function") != "function":
        raise Untranslatable(where, "a tool call that is not a function call")
    return function


def _call(call: Any) -> ToolCallPart:
    function = function_of(call, "tool_calls")
    return ToolCallPart(id=string_field(call.get("id"), "tool_calls.id"),
                        name=string_field(function.get("name"), "tool_calls.function.name"),
                        arguments=string_field(function.get("arguments") or "{}", "tool_calls.function.arguments"))


def check_citation(citation: Any) -> None:
    """Pass a citation whose sources are all the client's own (see the module docstring); else Untranslatable."""
    sources = citation.get("sources") if isinstance(citation, dict) else None
    for source in sources or []:
        kind = source.get("type") if isinstance(source, dict) else None
        if kind not in _SOURCE_TYPES:
            raise Untranslatable(f"citations.sources.{kind}", "a citation source the client did not send")


def finish_reason(value: Any) -> FinishReason:
    if value not in FINISH_REASONS:
        raise Untranslatable("finish_reason", f"unknown Cohere finish reason {value!r}")
    return FINISH_REASONS[value]


def usage(value: Any) -> Usage:
    """``tokens`` (what the model processed), else ``billed_units``; ``cached_tokens`` are prompt tokens that hit
    the cache. The SDK types them as floats: neutral usage counts whole tokens."""
    if not isinstance(value, dict):
        return Usage()
    tokens = value.get("tokens") or value.get("billed_units") or {}
    return Usage(input_tokens=_count(tokens.get("input_tokens")), output_tokens=_count(tokens.get("output_tokens")),
                 cache_read_tokens=_count(value.get("cached_tokens")))


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def string_field(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise Untranslatable(name, "expected a string")
    return value
