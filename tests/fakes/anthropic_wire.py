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


# -- provider-executed (server) tools: shapes of anthropic.types / anthropic.types.beta ------------------
def server_tool_use(name: str, arguments: dict, call_id: str = "srvtoolu_01") -> dict:
    return {"type": "server_tool_use", "id": call_id, "name": name, "input": arguments}


def mcp_tool_use(server: str, name: str, arguments: dict, call_id: str = "mcptoolu_01") -> dict:
    return {"type": "mcp_tool_use", "id": call_id, "name": name, "server_name": server, "input": arguments}


def web_search_result(call_id: str, title: str, url: str = "https://example.com/") -> dict:
    return {"type": "web_search_tool_result", "tool_use_id": call_id, "content": [
        {"type": "web_search_result", "url": url, "title": title, "encrypted_content": "EqwBCioIAhgC",
         "page_age": "April 30, 2025"}]}


def web_fetch_result(call_id: str, url: str, page: str) -> dict:
    return {"type": "web_fetch_tool_result", "tool_use_id": call_id, "content": {
        "type": "web_fetch_result", "url": url, "retrieved_at": "2025-09-10T12:00:00Z",
        "content": {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": page},
                    "title": "Page"}}}


def mcp_tool_result(call_id: str, text_value: str) -> dict:
    return {"type": "mcp_tool_result", "tool_use_id": call_id, "is_error": False,
            "content": [{"type": "text", "text": text_value}]}


def web_fetch_tool(**config: Any) -> dict:
    return {"type": "web_fetch_20250910", "name": "web_fetch", **config}


def mcp_server(name: str, url: str, token: str | None = "secret-token") -> dict:
    server = {"type": "url", "name": name, "url": url}
    if token:
        server["authorization_token"] = token
    return server


def answer_stream(content: list[dict], stop_reason: str = "tool_use", input_in_start: bool = False,
                  fragments: int = 2) -> list[bytes]:
    """Any answer content as the API streams it: text in text deltas; calls (``tool_use``,
    ``server_tool_use``, ``mcp_tool_use``) with ``"input": {}`` in the start event and their JSON in
    ``input_json_delta`` fragments (or, ``input_in_start``, the whole input in the start event and no
    fragment); result blocks whole in their start event."""
    out = [_start()]
    for index, block in enumerate(content):
        if block["type"] == "text":
            out += _text_block(index, [block["text"]])
            continue
        if block["type"] in ("tool_use", "server_tool_use", "mcp_tool_use"):
            arguments = json.dumps(block["input"], separators=(",", ":"))
            start = {**block, "input": block["input"] if input_in_start else {}}
            out.append(event("content_block_start", {"type": "content_block_start", "index": index,
                                                     "content_block": start}))
            step = max(1, -(-len(arguments) // fragments))
            pieces = [] if input_in_start else [arguments[i:i + step] for i in range(0, len(arguments), step)]
            out += [event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                  "delta": {"type": "input_json_delta", "partial_json": p}})
                    for p in pieces]
        else:
            out.append(event("content_block_start", {"type": "content_block_start", "index": index,
                                                     "content_block": block}))
        out.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
    return [*out, *_end(stop_reason)]
