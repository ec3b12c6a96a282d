"""Cohere Chat v2 wire data (provider-wire-formats.md section 4)."""
from __future__ import annotations

import json

USAGE = {"billed_units": {"input_tokens": 37, "output_tokens": 28},
         "tokens": {"input_tokens": 913, "output_tokens": 83}}


def response(text: str | None = None, calls: list[dict] | None = None) -> dict:
    message: dict = {"role": "assistant"}
    if calls:
        message.update(tool_plan="I will look up the weather.", tool_calls=calls)
    if text is not None:
        message["content"] = [{"type": "text", "text": text}]
    return {"id": "c1", "finish_reason": "TOOL_CALL" if calls else "COMPLETE", "message": message, "usage": USAGE}


def tool_call(name: str, arguments: dict, call_id: str = "get_weather_p1t92w7gfgq7") -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def event(data: dict) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _start() -> bytes:
    return event({"id": "c1", "type": "message-start", "delta": {"message": {
        "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}})


def _end(reason: str) -> bytes:
    return event({"type": "message-end", "delta": {"finish_reason": reason, "usage": USAGE}})


def text_stream(pieces: list[str]) -> list[bytes]:
    out = [_start(), event({"type": "content-start", "index": 0, "delta": {"message": {
        "content": {"type": "text", "text": ""}}}})]
    out += [event({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": p}}}})
            for p in pieces]
    return out + [event({"type": "content-end", "index": 0}), _end("COMPLETE")]


def tool_stream(name: str, fragments: list[str], call_id: str = "get_weather_p1t92w7gfgq7",
                start_arguments: str = "") -> list[bytes]:
    """A streamed tool call; ``start_arguments`` are the arguments the start event already carries."""
    return [_start(), event({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will"}}}),
            *tool_call_events(0, name, fragments, call_id, start_arguments), _end("TOOL_CALL")]


def tool_call_events(index: int, name: str, fragments: list[str], call_id: str = "get_weather_p1t92w7gfgq7",
                     start_arguments: str = "") -> list[bytes]:
    out = [event({"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls": {
        "id": call_id, "type": "function", "function": {"name": name, "arguments": start_arguments}}}}})]
    out += [event({"type": "tool-call-delta", "index": index, "delta": {"message": {"tool_calls": {
        "function": {"arguments": f}}}}}) for f in fragments]
    return out + [event({"type": "tool-call-end", "index": index})]


def stream(*events: bytes, reason: str = "TOOL_CALL") -> list[bytes]:
    """A whole stream around the given events (message-start ... message-end)."""
    return [_start(), *events, _end(reason)]
