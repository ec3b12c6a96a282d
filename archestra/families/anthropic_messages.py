"""The Anthropic Messages family as a translation codec (issue 26): the front half (what the anthropic SDK and
Claude Code speak to the router) and three upstream variants, one body format at three platforms' URLs:

* :data:`ANTHROPIC_MESSAGES`: ``POST v1/messages`` on the anthropic provider (SSE streams);
* :data:`ANTHROPIC_BEDROCK`: Bedrock InvokeModel ``model/{id}/invoke`` (``/invoke-with-response-stream``: AWS
  event stream of ``chunk`` frames), body with ``anthropic_version: bedrock-2023-05-31``, no model, no stream;
* :data:`ANTHROPIC_VERTEX`: ``projects/-/locations/-/publishers/anthropic/models/{model}:rawPredict``
  (``:streamRawPredict``: SSE) on the anthropic provider, which puts its own project and location in place of
  the ``-`` placeholders (providers/anthropic_vertex.py); body with ``anthropic_version: vertex-2023-10-16``.

The pieces: requests read (``anthropic_messages_read``) and written (``_write``), answers and errors
(``_answer``), streams written (``_stream``) and read (``_events``).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .anthropic_messages_answer import read_answer, read_error, render_answer
from .anthropic_messages_events import AnthropicEventStreamReader, AnthropicSSEReader
from .anthropic_messages_read import DROPPED_FIELDS, read_count_tokens, read_request
from .anthropic_messages_stream import AnthropicStreamWriter
from .anthropic_messages_write import DEFAULT_MAX_TOKENS, write_body
from .codec import StreamReader
from .neutral import ChatAnswer, ChatRequest, UpstreamError

__all__ = ["ANTHROPIC_BEDROCK", "ANTHROPIC_MESSAGES", "ANTHROPIC_VERTEX", "DEFAULT_MAX_TOKENS", "DROPPED_FIELDS",
           "AnthropicMessages"]
BEDROCK_VERSION = "bedrock-2023-05-31"
VERTEX_VERSION = "vertex-2023-10-16"


class AnthropicMessages:
    """The direct API: front and upstream. The platform variants below change only where the model, the
    stream flag and the API version go, the path, and (Bedrock) the stream's envelope."""

    name = "anthropic_messages"
    stream_content_type = "text/event-stream"

    # -- front ------------------------------------------------------------------------------------------------
    def read_request(self, body: dict[str, Any]) -> ChatRequest:
        return read_request(body)

    def read_count_tokens(self, body: dict[str, Any]) -> ChatRequest:
        return read_count_tokens(body)

    def render_answer(self, answer: ChatAnswer) -> dict[str, Any]:
        return render_answer(answer)

    def stream_writer(self, request: ChatRequest) -> AnthropicStreamWriter:
        return AnthropicStreamWriter(request)

    # -- upstream ---------------------------------------------------------------------------------------------
    def write_request(self, request: ChatRequest) -> dict[str, Any]:
        body = write_body(request, structured_output=True)
        body = {"model": request.model, **body}
        if request.stream:
            body["stream"] = True
        return body

    def path(self, model: str, stream: bool) -> tuple[str, str]:
        return "v1/messages", ""

    def read_answer(self, body: dict[str, Any]) -> ChatAnswer:
        return read_answer(body)

    def stream_reader(self) -> StreamReader:
        return AnthropicSSEReader()

    def read_error(self, status: int, body: bytes) -> UpstreamError:
        return read_error(status, body)


class AnthropicOnBedrock(AnthropicMessages):
    """InvokeModel: the model in the path (URL-quoted as botocore quotes it: ``:`` and ``/`` of ids and ARNs
    encoded), whether to stream in the path too. Structured output is not written (Untranslatable): whether
    Bedrock's InvokeModel takes ``output_config`` is not established."""

    name = "anthropic_bedrock"
    stream_content_type = "application/vnd.amazon.eventstream"

    def write_request(self, request: ChatRequest) -> dict[str, Any]:
        return {"anthropic_version": BEDROCK_VERSION, **write_body(request, structured_output=False)}

    def path(self, model: str, stream: bool) -> tuple[str, str]:
        return f"model/{quote(model, safe='-._~')}/{'invoke-with-response-stream' if stream else 'invoke'}", ""

    def stream_reader(self) -> StreamReader:
        return AnthropicEventStreamReader()


class AnthropicOnVertex(AnthropicMessages):
    """rawPredict / streamRawPredict: the model in the path, ``stream`` stays in the body. Structured output is
    not written (Untranslatable), for the same reason as on Bedrock."""

    name = "anthropic_vertex"

    def write_request(self, request: ChatRequest) -> dict[str, Any]:
        body = {"anthropic_version": VERTEX_VERSION, **write_body(request, structured_output=False)}
        if request.stream:
            body["stream"] = True
        return body

    def path(self, model: str, stream: bool) -> tuple[str, str]:
        action = "streamRawPredict" if stream else "rawPredict"
        return f"projects/-/locations/-/publishers/anthropic/models/{quote(model, safe='-._~@')}:{action}", ""


ANTHROPIC_MESSAGES = AnthropicMessages()
ANTHROPIC_BEDROCK = AnthropicOnBedrock()
ANTHROPIC_VERTEX = AnthropicOnVertex()
