"""Relays a Gemini stream: SSE (``alt=sse``) or a streamed JSON array. Every chunk is a complete
``GenerateContentResponse`` that may carry several candidates; a function call arrives whole in one chunk.

Each candidate is read through the family's table (``gemini_answer.CandidateReader``). From the first chunk
holding a call (in any candidate: a function call, code to execute, a server-side tool call), chunks are held
until every candidate with calls has finished (or the stream ends). Each candidate's calls are then decided,
in order, with the provider-executed results they came after (code execution, server tool responses,
grounding, URL context). If none is refused the held chunks are replayed byte for byte; otherwise they are
re-sent without the refused candidates' call parts, followed by one chunk per refused candidate with the
refusal text and ``finishReason: "STOP"``. Anything that is not a ``GenerateContentResponse``, and any field
the table does not hold, ends the stream with an error: the chunk carrying it is never relayed.
"""
from __future__ import annotations

import copy
from typing import Any, Iterable

from ..exchange import Exchange
from ..streaming.jsonarray import JSONArrayDecoder
from ..streaming.sse import encode_event
from ..strict_json import loads_plain
from .content import parts_text
from .gemini_answer import CandidateReader, check_response, is_call_part
from .gemini_format import field, key_of, refuse_candidate, response_view
from .relay import StreamRelay
from .wire import compact_json

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
        self._readers: dict[int, CandidateReader] = {}  # a call may go on in later chunks (partialArgs)
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
            data = loads_plain(event.data)  # a ValueError ends the stream with an error: never relayed unread
            if not isinstance(data, dict):
                raise ValueError("a stream chunk that is not a GenerateContentResponse")
            self._read(data)
        calling = {key: reader for key, reader in self._readers.items() if reader.has_calls}
        if self._held is None and not calling:
            return self._emit(event, data)
        if self._held is None:
            self._held = []
        self._held.append((event, data))
        complete = all(key in self._finished and not reader.continuing for key, reader in calling.items())
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
        check_response(data)
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
            self._readers.setdefault(key, CandidateReader(strict=True)).add(candidate)
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
        held, self._held = self._held or [], None
        refused: dict[int, str] = {}
        for key in [key for key, reader in self._readers.items() if reader.has_calls]:
            for group, results in self._readers.pop(key).groups():
                refusal = self._decide(group, results) if results else self._decide(group)
                if refusal is not None:
                    refused[key] = refusal
                    break
                self.response.tool_calls += group
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
    """A held chunk without the refused candidates' call parts; None when nothing is left of it."""
    chunk = copy.deepcopy(data)
    candidates = []
    for candidate in chunk.get("candidates") or ():
        if candidate_key(candidate) in refused:
            content = field(candidate, "content") or {}
            parts = [p for p in content.get("parts") or () if not is_call_part(p)]
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
