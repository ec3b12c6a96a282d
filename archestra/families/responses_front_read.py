"""A Responses API request body (``openai/types/responses/response_create_params.py``) in neutral form.

Fields are read, dropped (:data:`DROPPED_FIELDS`, each with its reason), left to the router
(:data:`ROUTER_FIELDS`) or refused: anything else, including fields this reader does not know, raises
:class:`Untranslatable` naming it. A field sent as ``null`` means the API's default and is never refused.
"""
from __future__ import annotations

from typing import Any

from .neutral import ChatRequest, Message, Text, ToolSpec, Untranslatable
from .responses_front_items import merge_turns, name_results, only, read_input

#: Fields left out of the neutral request, and why that changes nothing the model reads or the client executes.
DROPPED_FIELDS: dict[str, str] = {
    "reasoning": "OpenAI reasoning models' effort / summary knob; other providers configure thinking otherwise",
    "metadata": "labels OpenAI stores with the response; the model never reads them",
    "user": "an end-user id for OpenAI's abuse monitoring; the model never reads it",
    "safety_identifier": "an end-user id for OpenAI's abuse monitoring; the model never reads it",
    "service_tier": "OpenAI's latency / price tier; the answer's content does not depend on it",
    "truncation": "only 'disabled' is accepted: a too long request fails, as with every other provider",
    "include": "only 'reasoning.encrypted_content' is accepted: reasoning is always rendered with the answer",
    "prompt_cache_key": "an OpenAI cache routing hint",
    "prompt_cache_retention": "how long OpenAI keeps its prompt cache",
    "stream_options": "include_obfuscation: padding of OpenAI's delta events; the router's stream has none",
    "text.verbosity": "a GPT-5 length knob other providers lack",
    "input[].content[].detail": "the resolution OpenAI reads an image at",
    "input[].content[].prompt_cache_breakpoint": "an OpenAI prompt-cache hint",
    "tools[].strict": "OpenAI's decoding constrained to the schema; the schema itself still goes with the tool",
}

#: Fields the router itself acts on (chaining and keeping conversations), not part of the neutral request.
ROUTER_FIELDS = ("store", "previous_response_id")

_SAMPLING = {"max_output_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p"}
_ACCEPTED = {"truncation": ("disabled",), "background": (False,), "top_logprobs": (0,)}
_NOTHING: frozenset[str] = frozenset()  # outside items no key is ignored
_INCLUDABLE = ("reasoning.encrypted_content",)
_DROPPED = ("reasoning", "metadata", "user", "safety_identifier", "service_tier", "prompt_cache_key",
            "prompt_cache_retention", "stream_options")
_READ = ("model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "text", "stream",
         "include", *_SAMPLING, *_ACCEPTED, *_DROPPED, *ROUTER_FIELDS)


def read_request(body: dict[str, Any], previous: list[Message] | None = None) -> ChatRequest:
    """``body`` in neutral form; ``previous``: the conversation the router kept for ``previous_response_id``
    (prepended; OpenAI's ``instructions`` are not carried over a chain either, only this request's count)."""
    only(body, _READ, "request", _NOTHING)
    for field, values in _ACCEPTED.items():
        if body.get(field) is not None and body[field] not in values:
            raise Untranslatable(field, f"{body[field]!r} cannot be translated (only {values[0]!r})")
    include = body.get("include") or []
    if not isinstance(include, list):
        raise Untranslatable("include", "not a list")
    for included in include:
        if included not in _INCLUDABLE:
            raise Untranslatable(f"include: {included}", "an OpenAI-only output")
    model = body.get("model")
    if not isinstance(model, str):
        raise Untranslatable("model", "missing or not a string")
    messages, system = read_input(body.get("input", []))
    # Consecutive items of one role are one turn (an assistant's reasoning, text and calls; the outputs of
    # several calls), across the boundary with the kept conversation too.
    messages = merge_turns([*(previous or []), *messages])
    name_results(messages)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise Untranslatable("instructions", "not a string")
    request = ChatRequest(model=model, messages=messages,
                          system=([Text(instructions)] if instructions else []) + system,
                          tools=[_tool(tool, f"tools[{n}]") for n, tool in enumerate(body.get("tools") or [])],
                          tool_choice=_tool_choice(body.get("tool_choice")),
                          parallel_tool_calls=body.get("parallel_tool_calls"),
                          response_format=_format((body.get("text") or {})),
                          stream=bool(body.get("stream")))
    for field, attribute in _SAMPLING.items():
        if body.get(field) is not None:
            setattr(request, attribute, body[field])
    return request


def _tool(tool: Any, where: str) -> ToolSpec:
    kind = tool.get("type") if isinstance(tool, dict) else None
    if kind != "function":
        raise Untranslatable(f"{where}.type", f"{kind!r}: a tool OpenAI hosts")
    only(tool, ("type", "name", "description", "parameters", "strict", "defer_loading", "allowed_callers"), where,
         _NOTHING)
    if tool.get("defer_loading"):
        raise Untranslatable(f"{where}.defer_loading", "OpenAI's tool search")
    if tool.get("allowed_callers") not in (None, ["direct"]):
        raise Untranslatable(f"{where}.allowed_callers", "OpenAI's programmatic tool calling")
    name = tool.get("name")
    if not isinstance(name, str):
        raise Untranslatable(f"{where}.name", "missing or not a string")
    return ToolSpec(name, tool.get("description"), tool.get("parameters"))


def _tool_choice(choice: Any) -> str | None:
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        only(choice, ("type", "name"), "tool_choice", _NOTHING)
        return choice["name"]
    kind = choice.get("type") if isinstance(choice, dict) else choice
    raise Untranslatable("tool_choice", f"{kind!r} cannot be translated")


def _format(text: Any) -> dict[str, Any] | None:
    only(text, ("format", "verbosity"), "text", _NOTHING)
    spec = text.get("format")
    if spec is None:
        return None
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "text":
        only(spec, ("type",), "text.format", _NOTHING)
        return None
    if kind == "json_object":
        only(spec, ("type",), "text.format", _NOTHING)
        return {"type": "json_object"}
    if kind == "json_schema":
        only(spec, ("type", "name", "schema", "strict"), "text.format", _NOTHING)
        return {"type": "json_schema", "name": spec.get("name"), "schema": spec.get("schema"),
                "strict": spec.get("strict")}
    raise Untranslatable("text.format.type", f"{kind!r} cannot be translated")
