"""Bedrock Converse wire data (provider-wire-formats.md section 5), with an encoder of its own for the
event-stream frames (independent of the proxy's codec, which the tests check against botocore)."""
from __future__ import annotations

import binascii
import json
import struct


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    head = b""
    for name, value in headers.items():
        raw = value.encode()
        head += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(raw)) + raw
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + head + payload
    return body + struct.pack(">I", binascii.crc32(body) & 0xFFFFFFFF)


def event(kind: str, payload: dict) -> bytes:
    return frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
                 json.dumps(payload).encode())


def exception(kind: str, message: str) -> bytes:
    return frame({":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
                 json.dumps({"message": message}).encode())


def converse(content: list[dict], stop: str = "end_turn") -> dict:
    return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
            "usage": {"inputTokens": 400, "outputTokens": 60, "totalTokens": 460}, "metrics": {"latencyMs": 1200}}


def tool_use(name: str, arguments: dict, call_id: str = "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q") -> dict:
    return {"toolUse": {"toolUseId": call_id, "name": name, "input": arguments}}


def _end(stop: str) -> list[bytes]:
    return [event("messageStop", {"stopReason": stop, "p": "abcdefghij"}),
            event("metadata", {"usage": {"inputTokens": 400, "outputTokens": 60, "totalTokens": 460},
                               "metrics": {"latencyMs": 1200}})]


def text_stream(pieces: list[str]) -> list[bytes]:
    out = [event("messageStart", {"role": "assistant"})]
    out += [event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}) for p in pieces]
    return out + [event("contentBlockStop", {"contentBlockIndex": 0}), *_end("end_turn")]


def tool_stream(name: str, fragments: list[str], text: str = "Checking.",
                call_id: str = "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q") -> list[bytes]:
    out = [event("messageStart", {"role": "assistant"}),
           event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}}),
           event("contentBlockStop", {"contentBlockIndex": 0}),
           event("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": call_id,
                                                                                      "name": name}}})]
    out += [event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": f}}})
            for f in fragments]
    return out + [event("contentBlockStop", {"contentBlockIndex": 1}), *_end("tool_use")]


def server_tool_use(name: str, arguments: dict, call_id: str = "tooluse_srv_0001") -> dict:
    """A tool the provider ran itself (a ``systemTool`` such as nova_grounding), as the answer shows it."""
    return {"toolUse": {"toolUseId": call_id, "name": name, "input": arguments, "type": "server_tool_use"}}


def server_tool_result(content: list[dict], call_id: str = "tooluse_srv_0001", kind: str = "nova_grounding") -> dict:
    return {"toolResult": {"toolUseId": call_id, "content": content, "status": "success", "type": kind}}


def web_citation(url: str, quoted: str) -> dict:
    return {"citationsContent": {"content": [{"text": "It is sunny."}], "citations": [
        {"title": "page", "source": url, "sourceContent": [{"text": quoted}], "location": {"web": {"url": url}}}]}}


def stream_of(*blocks: list[bytes], stop: str = "tool_use") -> list[bytes]:
    """messageStart, the given blocks' frames, messageStop and metadata."""
    return [event("messageStart", {"role": "assistant"}), *(f for block in blocks for f in block), *_end(stop)]


def tool_use_frames(index: int, name: str, fragments: list[str], call_id: str = "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                    server: bool = False) -> list[bytes]:
    start = {"toolUseId": call_id, "name": name, **({"type": "server_tool_use"} if server else {})}
    out = [event("contentBlockStart", {"contentBlockIndex": index, "start": {"toolUse": start}})]
    out += [event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": f}}})
            for f in fragments]
    return out + [event("contentBlockStop", {"contentBlockIndex": index})]


def tool_result_frames(index: int, content: list[dict], call_id: str = "tooluse_srv_0001",
                       kind: str = "nova_grounding") -> list[bytes]:
    """A provider-executed tool's result, streamed (contentBlockStart toolResult, then its content)."""
    return [event("contentBlockStart", {"contentBlockIndex": index, "start": {"toolResult": {
                "toolUseId": call_id, "type": kind, "status": "success"}}}),
            event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolResult": content}}),
            event("contentBlockStop", {"contentBlockIndex": index})]


def raw_frame(headers: list[tuple[str, int, object]], payload: bytes) -> bytes:
    """A frame with any headers, in order, repeated or of any value type (7 string, 6 bytes, 4 int32, 0/1 bool):
    for hostile streams the proxy's own encoder would never write."""
    head = b""
    for name, kind, value in headers:
        head += bytes([len(name.encode())]) + name.encode() + bytes([kind])
        if kind in (6, 7):
            raw = value if isinstance(value, bytes) else str(value).encode()
            head += struct.pack(">H", len(raw)) + raw
        elif kind == 4:
            head += struct.pack(">i", int(value))  # type: ignore[call-overload]
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + head + payload
    return body + struct.pack(">I", binascii.crc32(body) & 0xFFFFFFFF)
