"""Azure OpenAI's wire data (provider-wire-formats.md section 9): OpenAI's shapes plus Azure's content-filter
annotations, and the stream's first chunk that carries only the prompt's filter results (empty id, object and
model, ``created: 0``, no choices)."""
from __future__ import annotations

import json
from typing import Any

from tests.fakes import openai_wire, responses_wire

#: Azure answers name the model the deployment runs (a dated version), not the deployment.
MODEL = "gpt-4o-2024-11-20"
SAFE = {"filtered": False, "severity": "safe"}
#: One ``content_filter_results`` object as Azure's default filter reports it.
FILTERS = {"hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": SAFE,
           "protected_material_text": {"filtered": False, "detected": False},
           "protected_material_code": {"filtered": False, "detected": True, "citation": {
               "URL": "https://github.com/example/repo", "license": "MIT"}}}
PROMPT_FILTERS = [{"prompt_index": 0, "content_filter_results": {
    "hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": SAFE,
    "jailbreak": {"filtered": False, "detected": False}, "profanity": {"filtered": False, "detected": False}}}]


def completion(content: str | None = "Hello!", tool_calls: list[dict] | None = None,
               usage: tuple[int, int] = (44, 16)) -> dict:
    answer = openai_wire.completion(content, tool_calls, usage=usage)
    answer.pop("service_tier")
    for choice in answer["choices"]:
        choice["content_filter_results"] = FILTERS
    return {**answer, "model": MODEL, "prompt_filter_results": PROMPT_FILTERS}


def _annotated(event: bytes) -> bytes:
    """An OpenAI stream event as Azure sends it: the real model, each choice with its filter results."""
    data = event.decode().removeprefix("data: ").strip()
    if data == "[DONE]":
        return event
    chunk = json.loads(data)
    chunk["model"] = MODEL
    for choice in chunk["choices"]:
        choice["content_filter_results"] = {} if "role" in choice["delta"] else {
            key: FILTERS[key] for key in ("hate", "self_harm", "sexual", "violence")}
    return openai_wire.event(chunk)


def prompt_filter_chunk() -> bytes:
    """The first chunk of every Azure stream."""
    return openai_wire.event({"id": "", "object": "", "created": 0, "model": "", "prompt_filter_results":
                              PROMPT_FILTERS, "choices": [], "usage": None})


def annotation_chunk(finish_reason: str | None = None) -> bytes:
    """A chunk of the asynchronous filter: no delta, the results for a stretch of the answer already sent."""
    return openai_wire.event({"id": "", "object": "", "created": 0, "model": "", "choices": [{
        "index": 0, "finish_reason": finish_reason, "content_filter_results": FILTERS,
        "content_filter_offsets": {"check_offset": 0, "start_offset": 0, "end_offset": 12}}]})


def text_stream(pieces: list[str]) -> list[bytes]:
    events = [_annotated(event) for event in openai_wire.text_stream(pieces)]
    return [prompt_filter_chunk(), *events[:-1], annotation_chunk(), events[-1]]


def tool_stream(calls: list[tuple[str, str, list[str]]]) -> list[bytes]:
    return [prompt_filter_chunk(), *(_annotated(event) for event in openai_wire.tool_stream(calls))]


def embeddings(count: int = 1) -> dict:
    return {"object": "list", "model": "text-embedding-3-small", "usage": {"prompt_tokens": 5, "total_tokens": 5},
            "data": [{"object": "embedding", "index": i, "embedding": [0.01, -0.02, 0.03]} for i in range(count)]}


def response(output: list[dict]) -> dict:
    """A Responses API answer as Azure sends it (the real model named)."""
    return responses_wire.response(output, model=MODEL)


def response_stream(output: list[dict]) -> list[bytes]:
    return responses_wire.stream(output, model=MODEL)


def error(code: str, message: str, status: int = 400, **extra: Any) -> dict:
    return {"error": {"code": code, "message": message, "param": None, "type": None, "status": status, **extra}}
