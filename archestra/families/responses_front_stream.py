"""Neutral stream events as the Responses API's SSE stream (``openai/types/responses/response_stream_event.py``):
``event: <type>`` + ``data: {"type": <type>, "sequence_number": n, ...}``, no ``[DONE]``.

``response.created`` and ``response.in_progress`` open it; each output item is announced
(``output_item.added``), filled (a message's ``content_part`` and ``output_text`` deltas, a reasoning item's
``reasoning_summary_part`` and ``reasoning_summary_text`` deltas, a call's ``function_call_arguments`` deltas),
closed with its ``*.done`` events and ``output_item.done``; the terminal event (``response.completed``, or
``response.incomplete`` / ``response.failed``) carries the whole response, built from the parts the stream
carried by the same function as a non-streamed answer (the openai SDK's ``responses.stream`` checks that both
agree). An upstream error mid-stream ends it with an ``error`` event, as the proxy's own Responses relay does;
calls whose arguments were not finished are never closed, so no client executes them.

Calls stay open while further calls start (upstreams may interleave their argument fragments) and are closed,
in order, when text, reasoning or the end follows. A reasoning block ends at its signature: more reasoning after
it is a new reasoning item (Anthropic signs each thinking block).
"""
from __future__ import annotations

import json
import time
from typing import Any

from ..streaming.sse import encode_event
from .neutral import (ChatRequest, Reasoning, ReasoningDelta, StreamEnd, StreamError, StreamEvent, StreamStart, Text,
                      TextDelta, ToolCallDelta, ToolCallPart, ToolCallStart)
from .responses_front_render import (TERMINAL_EVENTS, call_item, item_id, message_item, output_items,
                                     reasoning_item, response_body, response_id)


class ResponsesStreamWriter:
    """One streamed answer. :attr:`response_id` is the id the client gets (set by the first event)."""

    def __init__(self, request: ChatRequest, now: float | None = None) -> None:
        self._request = request
        self._created = int(now if now is not None else time.time())
        self._sequence = 0
        self._parts: list[Text | ToolCallPart | Reasoning] = []  # one per output item, in output_index order
        self._calls: dict[int, int] = {}                         # neutral call index -> output_index
        self._open: list[int] = []                               # output indexes not yet done
        self._signed = False                                     # the open reasoning item has its signature
        self._ended = False
        self.response_id: str | None = None
        self.model = request.model

    # -- StreamWriter --------------------------------------------------------------------------------------
    def write(self, event: StreamEvent) -> bytes:
        if self._ended:
            return b""
        out: list[bytes] = []
        if self.response_id is None:
            out += self._start(event if isinstance(event, StreamStart) else StreamStart("", self.model))
            if isinstance(event, StreamStart):
                return b"".join(out)
        if isinstance(event, TextDelta):
            out += self._text(event.text)
        elif isinstance(event, ReasoningDelta):
            out += self._reasoning(event)
        elif isinstance(event, ToolCallStart):
            out += self._call_start(event)
        elif isinstance(event, ToolCallDelta):
            out += self._call_delta(event)
        elif isinstance(event, StreamEnd):
            out += self._end(event)
        elif isinstance(event, StreamError):
            out += self._error(event.message)
        elif not isinstance(event, StreamStart):  # a repeated start changes nothing the client reads
            raise TypeError(f"not a neutral stream event: {event!r}")
        return b"".join(out)

    def finish(self) -> bytes:
        return b""

    # -- events ------------------------------------------------------------------------------------------
    def _emit(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return encode_event(json.dumps(data, ensure_ascii=False, separators=(",", ":")), kind)

    def _response(self, finish: Any = None, usage: Any = None) -> dict[str, Any]:
        assert self.response_id is not None
        output = output_items(self.response_id, self._parts, cut=finish == "length") if finish is not None else []
        return response_body(self.response_id, self._created, self.model, self._request, output, finish, usage)

    def _start(self, start: StreamStart) -> list[bytes]:
        self.response_id = response_id(start.id or f"stream-{time.time_ns()}")
        self.model = start.model or self.model
        return [self._emit("response.created", response=self._response()),
                self._emit("response.in_progress", response=self._response())]

    def _where(self, index: int) -> dict[str, Any]:
        assert self.response_id is not None
        return {"item_id": item_id(type(self._parts[index]), self.response_id, index), "output_index": index}

    def _item(self, index: int, status: str = "completed") -> dict[str, Any]:
        """Output item ``index`` as far as the stream carried it."""
        assert self.response_id is not None
        part = self._parts[index]
        if isinstance(part, Text):
            return message_item(self.response_id, index, part.text, status)
        if isinstance(part, Reasoning):
            return reasoning_item(self.response_id, index, part)
        return call_item(self.response_id, index, part, status)

    def _open_item(self, part: Text | ToolCallPart | Reasoning, status: str) -> list[bytes]:
        self._parts.append(part)
        index = len(self._parts) - 1
        self._open.append(index)
        return [self._emit("response.output_item.added", output_index=index, item=self._item(index, status))]

    def _text(self, text: str) -> list[bytes]:
        if not text:
            return []
        out: list[bytes] = []
        last = self._parts[-1] if self._parts else None
        if not (isinstance(last, Text) and len(self._parts) - 1 in self._open):
            out += self._close_all() + self._open_item(Text(""), "in_progress")
            out.append(self._emit("response.content_part.added", **self._where(len(self._parts) - 1),
                                  content_index=0,
                                  part={"type": "output_text", "text": "", "annotations": [], "logprobs": []}))
        index = len(self._parts) - 1
        self._parts[index].text += text  # type: ignore[union-attr]
        out.append(self._emit("response.output_text.delta", **self._where(index), content_index=0, delta=text,
                              logprobs=[]))
        return out

    def _reasoning(self, delta: ReasoningDelta) -> list[bytes]:
        out: list[bytes] = []
        last = self._parts[-1] if self._parts else None
        continues = isinstance(last, Reasoning) and len(self._parts) - 1 in self._open and not self._signed
        if not continues:
            out += self._close_all() + self._open_item(Reasoning(), "in_progress")
        index = len(self._parts) - 1
        reasoning = self._parts[index]
        assert isinstance(reasoning, Reasoning)
        if delta.text:
            if not reasoning.text:
                out.append(self._emit("response.reasoning_summary_part.added", **self._where(index),
                                      summary_index=0, part={"type": "summary_text", "text": ""}))
            reasoning.text += delta.text
            out.append(self._emit("response.reasoning_summary_text.delta", **self._where(index), summary_index=0,
                                  delta=delta.text))
        if delta.signature:
            reasoning.signature = (reasoning.signature or "") + delta.signature
            self._signed = True
        return out

    def _call_start(self, start: ToolCallStart) -> list[bytes]:
        if start.index in self._calls:
            return self._error(f"the upstream started tool call {start.index} twice")
        out: list[bytes] = []
        if not isinstance(self._parts[-1] if self._parts else None, ToolCallPart):
            out += self._close_all()
        self._calls[start.index] = len(self._parts)
        return out + self._open_item(ToolCallPart(start.id, start.name, ""), "in_progress")

    def _call_delta(self, delta: ToolCallDelta) -> list[bytes]:
        index = self._calls.get(delta.index)
        if index is None or index not in self._open:
            return self._error(f"arguments of tool call {delta.index}, which is not open")
        call = self._parts[index]
        assert isinstance(call, ToolCallPart)
        call.arguments += delta.arguments
        return [self._emit("response.function_call_arguments.delta", **self._where(index), delta=delta.arguments)]

    def _close_all(self, cut: bool = False) -> list[bytes]:
        """Close the open items; ``cut``: the answer was cut short in the last one (its status: incomplete)."""
        out: list[bytes] = []
        for index in self._open:
            out += self._close(index, "incomplete" if cut and index == len(self._parts) - 1 else "completed")
        self._open = []
        self._signed = False
        return out

    def _close(self, index: int, status: str) -> list[bytes]:
        part, where = self._parts[index], self._where(index)
        item = self._item(index, status)
        out: list[bytes] = []
        if isinstance(part, Text):
            content = item["content"][0]
            out += [self._emit("response.output_text.done", **where, content_index=0, text=part.text, logprobs=[]),
                    self._emit("response.content_part.done", **where, content_index=0, part=content)]
        elif isinstance(part, Reasoning) and part.text:
            summary = {"type": "summary_text", "text": part.text}
            out += [self._emit("response.reasoning_summary_text.done", **where, summary_index=0, text=part.text),
                    self._emit("response.reasoning_summary_part.done", **where, summary_index=0, part=summary)]
        elif isinstance(part, ToolCallPart):
            out.append(self._emit("response.function_call_arguments.done", **where,
                                  arguments=part.arguments))
        return out + [self._emit("response.output_item.done", output_index=index, item=item)]

    def _end(self, end: StreamEnd) -> list[bytes]:
        out = self._close_all(cut=end.finish_reason == "length")
        self._ended = True
        body = self._response(end.finish_reason, end.usage)
        return out + [self._emit(TERMINAL_EVENTS[body["status"]], response=body)]

    def _error(self, message: str) -> list[bytes]:
        self._ended = True
        return [self._emit("error", code="upstream_error", message=message, param=None)]
