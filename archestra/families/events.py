"""A complete neutral answer as the stream events that would have carried it (an upstream that answered a
streamed request with one JSON answer is still relayed as a stream, after translation)."""
from __future__ import annotations

from .neutral import (ChatAnswer, Reasoning, ReasoningDelta, StreamEnd, StreamEvent,
                      StreamStart, Text, TextDelta, ToolCallDelta, ToolCallPart, ToolCallStart, Usage)


def answer_events(answer: ChatAnswer) -> list[StreamEvent]:
    events: list[StreamEvent] = [StreamStart(answer.id, answer.model)]
    calls = 0
    for part in answer.parts:
        if isinstance(part, Text):
            events.append(TextDelta(part.text))
        elif isinstance(part, Reasoning):
            events.append(ReasoningDelta(part.text, part.signature))
        elif isinstance(part, ToolCallPart):
            events += [ToolCallStart(calls, part.id, part.name), ToolCallDelta(calls, part.arguments)]
            calls += 1
    events.append(StreamEnd(answer.finish_reason, answer.usage))
    return events


class AnswerCollector:
    """Rebuilds the neutral answer from the neutral events of a stream (what the router stores to continue a
    conversation with ``previous_response_id``)."""

    def __init__(self) -> None:
        self.id, self.model, self.usage, self.finish = "", "", Usage(), None
        self.parts: list[Text | ToolCallPart | Reasoning] = []
        self._calls: dict[int, ToolCallPart] = {}

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, StreamStart):
            self.id, self.model = event.id, event.model
        elif isinstance(event, TextDelta):
            if self.parts and isinstance(self.parts[-1], Text):
                self.parts[-1].text += event.text
            else:
                self.parts.append(Text(event.text))
        elif isinstance(event, ReasoningDelta):
            if not (self.parts and isinstance(self.parts[-1], Reasoning)):
                self.parts.append(Reasoning())
            self.parts[-1].text += event.text
            self.parts[-1].signature = event.signature or self.parts[-1].signature
        elif isinstance(event, ToolCallStart):
            self._calls[event.index] = ToolCallPart(event.id, event.name, "")
            self.parts.append(self._calls[event.index])
        elif isinstance(event, ToolCallDelta) and event.index in self._calls:
            self._calls[event.index].arguments += event.arguments
        elif isinstance(event, StreamEnd):
            self.finish, self.usage = event.finish_reason, event.usage

    def answer(self) -> ChatAnswer | None:
        """The answer once the stream ended (None if it never did)."""
        if self.finish is None:
            return None
        return ChatAnswer(self.id, self.model, self.parts, self.finish, self.usage)
