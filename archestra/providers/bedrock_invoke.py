"""Bedrock InvokeModel and InvokeModelWithResponseStream: the body is the model's own format.

The route's family is chosen by the body (``for_body``):

* Anthropic Messages (``anthropic_version``): fully inspected by the Anthropic family (anthropic_platforms.py);
* Amazon Nova (``messages`` of content lists, ``schemaVersion: messages-v1``): Converse-shaped requests and
  answers, tools included, inspected by the Converse family; its stream is Converse events in chunk frames;
* text completions (``prompt``: Meta Llama, Mistral, DeepSeek, legacy Claude): text with usage. Their bodies
  cannot declare tools (refused when they try) and an answer carrying structured tool calls is refused (502).

Any other body is refused with a 400: it is never forwarded uninspected.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..exchange import ClientInfo, Exchange, Message, ProfileInfo, Response, Usage
from ..streaming.eventstream import EventMessage
from ..streaming.sse import SSEEvent
from .anthropic_platforms import ANTHROPIC_ON_BEDROCK
from .base import ProxyError, Route, StreamRelay, compact_json
from .bedrock import Bedrock
from .bedrock_stream import BedrockStreamRelay
from .invoke_stream import ChunkEnvelope

SUPPORTED = ("Anthropic Messages (anthropic_version), Amazon Nova (messages-v1), text completions with a prompt "
             "(Meta Llama, Mistral, DeepSeek)")


class NovaInvoke(Bedrock):
    """Amazon Nova's InvokeModel body and answer are Converse-shaped: the Converse family reads them."""

    def stream_relay(self, exchange: Exchange, decide: Any) -> StreamRelay:  # type: ignore[override]
        def converse_event(raw: bytes, data: dict[str, Any], text: str) -> EventMessage:
            kinds = [key for key in data if key != "amazon-bedrock-invocationMetrics"]
            if len(kinds) != 1:
                raise ValueError("a Nova stream event names one event type")
            return EventMessage({":event-type": kinds[0], ":message-type": "event"},
                                compact_json(data[kinds[0]]).encode(), raw)
        return ChunkEnvelope(exchange, BedrockStreamRelay(exchange, decide), converse_event, writes_frames=True)


class PromptRelay(StreamRelay):
    """Text completion chunks (``generation`` / ``outputs[].text``): passed as they come, read for the view."""

    def feed(self, event: SSEEvent) -> Iterable[bytes]:
        answer = prompt_answer(event.data or "{}")
        self.text.append(answer.text or "")
        self.response.finish_reason = answer.finish_reason or self.response.finish_reason
        return [event.raw]

    def error_bytes(self, message: str) -> bytes:
        raise NotImplementedError  # the envelope writes the error frame


def prompt_answer(data: Any) -> Response:
    """A text completion: Llama ``generation``, Mistral ``outputs[].text``, DeepSeek ``choices[].text``, legacy
    Claude ``completion``. Structured tool calls in it are never passed undecided (ValueError)."""
    if isinstance(data, str):
        from ..strict_json import loads_strict

        data = loads_strict(data)
    outputs = [o for key in ("outputs", "choices") if isinstance(data.get(key), list) for o in data[key]]
    if any(not isinstance(o, dict) or "tool_calls" in o or "message" in o for o in outputs):
        raise ValueError("a text completion carrying tool calls or messages")
    text = data.get("generation", data.get("completion")) if not outputs else "".join(
        str(o.get("text", "")) for o in outputs)
    stop = data.get("stop_reason") or next((o.get("stop_reason") for o in outputs), None)
    return Response(text=str(text or ""), finish_reason=stop,
                    usage=Usage(data.get("prompt_token_count"), data.get("generation_token_count")))


class PromptInvoke:
    """Meta Llama and Mistral text completions: the prompt is the request's one readable message."""

    name = "bedrock"
    stream_content_type = "application/vnd.amazon.eventstream"

    def validate_request(self, body: Any) -> None:
        if not isinstance(body.get("prompt"), str):
            raise ProxyError(400, "prompt: must be a string.")
        declared = [key for key in ("tools", "tool_choice", "toolConfig") if key in body]
        if declared:  # tools in a text completion body would be calls the proxy cannot see
            raise ProxyError(400, f"{declared[0]}: tools cannot be used with a text completion body through this "
                                  "proxy; use Converse or the model's messages format.", code="uninspectable_body")

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        prompt = body["prompt"]
        return Exchange("bedrock", profile, route.model or "", stream=bool(route.stream), client=client,
                        messages=[Message("user", prompt, _ref="prompt", _original=prompt)])

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        body["prompt"] = "\n\n".join(m.text for m in exchange.messages if m.text)

    def prepare_upstream_body(self, body: dict[str, Any]) -> bool:
        return False

    def prepare_answer(self, data: Any, exchange: Exchange) -> None:
        """Nothing to fill."""

    def parse_response(self, data: Any, exchange: Exchange) -> Response:
        answer = prompt_answer(data)
        answer.model = exchange.model
        return answer

    def tool_call_groups(self, data: Any) -> list[tuple[Any, ...]]:
        return []  # a text completion has no structured tool calls

    def refuse_response(self, data: dict[str, Any], key: Any, text: str) -> None:
        raise NotImplementedError

    def stream_relay(self, exchange: Exchange, decide: Any) -> StreamRelay:
        return ChunkEnvelope(exchange, PromptRelay(exchange), lambda raw, data, text: SSEEvent(raw, None, text))


NOVA, PROMPT = NovaInvoke(), PromptInvoke()


class BedrockInvoke:
    """The InvokeModel routes' family: the one the body's format names."""

    name = "bedrock"
    json_without_content_type = True  # boto3's invoke_model may be called without contentType

    @staticmethod
    def for_body(body: Any) -> Any:
        if isinstance(body, dict):
            if "anthropic_version" in body:
                return ANTHROPIC_ON_BEDROCK
            messages = body.get("messages")
            if isinstance(messages, list) and (body.get("schemaVersion") == "messages-v1" or messages and all(
                    isinstance(m, dict) and isinstance(m.get("content"), list) for m in messages)):
                return NOVA
            if "prompt" in body and "messages" not in body:
                return PROMPT
        raise ProxyError(400, f"The proxy cannot inspect this InvokeModel body, so it does not forward it. "
                              f"Supported model formats: {SUPPORTED}; other models can be used through Converse.",
                         code="uninspectable_body")

    def validate_request(self, body: Any) -> None:
        self.for_body(body).validate_request(body)


INVOKE = BedrockInvoke()
