"""The neutral form of a chat exchange that the Model Router translates through (issue 26).

A front family (what the client speaks: chat completions, Anthropic Messages, Responses) reads the client's
request into a :class:`ChatRequest`; an upstream family writes it in its own wire format. The upstream's answer
is read into a :class:`ChatAnswer` (or, streamed, into :class:`StreamEvent` s) and the front family renders it
in the client's format. The security decisions are then made by the front family's own relay on exactly the
bytes the client will parse (see ``router/``), so translation never opens a way around them.

Fail closed: a reader that meets a field, part or event it does not positively understand raises
:class:`Untranslatable` naming it (a request: 400 to the client; an answer: the answer is refused), never drops
it silently. Only fields that change nothing the model reads or the client executes (sampling knobs another
provider lacks, ``user`` ids) may be left out, and each codec lists which.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union


class Untranslatable(ValueError):
    """A request or answer part the other family cannot express (or the reader does not know)."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


# -- content ------------------------------------------------------------------------------------------------
@dataclass
class Text:
    text: str


@dataclass
class Image:
    """An inline image: ``data`` is base64 (no ``data:`` prefix) of ``media_type``; or a remote ``url`` (only
    families that fetch URLs themselves take one: others raise Untranslatable)."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None


@dataclass
class ToolCallPart:
    """A call the model made (in an assistant message of the history, or in an answer). ``arguments`` is the
    JSON text of the arguments, exactly as the model produced it."""

    id: str
    name: str
    arguments: str


@dataclass
class ToolResultPart:
    """The result of call ``call_id`` that the client sends back. ``content`` holds text and images."""

    call_id: str
    content: list[Text | Image]
    is_error: bool = False
    #: The tool's name where the wire format carries it or the history tells it (Gemini needs it).
    name: str | None = None


@dataclass
class Reasoning:
    """The model's reasoning in the history or an answer: ``text`` (may be empty) and, where the provider
    signs or encrypts it, ``signature`` / ``encrypted`` (only meaningful to the same provider)."""

    text: str = ""
    signature: str | None = None
    encrypted: str | None = None


#: The prefix of a signature only Gemini can check (``gemini_generate``): other families never send it back.
GEMINI_SIGNATURE = "gemini:"


def signed_for_others(reasoning: Reasoning) -> bool:
    """Whether the reasoning carries a signature Anthropic-style verifiers (Anthropic, Bedrock) may check."""
    return bool(reasoning.signature) and not reasoning.signature.startswith(GEMINI_SIGNATURE)


Part = Union[Text, Image, ToolCallPart, ToolResultPart, Reasoning]


@dataclass
class Message:
    """One turn. ``role``: ``user`` (text, images, tool results), ``assistant`` (text, reasoning, tool calls).
    The system prompt is :attr:`ChatRequest.system`, never a message."""

    role: Literal["user", "assistant"]
    parts: list[Part]


@dataclass
class ToolSpec:
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None  # JSON Schema of the arguments; None: no arguments


@dataclass
class ChatRequest:
    model: str
    messages: list[Message]
    system: list[Text] = field(default_factory=list)
    tools: list[ToolSpec] = field(default_factory=list)
    #: ``auto``, ``none``, ``required`` (any tool) or a tool's name; None: the family's default.
    tool_choice: str | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    #: None (text), ``{"type": "json_object"}`` or ``{"type": "json_schema", "name", "schema", "strict"}``.
    response_format: dict[str, Any] | None = None
    stream: bool = False
    #: Ask the upstream to report usage in the stream (OpenAI ``stream_options.include_usage``); the router sets
    #: it whenever it can, so that every exchange is metered.
    include_usage: bool = True


# -- answers --------------------------------------------------------------------------------------------------
#: Why the model stopped, in the neutral vocabulary.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


@dataclass
class Usage:
    """Tokens as OpenAI counts them: ``input_tokens`` is every prompt token, cached ones included;
    ``cache_read_tokens`` / ``cache_write_tokens`` say which part was read from / written to a cache."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None


@dataclass
class ChatAnswer:
    id: str
    model: str
    parts: list[Text | ToolCallPart | Reasoning]
    finish_reason: FinishReason = "stop"
    usage: Usage = field(default_factory=Usage)


# -- streams -------------------------------------------------------------------------------------------------
@dataclass
class StreamStart:
    id: str
    model: str


@dataclass
class TextDelta:
    text: str


@dataclass
class ReasoningDelta:
    text: str = ""
    signature: str | None = None


@dataclass
class ToolCallStart:
    """A new tool call: ``index`` counts the answer's calls from 0 in order."""

    index: int
    id: str
    name: str


@dataclass
class ToolCallDelta:
    index: int
    arguments: str  # a fragment of the JSON text


@dataclass
class StreamEnd:
    """The answer is complete: its finish reason and usage (as far as the upstream reported it)."""

    finish_reason: FinishReason
    usage: Usage = field(default_factory=Usage)


@dataclass
class StreamError:
    """The upstream reported an error mid-stream (rendered as the front's own mid-stream error)."""

    message: str


StreamEvent = Union[StreamStart, TextDelta, ReasoningDelta, ToolCallStart, ToolCallDelta, StreamEnd, StreamError]


@dataclass
class UpstreamError:
    """An upstream error answer read into neutral terms, to be rendered in the client's format."""

    status: int
    message: str
    #: ``invalid_request``, ``authentication``, ``permission``, ``not_found``, ``rate_limit``, ``overloaded``,
    #: ``api_error``.
    kind: str = "api_error"
