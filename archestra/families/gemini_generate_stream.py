"""Gemini's ``streamGenerateContent?alt=sse`` read into neutral stream events (provider-wire-formats.md 3.4).

Every ``data:`` event is a whole GenerateContentResponse; there is no terminator: the stream ends after the chunk
with ``finishReason``. Usage is cumulative on every chunk (AI Studio) or only on the last one (Vertex AI), so the
end is told once the usage is known: at the finishing chunk when it carries ``usageMetadata``, else at the end of
the body. A function call arrives whole in one part.
"""
from __future__ import annotations

from typing import Any

from ..streaming.sse import SSEDecoder, SSEError
from ..strict_json import loads_plain
from .gemini_generate_errors import error_message
from .gemini_generate_parts import blocked, candidate, candidate_parts, check_response, finish_reason, usage
from .neutral import (FinishReason, Reasoning, ReasoningDelta, StreamEnd, StreamError, StreamEvent, StreamStart,
                      Text, TextDelta, ToolCallDelta, ToolCallPart, ToolCallStart, Untranslatable, Usage)


class GeminiStreamReader:
    framing = "sse"

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._started = False
        self._calls = 0
        self._ids: set[str] = set()
        self._finish: FinishReason | None = None
        self._usage = Usage()
        self._ended = False  # StreamEnd or StreamError was given
        self._failed = False  # the upstream reported an error: nothing after it is read

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        try:
            events = self._sse.feed(chunk)
        except SSEError as error:
            raise Untranslatable("stream", str(error)) from None
        return [out for event in events for out in self._event(event.data)]

    def finish(self) -> list[StreamEvent]:
        events = [out for event in self._sse.flush() for out in self._event(event.data)]
        if self._ended:
            return events
        self._ended = True
        if self._finish is None:
            return [*events, StreamError("the Gemini stream ended before its finishReason")]
        return [*events, StreamEnd(self._finish, self._usage)]

    def _event(self, data: str | None) -> list[StreamEvent]:
        if data is None or self._failed:
            return []  # a comment or keep-alive; after an error nothing more is read
        try:
            body: Any = loads_plain(data)
        except ValueError:
            raise Untranslatable("stream", f"a data line that is not JSON: {data[:80]!r}") from None
        message = error_message(body)
        if message is not None:
            self._failed = True
            if self._ended:
                return []  # the answer was complete: the client has it all
            self._ended = True
            return [StreamError(message)]
        check_response(body)
        found = candidate(body)
        if self._finish is not None and found is not None and (found.get("content") or {}).get("parts"):
            raise Untranslatable("stream", "content after the chunk that finished the answer")
        if self._ended:
            return []  # a repeat of the final usage
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            events.append(StreamStart(str(body.get("responseId") or ""), str(body.get("modelVersion") or "")))
        if "usageMetadata" in body:
            self._usage = usage(body)
        if found is None:
            if blocked(body):
                self._finish = self._finish or "content_filter"
            return events + self._end_if_known(body)
        for part in candidate_parts(found, self._ids):
            events += self._deltas(part)
        reason = finish_reason(found, self._calls > 0)
        if reason is not None:
            self._finish = reason
        return events + self._end_if_known(body)

    def _end_if_known(self, body: dict[str, Any]) -> list[StreamEvent]:
        """The end, once the finishing chunk came with its usage (later chunks would only repeat it)."""
        if self._finish is None or "usageMetadata" not in body:
            return []
        self._ended = True
        return [StreamEnd(self._finish, self._usage)]

    def _deltas(self, part: Text | ToolCallPart | Reasoning) -> list[StreamEvent]:
        if isinstance(part, Text):
            return [TextDelta(part.text)]
        if isinstance(part, Reasoning):
            return [ReasoningDelta(part.text, part.signature)]
        index, self._calls = self._calls, self._calls + 1
        return [ToolCallStart(index, part.id, part.name), ToolCallDelta(index, part.arguments)]
