"""The OpenAI Chat Completions family as a translation codec, both halves (issue 26).

Front: a client using ``chat.completions`` against the Model Router. Upstream: any OpenAI-compatible provider
(OpenAI, Mistral, vLLM, Ollama, Groq...). The pieces live beside this module: ``openai_chat_messages``
(messages), ``openai_chat_request`` (the request body, :data:`DROPPED_FIELDS`), ``openai_chat_answer`` (the
answer) and ``openai_chat_stream`` (the stream).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable

from .neutral import ChatAnswer, ChatRequest, UpstreamError
from .openai_chat_answer import read_answer, render_answer
from .openai_chat_request import DROPPED_FIELDS, read_request, write_request
from .openai_chat_stream import ChatStreamReader, ChatStreamWriter

__all__ = ["DROPPED_FIELDS", "OPENAI_CHAT", "OpenAIChat"]


def error_kind(status: int) -> str:
    """The neutral kind of an upstream error, by HTTP status (as the openai SDK picks its exception)."""
    kinds = {400: "invalid_request", 401: "authentication", 403: "permission", 404: "not_found",
             409: "invalid_request", 413: "invalid_request", 422: "invalid_request", 429: "rate_limit",
             503: "overloaded", 529: "overloaded"}
    return kinds.get(status, "api_error")


def _error_message(status: int, body: bytes) -> str:
    """``{"error": {"message"}}`` (OpenAI, vLLM, Ollama, Z.AI) or ``{"message"}`` (Mistral, old vLLM); a body
    that is neither is not shown (it may be a proxy's HTML page): the status is named instead."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    holder = data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), dict) else data
    message = holder.get("message") if isinstance(holder, dict) else None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        message = data["error"]
    if message is not None and not isinstance(message, str):
        message = json.dumps(message)  # Mistral's 422 gives its validation detail as an object
    return message or f"the upstream answered HTTP {status}"


@dataclass(frozen=True)
class OpenAIChat:
    """Both codec halves. ``max_tokens_field`` and ``stream_options``: see
    :func:`~.openai_chat_request.write_request` (OpenAI itself: the defaults)."""

    name: str = "openai_chat"
    stream_content_type: str = "text/event-stream"
    max_tokens_field: str = "max_completion_tokens"
    stream_options: bool = True
    #: The ``created`` time of rendered answers (a neutral answer has none).
    clock: Callable[[], float] = time.time

    # -- front -------------------------------------------------------------------------------------------
    def read_request(self, body: dict[str, Any]) -> ChatRequest:
        return read_request(body)

    def render_answer(self, answer: ChatAnswer) -> dict[str, Any]:
        return render_answer(answer, int(self.clock()))

    def stream_writer(self, request: ChatRequest) -> ChatStreamWriter:
        return ChatStreamWriter(request, int(self.clock()))

    # -- upstream ----------------------------------------------------------------------------------------
    def write_request(self, request: ChatRequest) -> dict[str, Any]:
        return write_request(request, self.max_tokens_field, self.stream_options)

    def path(self, model: str, stream: bool) -> tuple[str, str]:
        return "chat/completions", ""

    def read_answer(self, body: dict[str, Any]) -> ChatAnswer:
        return read_answer(body)

    def stream_reader(self) -> ChatStreamReader:
        return ChatStreamReader()

    def read_error(self, status: int, body: bytes) -> UpstreamError:
        return UpstreamError(status, _error_message(status, body), error_kind(status))


OPENAI_CHAT = OpenAIChat()
