"""Relays a Gemini stream: SSE (``alt=sse``) or a streamed JSON array. Every chunk is a complete
``GenerateContentResponse``; a function call arrives whole in one chunk. Chunks holding a function call
are held until the candidate finishes (or the stream ends), then replayed byte for byte or replaced by
one chunk with the refusal text and ``finishReason: "STOP"``.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Iterable

from ..exchange import Exchange, Response, ToolCall
from ..streaming.jsonarray import JSONArrayDecoder
from ..streaming.sse import encode_event
from .base import StreamRelay, compact_json
from .gemini_format import field, function_calls, parts_text, refuse_candidate, response_view


class GeminiStreamRelay(StreamRelay):
    def __init__(self, exchange: Exchange, decide: Any, sse: bool):
        self._sse = sse
        super().__init__(exchange)
        self._decide = decide
        self._held: list[Any] = []
        self._calls: list[ToolCall] = []
        self._last: dict[str, Any] | None = None
        self._sent_elements = 0

    @property  # type: ignore[override]
    def framing(self) -> str:
        return "sse" if self._sse else "json"

    def make_decoder(self) -> Any:
        return super().make_decoder() if self._sse else JSONArrayDecoder()

    def feed(self, event: Any) -> Iterable[bytes]:
        try:
            data = json.loads(event.data) if event.data else None
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("candidates"), list):
            if isinstance(data, dict) and (field(data, "usageMetadata") or field(data, "modelVersion")):
                self._update(response_view(data))
            return self._pass(event)
        view = response_view(data)
        self._update(view)
        self.ended = self.ended or bool(view.finish_reason)
        candidate = data["candidates"][0] if data["candidates"] else {}
        parts = (field(candidate, "content") or {}).get("parts")
        calls = function_calls(parts)
        if calls:
            self._held.append(event)
            self._calls += calls
            self._last = data
        elif not self._held and parts_text(parts):
            self.text.append(parts_text(parts) or "")
        if self._held:
            if not calls:
                self._held.append(event)
            return self._settle() if view.finish_reason else []
        return self._pass(event)

    def finish(self) -> Iterable[bytes]:
        out = self._settle() if self._held else []
        self.sync_view()
        return out

    def error_bytes(self, message: str) -> bytes:
        error = {"error": {"code": 502, "message": message, "status": "UNAVAILABLE"}}
        if self._sse:
            return encode_event(compact_json(error))
        return (b"," if self._sent_elements else b"[") + compact_json(error).encode() + b"]"

    def _pass(self, event: Any) -> list[bytes]:
        if event.data is not None:
            self._sent_elements += 1
        return [event.raw]

    def _update(self, view: Response) -> None:
        if view.usage.input_tokens is not None or view.usage.output_tokens is not None:
            self.response.usage = view.usage
        self.response.model = view.model or self.response.model
        if view.finish_reason:
            self.response.finish_reason = view.finish_reason

    def _settle(self) -> list[bytes]:
        held, calls, last = self._held, self._calls, self._last
        self._held, self._calls, self._last = [], [], None
        refusal = self._decide(calls)
        if refusal is None:
            self.response.tool_calls += calls
            return [raw for event in held for raw in self._pass(event)]
        self.text.append(refusal)
        self.response.finish_reason = "STOP"
        chunk = copy.deepcopy(last) or {"candidates": [{}]}
        chunk["candidates"] = chunk["candidates"][:1]
        refuse_candidate(chunk["candidates"][0], refusal)
        self._sent_elements += 1
        if self._sse:
            return [encode_event(compact_json(chunk))]
        return [held[0].prefix + compact_json(chunk).encode()]
