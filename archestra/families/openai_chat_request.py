"""A chat completions request body <-> the neutral :class:`ChatRequest`.

Every top-level field is either read, listed in :data:`DROPPED_FIELDS` (it changes nothing the model reads),
accepted at its inert default (``n: 1``, ``logprobs: false``...) or refused with :class:`Untranslatable`:
an unknown field is refused too, so a new OpenAI feature never passes to another family unseen.
"""
from __future__ import annotations

from typing import Any

from .neutral import ChatRequest, ToolSpec, Untranslatable
from .openai_chat_messages import read_messages, write_messages

#: Fields left out when translating, and why each may be.
DROPPED_FIELDS = frozenset({
    # Who asks and how the answer is stored or billed: nothing the model reads.
    "user", "metadata", "store", "service_tier", "safety_identifier",
    "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options",
    # Sampling knobs other providers lack: they shape how tokens are drawn, not what the model is given.
    "seed", "frequency_penalty", "presence_penalty",
    # OpenAI's effort and length hints for its own reasoning models: other providers have no such knob.
    "reasoning_effort", "verbosity",
})
#: Fields of a function tool left out: ``strict`` asks OpenAI for schema-constrained arguments, which other
#: families cannot promise; the schema itself (what the model reads) is kept.
DROPPED_TOOL_FIELDS = frozenset({"strict"})
#: Fields accepted only at the value that changes nothing (the neutral form has one answer, no log
#: probabilities, text output only).
_INERT_VALUES: dict[str, tuple[Any, ...]] = {
    "n": (None, 1), "logprobs": (None, False), "top_logprobs": (None, 0), "modalities": (None, ["text"]),
    "audio": (None,), "prediction": (None,), "web_search_options": (None,), "functions": (None,),
    "function_call": (None,), "logit_bias": (None, {}), "moderation": (None,),
}
_READ = frozenset({"model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens",
                   "max_completion_tokens", "temperature", "top_p", "stop", "response_format", "stream",
                   "stream_options"})
_STREAM_OPTIONS = frozenset({"include_usage", "include_obfuscation"})  # obfuscation: padding, no content


def _tools(tools: Any) -> list[ToolSpec]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise Untranslatable("tools", "not a list")
    specs = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function" or set(tool) - {"type", "function"}:
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise Untranslatable(where, f"tool of type {kind!r}: only function tools translate")
        function = tool.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise Untranslatable(f"{where}.function", "a function tool needs a name")
        unknown = set(function) - {"name", "description", "parameters"} - DROPPED_TOOL_FIELDS
        if unknown:
            raise Untranslatable(f"{where}.function.{sorted(unknown)[0]}", "not translatable")
        specs.append(ToolSpec(function["name"], function.get("description"), function.get("parameters")))
    return specs


def _tool_choice(choice: Any) -> str | None:
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and set(choice) == {"type", "function"} \
            and isinstance(choice["function"], dict) and isinstance(choice["function"].get("name"), str):
        return choice["function"]["name"]
    raise Untranslatable("tool_choice", "only auto, none, required or one function translate")


def _stop(stop: Any) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise Untranslatable("stop", "neither a string nor a list of strings")
    return list(stops)


def _response_format(form: Any) -> dict[str, Any] | None:
    kind = form.get("type") if isinstance(form, dict) else None
    if form is None or kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    spec = form.get("json_schema") if kind == "json_schema" else None
    if isinstance(spec, dict) and isinstance(spec.get("name"), str) \
            and not set(spec) - {"name", "schema", "strict", "description"}:
        # The description is read by the model: kept (write_request gives it back).
        return {"type": "json_schema", **spec}
    raise Untranslatable("response_format", f"response format {kind!r} is not translatable")


def _stream_options(options: Any) -> bool:
    if options is None:
        return False
    if not isinstance(options, dict) or set(options) - _STREAM_OPTIONS:
        raise Untranslatable("stream_options", "only include_usage translates")
    return bool(options.get("include_usage"))


def read_request(body: dict[str, Any]) -> ChatRequest:
    for key, value in body.items():
        if key in _READ or key in DROPPED_FIELDS:
            continue
        if key not in _INERT_VALUES or value not in _INERT_VALUES[key]:
            raise Untranslatable(key, "not translatable to another API family")
    model = body.get("model")
    if not isinstance(model, str):
        raise Untranslatable("model", "missing")
    system, messages = read_messages(body.get("messages"))
    # max_completion_tokens replaced max_tokens (deprecated in its favour): when a client sends both, it wins.
    max_tokens = body.get("max_completion_tokens")
    return ChatRequest(
        model=model, messages=messages, system=system, tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")), parallel_tool_calls=body.get("parallel_tool_calls"),
        max_tokens=max_tokens if max_tokens is not None else body.get("max_tokens"),
        temperature=body.get("temperature"), top_p=body.get("top_p"), stop=_stop(body.get("stop")),
        response_format=_response_format(body.get("response_format")), stream=bool(body.get("stream")),
        include_usage=_stream_options(body.get("stream_options")),
    )


# -- writing --------------------------------------------------------------------------------------------------
def _write_tool(tool: ToolSpec) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    return {"type": "function", "function": function}


def _write_response_format(form: dict[str, Any]) -> dict[str, Any]:
    if form.get("type") == "json_schema":
        return {"type": "json_schema", "json_schema": {k: v for k, v in form.items() if k != "type"}}
    return dict(form)


def write_request(req: ChatRequest, max_tokens_field: str = "max_completion_tokens",
                  stream_options: bool = True) -> dict[str, Any]:
    """The body for an OpenAI-compatible upstream. ``max_tokens_field``: OpenAI's reasoning models take only
    ``max_completion_tokens``, some compatible servers only ``max_tokens``; ``stream_options``: some
    (Mistral) refuse the field and report usage anyway."""
    body: dict[str, Any] = {"model": req.model, "messages": write_messages(req.system, req.messages)}
    if req.tools:  # OpenAI refuses tool_choice and parallel_tool_calls without tools
        body["tools"] = [_write_tool(tool) for tool in req.tools]
        if req.tool_choice in ("auto", "none", "required"):
            body["tool_choice"] = req.tool_choice
        elif req.tool_choice is not None:
            body["tool_choice"] = {"type": "function", "function": {"name": req.tool_choice}}
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    optional = {max_tokens_field: req.max_tokens,
                "temperature": req.temperature, "top_p": req.top_p, "stop": req.stop or None,
                "response_format": _write_response_format(req.response_format) if req.response_format else None}
    body.update((key, value) for key, value in optional.items() if value is not None)
    if req.stream:
        body["stream"] = True
        if req.include_usage and stream_options:
            body["stream_options"] = {"include_usage": True}
    return body
