"""Relays a Gemini stream: SSE (``alt=sse``) or a streamed JSON array. Every chunk is a complete
``GenerateContentResponse`` that may carry several candidates; a function call arrives whole in one chunk.

From the first chunk holding a function call (in any candidate), chunks are held until every candidate with
calls has finished (or the stream ends). Each candidate's calls are then decided with the provider-executed
results that candidate read (code execution, server tool responses, grounding, URL context). If none is
refused the held chunks are replayed byte for byte; otherwise they are re-sent without the refused
candidates' function calls, followed by one chunk per refused candidate with the refusal text and
``finishReason: "STOP"``. Anything that is not a ``GenerateContentResponse`` ends the stream with an error.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Iterable

from ..exchange import Exchange, ToolCall, ToolResult
from ..streaming.jsonarray import JSONArrayDecoder
from ..streaming.sse import encode_event
from .base import StreamRelay, compact_json
from .content import parts_text
from .gemini_format import CallAssembler, field, key_of, refuse_candidate, response_view
from .gemini_tools import metadata_results, parts_results

_Held = tuple[Any, "dict[str, Any] | None"]


def candidate_key(candidate: dict[str, Any]) -> int:
    index = field(candidate, "index")
    return index if isinstance(index, int) else 0  # proto3 JSON leaves out index 0


class GeminiStreamRelay(StreamRelay):
    def __init__(self, exchange: Exchange, decide: Any, sse: bool):
        self._sse = sse
        super().__init__(exchange)
        self._decide = decide
        self._held: list[_Held] | None = None
        self._calls: dict[int, list[ToolCall]] = {}
        self._assemblers: dict[int, CallAssembler] = {}  # a call may go on in later chunks (partialArgs)
        self._part_results: dict[int, list[ToolResult]] = {}
        self._metadata_results: dict[int, list[ToolResult]] = {}
        self._seen: set[int] = set()
        self._finished: set[int] = set()
        self._last: dict[str, Any] | None = None
        self._sent_elements = 0

    @property  # type: ignore[override]
    def framing(self) -> str:
        return "sse" if self._sse else "json"

    def make_decoder(self) -> Any:
        return super().make_decoder() if self._sse else JSONArrayDecoder()

    def feed(self, event: Any) -> Iterable[bytes]:
        data = None
        if event.data is not None:
            data = json.loads(event.data)  # a ValueError ends the stream with an error: never relayed unread
            if not isinstance(data, dict):
                raise ValueError("a stream chunk that is not a GenerateContentResponse")
            self._read(data)
        if self._held is None and not self._calls:
            return self._emit(event, data)
        if self._held is None:
            self._held = []
        self._held.append((event, data))
        complete = all(key in self._finished and not self._assemblers[key].continuing for key in self._calls)
        return self._settle() if complete else []

    def finish(self) -> Iterable[bytes]:
        out = self._settle() if self._held is not None else []
        self.sync_view()
        return out

    def error_bytes(self, message: str) -> bytes:
        error = {"error": {"code": 502, "message": message, "status": "UNAVAILABLE"}}
        if self._sse:
            return encode_event(compact_json(error))
        return (b"," if self._sent_elements else b"[") + compact_json(error).encode() + b"]"

    # -- reading ---------------------------------------------------------------------------------
    def _read(self, data: dict[str, Any]) -> None:
        view = response_view(data)
        if view.usage.input_tokens is not None or view.usage.output_tokens is not None:
            self.response.usage = view.usage
        self.response.model = view.model or self.response.model
        candidates = data.get("candidates")
        if candidates is None:
            return
        if not isinstance(candidates, list) or not all(isinstance(c, dict) for c in candidates):
            raise ValueError("candidates that are not Candidate objects")
        self._last = data
        for candidate in candidates:
            key = candidate_key(candidate)
            parts = (field(candidate, "content") or {}).get("parts")
            calls = self._assemblers.setdefault(key, CallAssembler()).add(parts)
            self._part_results.setdefault(key, []).extend(parts_results(parts))
            metadata = metadata_results(candidate)
            if metadata:  # grounding metadata is repeated (cumulatively) on later chunks: the last one counts
                self._metadata_results[key] = metadata
            if calls:
                self._calls.setdefault(key, []).extend(calls)
            self._seen.add(key)
            reason = field(candidate, "finishReason")
            if reason:
                self._finished.add(key)
                if key == 0:
                    self.response.finish_reason = reason
        self.ended = bool(self._seen) and self._seen <= self._finished

    # -- writing ---------------------------------------------------------------------------------
    def _emit(self, event: Any, data: dict[str, Any] | None) -> list[bytes]:
        if data is not None:
            self._sent_elements += 1
            self._keep_text(data)
        return [event.raw]

    def _keep_text(self, data: dict[str, Any]) -> None:
        for candidate in data.get("candidates") or ():
            if candidate_key(candidate) == 0:
                self.text.append(parts_text((field(candidate, "content") or {}).get("parts")) or "")

    def _encode(self, chunk: dict[str, Any], prefix: bytes) -> bytes:
        self._sent_elements += 1
        self._keep_text(chunk)
        if self._sse:
            return encode_event(compact_json(chunk))
        return (prefix if self._sent_elements == 1 else b",") + compact_json(chunk).encode()

    def _settle(self) -> list[bytes]:
        held, calls = self._held or [], self._calls
        self._held, self._calls = None, {}
        refused: dict[int, str] = {}
        for key, group in calls.items():
            results = self._part_results.pop(key, []) + self._metadata_results.pop(key, [])
            refusal = self._decide(group, results) if results else self._decide(group)
            if refusal is None:
                self.response.tool_calls += group
            else:
                refused[key] = refusal
        if not refused:
            return [raw for event, data in held for raw in self._emit(event, data)]
        out, trailing = [], []
        prefix = next((getattr(event, "prefix", b"[") for event, data in held if data is not None), b"[")
        for event, data in held:
            if data is None:
                trailing.append(event.raw)  # the closing bracket (or a comment) comes after the refusals
                continue
            chunk = _without_calls(data, refused)
            if chunk is not None:
                out.append(self._encode(chunk, prefix))
        for key, refusal in refused.items():
            if key == 0:
                self.response.finish_reason = "STOP"
            out.append(self._encode(self._refusal_chunk(key, refusal), prefix))
        return out + trailing

    def _refusal_chunk(self, key: int, refusal: str) -> dict[str, Any]:
        chunk = {k: v for k, v in (self._last or {}).items() if k != "candidates"}
        candidate: dict[str, Any] = {"index": key} if key else {}
        refuse_candidate(candidate, refusal)
        chunk["candidates"] = [candidate]
        return chunk


def _without_calls(data: dict[str, Any], refused: dict[int, str]) -> dict[str, Any] | None:
    """A held chunk without the refused candidates' function calls; None when nothing is left of it."""
    chunk = copy.deepcopy(data)
    candidates = []
    for candidate in chunk.get("candidates") or ():
        if candidate_key(candidate) in refused:
            content = field(candidate, "content") or {}
            parts = [p for p in content.get("parts") or () if field(p, "functionCall") is None]
            for name in ("finishReason", "finishMessage"):
                candidate.pop(key_of(candidate, name), None)
            if not parts:
                continue
            candidate[key_of(candidate, "content")] = {**content, "parts": parts}
        candidates.append(candidate)
    if not candidates:
        return None
    chunk["candidates"] = candidates
    return chunk
