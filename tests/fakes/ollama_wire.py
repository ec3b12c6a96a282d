"""Ollama native API wire data (provider-wire-formats.md section 11; ollama docs/api.md): answers of
``/api/chat`` and ``/api/generate``, plain and as NDJSON streams, written as the Go server writes them."""
from __future__ import annotations

import json
from typing import Any

from tests.fakes.server import Reply

MODEL = "llama3.2"
CREATED = "2025-07-07T20:22:19.184789Z"
#: The last line's counts and durations (nanoseconds), as a server reports them.
DONE = {"done_reason": "stop", "done": True, "total_duration": 182242375, "load_duration": 41295167,
        "prompt_eval_count": 169, "prompt_eval_duration": 24573166, "eval_count": 15, "eval_duration": 115959084}


def line(value: dict) -> bytes:
    return (json.dumps(value, separators=(",", ":")) + "\n").encode()


def tool_call(name: str, arguments: dict, call_id: str | None = "call_ab12cd34", index: int = 0) -> dict:
    call: dict[str, Any] = {"function": {"index": index, "name": name, "arguments": arguments}}
    return {"id": call_id, **call} if call_id else call


def message(content: str = "", calls: list[dict] | None = None, thinking: str | None = None) -> dict:
    out: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking is not None:
        out["thinking"] = thinking
    if calls:
        out["tool_calls"] = calls
    return out


def chat(content: str = "", calls: list[dict] | None = None, model: str = MODEL) -> dict:
    """A non-streamed ``/api/chat`` answer."""
    return {"model": model, "created_at": CREATED, "message": message(content, calls), **DONE}


def chat_lines(pieces: list[str], calls: list[list[dict]] | None = None, model: str = MODEL) -> list[dict]:
    """The lines of a streamed ``/api/chat`` answer: a line per text piece, a line per group of whole calls,
    then the last line (empty content, ``done: true``, the counts)."""
    lines = [{"model": model, "created_at": CREATED, "message": message(piece), "done": False} for piece in pieces]
    lines += [{"model": model, "created_at": CREATED, "message": message("", group), "done": False}
              for group in calls or ()]
    return lines + [{"model": model, "created_at": CREATED, "message": message(""), **DONE}]


def generate(text: str, model: str = MODEL) -> dict:
    return {"model": model, "created_at": CREATED, "response": text, **DONE, "context": [1, 2, 3]}


def generate_lines(pieces: list[str], model: str = MODEL) -> list[dict]:
    lines = [{"model": model, "created_at": CREATED, "response": piece, "done": False} for piece in pieces]
    return lines + [{"model": model, "created_at": CREATED, "response": "", **DONE, "context": [1, 2, 3]}]


def ndjson_reply(lines: list[dict], chunks: list[bytes] | None = None, **kwargs: Any) -> Reply:
    """A streamed answer: one chunk per line, or the given chunks (the same bytes cut elsewhere)."""
    return Reply(200, {"Content-Type": "application/x-ndjson"}, chunks or [line(value) for value in lines],
                 **kwargs)


def cut(lines: list[dict], sizes: list[int]) -> list[bytes]:
    """The stream's bytes cut into chunks of the given sizes (cycled), wherever that falls."""
    data, out, at, position = b"".join(line(value) for value in lines), [], 0, 0
    while at < len(data):
        size = sizes[position % len(sizes)]
        out.append(data[at:at + size])
        at, position = at + size, position + 1
    return out


TAGS = {"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest", "modified_at": "2025-05-04T17:37:44Z",
                    "size": 2019393189, "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
                    "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                                "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}}]}
SHOW = {"modelfile": "FROM llama3.2:latest", "parameters": 'stop "<|eot_id|>"', "template": "{{ .Prompt }}",
        "details": TAGS["models"][0]["details"],
        "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
        "capabilities": ["completion", "tools"], "modified_at": "2025-05-04T17:37:44Z"}
