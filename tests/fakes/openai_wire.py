"""Byte-faithful OpenAI Chat Completions wire data (provider-wire-formats.md sections 1 and 6.1)."""
from __future__ import annotations

import json
from typing import Any

CREATED = 1727346182
MODEL = "gpt-4o-2024-08-06"


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def completion(content: str | None = "Hello!", tool_calls: list[dict] | None = None,
               finish_reason: str | None = None, usage: tuple[int, int] = (44, 16)) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-x1", "object": "chat.completion", "created": CREATED, "model": MODEL,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop")}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage),
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0,
                                                "rejected_prediction_tokens": 0}},
        "service_tier": "default", "system_fingerprint": "fp_1",
    }


def tool_call(name: str, arguments: dict, call_id: str = "call_abc123") -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def event(chunk: dict | str) -> bytes:
    return f"data: {chunk if isinstance(chunk, str) else compact(chunk)}\n\n".encode()


def _chunk(delta: dict, finish_reason: str | None = None, usage_null: bool = False) -> dict:
    chunk = {"id": "chatcmpl-ABfw", "object": "chat.completion.chunk", "created": CREATED, "model": MODEL,
             "system_fingerprint": "fp_143bb8492c",
             "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
    if usage_null:
        chunk["usage"] = None
    return chunk


def usage_chunk(prompt: int = 44, completion_tokens: int = 16) -> dict:
    return {"id": "chatcmpl-ABfw", "object": "chat.completion.chunk", "created": CREATED, "model": MODEL,
            "system_fingerprint": "fp_143bb8492c", "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
                      "total_tokens": prompt + completion_tokens}}


def text_stream(pieces: list[str], include_usage: bool = True) -> list[bytes]:
    events = [event(_chunk({"role": "assistant", "content": "", "refusal": None}, usage_null=include_usage))]
    events += [event(_chunk({"content": piece}, usage_null=include_usage)) for piece in pieces]
    events.append(event(_chunk({}, "stop", usage_null=include_usage)))
    if include_usage:
        events.append(event(usage_chunk()))
    events.append(b"data: [DONE]\n\n")
    return events


def tool_stream(calls: list[tuple[str, str, list[str]]], text: list[str] = (), include_usage: bool = True
                ) -> list[bytes]:
    """``calls``: (id, name, argument fragments) per parallel call, streamed OpenAI-style by index."""
    events = [event(_chunk({"role": "assistant", "content": None if not text else "", "refusal": None},
                           usage_null=include_usage))]
    events += [event(_chunk({"content": piece}, usage_null=include_usage)) for piece in text]
    for index, (call_id, name, fragments) in enumerate(calls):
        start = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        events.append(event(_chunk({"tool_calls": [start]}, usage_null=include_usage)))
        for fragment in fragments:
            piece = {"index": index, "function": {"arguments": fragment}}
            events.append(event(_chunk({"tool_calls": [piece]}, usage_null=include_usage)))
    events.append(event(_chunk({}, "tool_calls", usage_null=include_usage)))
    if include_usage:
        events.append(event(usage_chunk()))
    events.append(b"data: [DONE]\n\n")
    return events


def mistral_tool_stream(name: str, arguments: dict, call_id: str = "D681PevKs") -> list[bytes]:
    """Mistral: the whole call in one delta, with finish_reason and usage (wire doc 6.1)."""
    first = {"id": "m1", "object": "chat.completion.chunk", "created": 1, "model": "mistral-large-latest",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    call = {"id": "m1", "object": "chat.completion.chunk", "created": 1, "model": "mistral-large-latest",
            "choices": [{"index": 0, "delta": {"tool_calls": [{"id": call_id, "function": {
                "name": name, "arguments": json.dumps(arguments)}, "index": 0}]}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 10, "total_tokens": 30, "completion_tokens": 20}}
    return [event(first), event(call), b"data: [DONE]\n\n"]


def mistral_text_stream(pieces: list[str]) -> list[bytes]:
    base = {"id": "m1", "object": "chat.completion.chunk", "created": 1, "model": "mistral-large-latest"}
    events = [event({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                          "finish_reason": None}]})]
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece},
                                      "finish_reason": "stop" if last else None}]}
        if last:
            chunk["usage"] = {"prompt_tokens": 10, "total_tokens": 15, "completion_tokens": 5}
        events.append(event(chunk))
    events.append(b"data: [DONE]\n\n")
    return events


def error_body(message: str, type_: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


# -- legacy function calls, custom tool calls, several choices, any fragmentation ----------------------------
def custom_tool_call(name: str, text: str, call_id: str = "call_cst123") -> dict:
    """A call of a custom (free-form) tool, as ``ChatCompletionMessageCustomToolCall``."""
    return {"id": call_id, "type": "custom", "custom": {"name": name, "input": text}}


def function_call_completion(name: str, arguments: dict) -> dict:
    """A legacy answer: ``message.function_call`` and ``finish_reason: "function_call"``."""
    body = completion(None, finish_reason="function_call")
    body["choices"][0]["message"]["function_call"] = {"name": name, "arguments": json.dumps(arguments)}
    return body


def choices_completion(messages: list[dict], finish_reasons: list[str]) -> dict:
    """An answer with one choice per message (``n`` > 1)."""
    body = completion()
    body["choices"] = [{"index": i, "message": {"role": "assistant", "content": None, "refusal": None,
                                                "annotations": [], **message},
                        "logprobs": None, "finish_reason": reason}
                       for i, (message, reason) in enumerate(zip(messages, finish_reasons))]
    return body


def choice(delta: dict, index: int = 0, finish_reason: str | None = None) -> dict:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def chunk(*choices: dict, usage: dict | None = None) -> dict:
    """A chunk holding any choices (several in one chunk, any index)."""
    body = {"id": "chatcmpl-ABfw", "object": "chat.completion.chunk", "created": CREATED, "model": MODEL,
            "system_fingerprint": "fp_143bb8492c", "choices": list(choices)}
    if usage is not None:
        body["usage"] = usage
    return body


def chunks_stream(chunks: list[dict], usage: bool = True) -> list[bytes]:
    """Chunks as events, then the usage chunk and ``[DONE]``."""
    return [event(c) for c in chunks] + ([event(usage_chunk())] if usage else []) + [b"data: [DONE]\n\n"]


def fragment(index: int, call_id: str | None = None, name: str | None = None, arguments: str | None = None,
             kind: str = "function") -> dict:
    """One streamed tool-call fragment; ``kind="custom"`` puts name and ``arguments`` (its input) in
    ``custom`` as custom tool calls stream."""
    piece: dict = {"index": index}
    if call_id is not None:
        piece.update({"id": call_id, "type": kind})
    body: dict = {}
    if name is not None:
        body["name"] = name
    if arguments is not None:
        body["input" if kind == "custom" else "arguments"] = arguments
    piece[kind] = body
    return piece


def function_call_stream(name_fragments: list[str], argument_fragments: list[str]) -> list[bytes]:
    """A legacy streamed answer: ``delta.function_call`` fragments, ``finish_reason: "function_call"``."""
    chunks = [chunk(choice({"role": "assistant", "content": None, "refusal": None}))]
    chunks += [chunk(choice({"function_call": {"name": piece, "arguments": ""}})) for piece in name_fragments]
    chunks += [chunk(choice({"function_call": {"arguments": piece}})) for piece in argument_fragments]
    chunks.append(chunk(choice({}, finish_reason="function_call")))
    return chunks_stream(chunks)
