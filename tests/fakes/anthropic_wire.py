"""Byte-faithful Anthropic Messages wire data (provider-wire-formats.md section 2)."""
from __future__ import annotations

import json
from typing import Any

MODEL = "claude-sonnet-4-20250514"


def message(content: list[dict], stop_reason: str = "end_turn", usage: tuple[int, int] = (377, 65)) -> dict:
    return {"id": "msg_01", "type": "message", "role": "assistant", "model": MODEL, "content": content,
            "stop_reason": stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "output_tokens": usage[1], "service_tier": "standard"}}


def text(value: str) -> dict:
    return {"type": "text", "text": value}


def tool_use(name: str, arguments: dict, call_id: str = "toolu_01A") -> dict:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def event(name: str, data: dict | str) -> bytes:
    body = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"event: {name}\ndata: {body}\n\n".encode()


def _start() -> bytes:
    return event("message_start", {"type": "message_start", "message": {
        "id": "msg_019Q1hrJbZG26Fb9BQhrkHEr", "type": "message", "role": "assistant", "model": MODEL,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 377, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "output_tokens": 1, "service_tier": "standard"}}})


def _text_block(index: int, pieces: list[str]) -> list[bytes]:
    out = [event("content_block_start", {"type": "content_block_start", "index": index,
                                         "content_block": {"type": "text", "text": ""}}),
           event("ping", '{"type": "ping"}')]
    out += [event("content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": {"type": "text_delta", "text": p}}) for p in pieces]
    out.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
    return out


def _tool_block(index: int, call_id: str, name: str, fragments: list[str]) -> list[bytes]:
    out = [event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
        "type": "tool_use", "id": call_id, "name": name, "caller": {"type": "direct"}, "input": {}}})]
    out += [event("content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": {"type": "input_json_delta", "partial_json": f}})
            for f in ["", *fragments]]
    out.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
    return out


def _end(stop_reason: str, output_tokens: int = 65) -> list[bytes]:
    return [event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason,
                                                                        "stop_sequence": None},
                                    "usage": {"output_tokens": output_tokens}}),
            event("message_stop", {"type": "message_stop"})]


def text_stream(pieces: list[str]) -> list[bytes]:
    return [_start(), *_text_block(0, pieces), *_end("end_turn")]


def tool_stream(name: str, fragments: list[str], call_id: str = "toolu_01NRLabsLyVHZPKxbKvkfSMn",
                preamble: list[str] = ("I",)) -> list[bytes]:
    """The doc's recorded capture shape: a text block, then a tool_use block streamed in fragments."""
    return [_start(), *_text_block(0, list(preamble)), *_tool_block(1, call_id, name, fragments), *_end("tool_use")]


def error(kind: str, text: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": text}, "request_id": "req_1"}
