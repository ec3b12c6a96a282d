"""Chat completions streams: neutral events -> ``chat.completion.chunk`` SSE (front), and upstream SSE ->
neutral events (upstream).

The writer streams as OpenAI does (wire doc 1.3): a role chunk, content and tool-call deltas (a call's first
delta carries its id, type and name with empty arguments, later ones only index and argument fragments), a
finish chunk with an empty delta, the ``choices: []`` usage chunk when the client asked for it, ``[DONE]``.
A mid-stream error is ``data: {"error": {...}}``, which the openai SDK raises as ``APIError``.

The reader takes what OpenAI-compatible servers send: fragments by index (OpenAI, vLLM), whole calls in one
delta (Mistral, Ollama; Ollama's parallel calls may all say index 0: a new id starts a new call), usage in
the finish chunk or a later one, so the end is announced at ``[DONE]`` (or at the end of the body).
"""
from __future__ import annotations

import json
from typing import Any

import orjson

from ..streaming.sse import SSEDecoder, encode_event
from ..strict_json import loads_plain
from .neutral import (ChatRequest, FinishReason, ReasoningDelta, StreamEnd, StreamError, StreamEvent,
                      StreamStart, TextDelta, ToolCallDelta, ToolCallStart, Untranslatable, Usage)
from .openai_chat_answer import (finish_read, finish_rendered, read_call, read_content, read_reasoning,
                                 refuse_carriers, usage_read, usage_rendered)

_DONE = b"data: [DONE]\n\n"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_string(text: str) -> bytes:
    """``json.dumps(text, ensure_ascii=False).encode()``, by orjson: the same bytes for every character (checked
    over all of Unicode, and in tests/test_fast_reading.py); a lone surrogate, which orjson refuses, goes the
    json.dumps way."""
    try:
        return orjson.dumps(text)
    except TypeError:
        return json.dumps(text, ensure_ascii=False).encode()


def error_event(message: str) -> bytes:
    return encode_event(_compact({"error": {"message": message, "type": "server_error", "param": None,
                                            "code": None}}))


class ChatStreamWriter:
    """Neutral events -> the client's ``chat.completion.chunk`` events."""

    def __init__(self, request: ChatRequest, created: int) -> None:
        self._usage = request.include_usage
        self._id, self._model, self._created = "chatcmpl-router", request.model, created
        self._started = False
        self._ended = False
        self._failed = False
        self._text: tuple[bytes, bytes] | None = None  # a text chunk's bytes before and after its text

    def _text_chunk(self, text: str) -> bytes:
        """A text delta's chunk, byte for byte what ``_chunk({"content": text})`` writes, from bytes made once
        per stream: a stream is mostly text deltas, and only the text changes."""
        if self._text is None:
            head, _, tail = self._chunk({"content": "\x00"}).rpartition(b'"\\u0000"')
            self._text = head, tail
        head, tail = self._text
        return head + json_string(text) + tail

    def _chunk(self, delta: dict[str, Any] | None, finish_reason: str | None = None,
               usage: Usage | None = None) -> bytes:
        chunk: dict[str, Any] = {"id": self._id, "object": "chat.completion.chunk", "created": self._created,
                                 "model": self._model}
        if delta is None:
            chunk["choices"] = []
        else:
            chunk["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        if usage is not None:
            chunk["usage"] = usage_rendered(usage)
        elif self._usage:
            chunk["usage"] = None  # in include_usage mode every chunk but the last says so (API reference)
        return encode_event(_compact(chunk))

    def _start(self) -> bytes:
        """The role chunk, before the first delta. It waits for that delta because OpenAI's says ``content: ""``
        before text but ``content: null`` (and holds the call) before a tool call, and the SDK keeps that
        value: a calls-only answer then reads ``content is None``, as the non-streamed one does."""
        if self._started:
            return b""
        self._started = True
        return self._chunk({"role": "assistant", "content": "", "refusal": None})

    def write(self, event: StreamEvent) -> bytes:
        if self._failed:
            return b""
        if isinstance(event, StreamStart):
            self._id, self._model = event.id or self._id, event.model or self._model
            self._text = None
            return b""
        if isinstance(event, StreamError):
            self._failed = True
            return error_event(event.message)
        if isinstance(event, StreamEnd):
            if event.finish_reason == "error":
                self._failed = True
                return error_event("the upstream answer ended in an error")
            self._ended = True
            out = self._start() + self._chunk({}, finish_rendered(event.finish_reason))
            return out + (self._chunk(None, usage=event.usage) if self._usage else b"")
        if isinstance(event, TextDelta):
            return self._start() + self._text_chunk(event.text) if event.text else b""
        if isinstance(event, ReasoningDelta):
            # A signature only means something to the provider that made it: nothing to stream.
            return self._start() + self._chunk({"reasoning_content": event.text}) if event.text else b""
        if isinstance(event, ToolCallStart):
            call = {"index": event.index, "id": event.id, "type": "function",
                    "function": {"name": event.name, "arguments": ""}}
            if not self._started:
                self._started = True
                return self._chunk({"role": "assistant", "content": None, "tool_calls": [call], "refusal": None})
            return self._chunk({"tool_calls": [call]})
        if isinstance(event, ToolCallDelta):
            call = {"index": event.index, "function": {"arguments": event.arguments}}
            return self._start() + self._chunk({"tool_calls": [call]}) if event.arguments else b""
        raise TypeError(f"not a stream event: {event!r}")

    def finish(self) -> bytes:
        """``[DONE]`` after a complete answer; without its end the client gets an error, never a ``[DONE]`` that
        would pass a cut answer off as complete."""
        if self._failed:
            return b""
        return _DONE if self._ended else error_event("the answer ended before it was complete")


class ChatStreamReader:
    """Upstream chat completions SSE -> neutral events."""

    framing = "sse"

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._started = False
        self._ended = False  # StreamEnd or StreamError given: the rest is ignored
        self._finish: FinishReason | None = None
        self._usage = Usage()
        self._calls: dict[Any, tuple[int, str | None, str]] = {}  # upstream index -> (ours, id, name)
        self._last: Any = None  # the upstream index of the last call seen
        self._count = 0  # calls started: the next one's neutral index

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for sse in self._sse.feed(chunk):
            events += self._event(sse.data, sse.event)
        return events

    def finish(self) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for sse in self._sse.flush():
            events += self._event(sse.data, sse.event)
        return events + self._end()

    def _end(self) -> list[StreamEvent]:
        if self._ended:
            return []
        self._ended = True
        if self._finish is None:
            return [StreamError("the upstream stream ended before its finish reason")]
        return [StreamEnd(self._finish, self._usage)]

    def _event(self, data: str | None, name: str | None) -> list[StreamEvent]:
        if self._ended or data is None:
            return []
        if name is not None:
            raise Untranslatable(f"event {name}", "chat completions streams have no named events")
        if data.startswith("[DONE]"):
            return self._end()
        try:
            chunk = loads_plain(data)
        except ValueError:
            raise Untranslatable("stream", f"not a JSON chunk: {data[:80]!r}") from None
        if not isinstance(chunk, dict):
            raise Untranslatable("stream", "a chunk that is not an object")
        if chunk.get("error") or chunk.get("object") == "error":  # OpenAI's shape, or Mistral's unwrapped one
            self._ended = True
            error = chunk.get("error") or chunk
            message = error.get("message") if isinstance(error, dict) else error
            return [StreamError(message if isinstance(message, str) and message else "upstream stream error")]
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            events.append(StreamStart(str(chunk.get("id", "")), str(chunk.get("model", ""))))
        choices = chunk.get("choices") or []
        if not isinstance(choices, list):
            raise Untranslatable("choices", "not a list")
        for choice in choices:
            events += self._choice(choice)
        if isinstance(chunk.get("usage"), dict):
            self._usage = usage_read(chunk["usage"])
        return events

    def _choice(self, choice: Any) -> list[StreamEvent]:
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            raise Untranslatable("choices", "a second choice is not translatable (one answer only)")
        delta = choice.get("delta") or {}
        where = "choices[0].delta"
        if not isinstance(delta, dict):
            raise Untranslatable(where, "not an object")
        refuse_carriers(delta, where)
        events: list[StreamEvent] = []
        reasoning = read_reasoning(delta, where)
        if reasoning:
            events.append(ReasoningDelta(reasoning))
        texts = read_content(delta.get("content"), f"{where}.content")
        refusal = delta.get("refusal")
        events += [TextDelta(text.text) for text in texts if text.text]
        if isinstance(refusal, str) and refusal:
            events.append(TextDelta(refusal))
        calls = delta.get("tool_calls") or []
        if not isinstance(calls, list):
            raise Untranslatable(f"{where}.tool_calls", "not a list")
        for i, call in enumerate(calls):
            events += self._call(call, f"{where}.tool_calls[{i}]")
        if choice.get("finish_reason") is not None:
            self._finish = finish_read(choice["finish_reason"], "choices[0].finish_reason")
        return events

    def _call(self, call: Any, where: str) -> list[StreamEvent]:
        call_id, name, arguments = read_call(call, where)
        index = call.get("index", self._last if call_id is None else ("unindexed", self._count))
        if "index" in call and (not isinstance(index, int) or isinstance(index, bool)):
            raise Untranslatable(f"{where}.index", "not a number")
        known = self._calls.get(index)
        if known is not None and call_id is not None and known[1] not in (None, call_id):
            known = None  # a new id at a used index is another call (Ollama numbers them all 0)
        events: list[StreamEvent] = []
        if known is None:
            if not name:
                raise Untranslatable(where, "a tool call starts without its name")
            known = (self._count, call_id, name)
            self._count += 1
            self._calls[index] = known
            events.append(ToolCallStart(known[0], call_id or f"call_{known[0]}", name))
        elif name and name != known[2]:
            raise Untranslatable(f"{where}.function.name", "the name of a call changed mid-stream")
        self._last = index
        if arguments:
            events.append(ToolCallDelta(known[0], arguments))
        return events
