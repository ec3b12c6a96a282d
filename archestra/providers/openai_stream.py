"""Relays an OpenAI-style chat-completion SSE stream: text passes at once, tool calls wait for a decision.

Events carrying tool-call fragments are held, per choice, until the choice finishes (or the stream ends).
The complete calls then go to ``decide``: allowed, the held events are replayed byte for byte; refused,
they are replaced by one chunk holding the refusal text with ``finish_reason: "stop"``.
Handles OpenAI fragments keyed by ``index``, Mistral/Ollama whole calls (Ollama reuses ``index`` 0 for
parallel calls: a new ``id`` starts a new call), and usage either in its own chunk or in the last one.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from ..exchange import Exchange, ToolCall, Usage
from ..streaming.sse import SSEEvent, encode_event
from .base import ProxyError, StreamRelay, compact_json, parse_arguments

Decide = Callable[[list[ToolCall]], "str | None"]



class OpenAIStreamRelay(StreamRelay):
    def __init__(self, exchange: Exchange, decide: Decide, error_body: Callable[[ProxyError], dict]):
        super().__init__(exchange)
        self._decide = decide
        self._error_body = error_body
        self._role_sent: set[int] = set()
        self._held: dict[int, list[bytes]] = {}
        self._held_role: dict[int, bool] = {}
        self._last_chunk: dict[int, dict[str, Any]] = {}
        self._calls: dict[int, list[dict[str, Any]]] = {}
        self._slots: dict[int, dict[Any, int]] = {}

    # -- StreamRelay ---------------------------------------------------------------------------
    def feed(self, event: SSEEvent) -> Iterable[bytes]:
        if event.is_done:
            self.ended = True
            return [*self._release_all(), event.raw]
        chunk = self._json(event)
        choices = chunk.get("choices") if chunk is not None else None
        if not isinstance(choices, list) or not choices:
            return [event.raw]
        held_key: int | None = None
        finished: dict[int, str] = {}
        has_role = False
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            delta = choice.get("delta") or {}
            has_role = has_role or bool(delta.get("role"))
            content = delta.get("content")
            if index == 0 and isinstance(content, str):
                self.text.append(content)
            if delta.get("tool_calls"):
                self._accumulate(index, delta["tool_calls"])
                held_key = index
            if choice.get("finish_reason"):
                finished[index] = choice["finish_reason"]
                if index == 0:
                    self.response.finish_reason = choice["finish_reason"]
        if held_key is None:
            held_key = next((i for i in finished if i in self._held), None)
        if held_key is None:
            if has_role:
                self._role_sent.update(c.get("index", 0) for c in choices if isinstance(c, dict))
            return [event.raw]
        self._held.setdefault(held_key, []).append(event.raw)
        self._held_role[held_key] = self._held_role.get(held_key, False) or has_role
        self._last_chunk[held_key] = chunk
        if held_key in finished:
            return self._settle(held_key)
        return []

    def finish(self) -> Iterable[bytes]:
        out = list(self._release_all())
        self.sync_view()
        return out

    def error_bytes(self, message: str) -> bytes:
        # The openai SDK raises APIError on any data object with an "error" key, whatever the provider.
        error = {"message": message, "type": "upstream_error", "param": None, "code": None}
        return encode_event(compact_json({"error": error}))

    # -- internals -----------------------------------------------------------------------------
    def _json(self, event: SSEEvent) -> dict[str, Any] | None:
        if event.data is None:
            return None
        try:
            chunk = json.loads(event.data)
        except ValueError:
            return None
        if not isinstance(chunk, dict):
            return None
        if isinstance(chunk.get("model"), str):
            self.response.model = chunk["model"]
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.response.usage = Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        return chunk

    def _accumulate(self, key: int, fragments: Any) -> None:
        calls = self._calls.setdefault(key, [])
        slots = self._slots.setdefault(key, {})
        for fragment in fragments if isinstance(fragments, list) else ():
            if not isinstance(fragment, dict):
                continue
            function = fragment.get("function") or {}
            slot_key = fragment.get("index", len(calls))
            position = slots.get(slot_key)
            new_id = fragment.get("id")
            if position is None or (new_id and calls[position]["id"] and new_id != calls[position]["id"]):
                calls.append({"id": new_id, "name": "", "args": []})
                position = slots[slot_key] = len(calls) - 1
            call = calls[position]
            call["id"] = call["id"] or new_id
            call["name"] = call["name"] or function.get("name") or ""
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                call["args"].append(arguments)
            elif arguments is not None:
                call["args"].append(compact_json(arguments))

    def _complete_calls(self, key: int) -> list[ToolCall]:
        calls = []
        for call in self._calls.pop(key, []):
            arguments, raw = parse_arguments("".join(call["args"]))
            calls.append(ToolCall(call["id"], call["name"], arguments, raw))
        self._slots.pop(key, None)
        return calls

    def _settle(self, key: int) -> list[bytes]:
        calls = self._complete_calls(key)
        held = self._held.pop(key)
        had_role = self._held_role.pop(key, False)
        chunk = self._last_chunk.pop(key)
        refusal = self._decide(calls) if calls else None
        if refusal is None:
            self.response.tool_calls += calls
            if had_role:
                self._role_sent.add(key)
            return held
        if key == 0:
            self.text.append(refusal)
            self.response.finish_reason = "stop"
        return [self._refusal_event(key, chunk, refusal)]

    def _release_all(self) -> list[bytes]:
        out: list[bytes] = []
        for key in list(self._held):
            out += self._settle(key)
        return out

    def _refusal_event(self, key: int, chunk: dict[str, Any], text: str) -> bytes:
        delta: dict[str, Any] = {"content": text}
        if key not in self._role_sent:
            delta = {"role": "assistant", **delta}
            self._role_sent.add(key)
        replacement = {"index": key, "delta": delta, "logprobs": None, "finish_reason": "stop"}
        choices = [replacement if isinstance(c, dict) and c.get("index", 0) == key else c
                   for c in chunk.get("choices", [])]
        return encode_event(compact_json({**chunk, "choices": choices}))
