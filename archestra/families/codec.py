"""What a family's translation codec offers the Model Router (issue 26): the two halves of a wire format.

A **front** codec is the format a client speaks to the router (chat completions, Anthropic Messages, Responses):
it reads the client's request into a neutral :class:`~.neutral.ChatRequest` and renders neutral answers and
stream events in the client's format. An **upstream** codec is the format a provider answers in (chat
completions, Anthropic Messages direct / on Bedrock InvokeModel / on Vertex, Gemini, Bedrock Converse, Cohere
v2): it writes a neutral request in that format, tells the path below ``/v1/{provider}/`` the request goes to,
and reads the answer, its stream and its errors back into neutral terms. A family can be both.

Codecs are pure: no Flask, no database, no network, no import of ``providers/`` or ``proxy``; they raise
:class:`~.neutral.Untranslatable` for anything they cannot express or do not know (fail closed).
"""
from __future__ import annotations

from typing import Any, Protocol

from .neutral import ChatAnswer, ChatRequest, StreamEvent, UpstreamError


class StreamReader(Protocol):
    """Upstream stream bytes -> neutral events. ``framing``: ``sse``, ``eventstream`` (AWS) or ``json``."""

    framing: str

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """Events completed by this chunk (chunks split anywhere, even inside a UTF-8 character)."""

    def finish(self) -> list[StreamEvent]:
        """At the end of the upstream body: what is left. A stream that ended without its terminal event
        yields a :class:`~.neutral.StreamError` (never a silent StreamEnd)."""


class StreamWriter(Protocol):
    """Neutral events -> the client's stream bytes."""

    def write(self, event: StreamEvent) -> bytes:
        ...

    def finish(self) -> bytes:
        """Bytes after the last event (e.g. ``data: [DONE]``), once."""


class FrontCodec(Protocol):
    name: str
    stream_content_type: str

    def read_request(self, body: dict[str, Any]) -> ChatRequest:
        """The client's (already validated) request body in neutral form; Untranslatable for what cannot go to
        another family."""

    def render_answer(self, answer: ChatAnswer) -> dict[str, Any]:
        """A complete non-streamed answer body, as the client's SDK parses it."""

    def stream_writer(self, request: ChatRequest) -> StreamWriter:
        ...


class UpstreamCodec(Protocol):
    name: str

    def write_request(self, request: ChatRequest) -> dict[str, Any]:
        """The request body in this family's format (``request.model`` is the upstream's model id)."""

    def path(self, model: str, stream: bool) -> tuple[str, str]:
        """``(path, query)`` below ``/v1/{provider}/`` that the provider's own route table maps to this call."""

    def read_answer(self, body: dict[str, Any]) -> ChatAnswer:
        ...

    def stream_reader(self) -> StreamReader:
        ...

    def read_error(self, status: int, body: bytes) -> UpstreamError:
        """An upstream error answer (any body, even not JSON) in neutral terms."""
