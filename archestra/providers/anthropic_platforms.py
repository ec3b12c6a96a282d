"""The Anthropic Messages family at the clouds' URLs: Bedrock InvokeModel and Vertex AI ``rawPredict``.

The body is Anthropic Messages with the model in the path instead of the body and an ``anthropic_version``
naming the platform's API version (``bedrock-2023-05-31``, ``vertex-2023-10-16``); ``anthropic_beta`` rides in
the body on Bedrock. Everything else (reading and writing requests, answers, refusals, the stream's events)
is the Anthropic family's own: this module only moves the model between path and body, and on Bedrock wraps
the Anthropic stream relay in the event-stream envelope.
"""
from __future__ import annotations

from typing import Any

from ..exchange import ClientInfo, Exchange, ProfileInfo
from ..proxy_error import ProxyError
from ..routing import Route
from ..streaming.sse import SSEEvent
from .anthropic_messages import AnthropicMessages
from .invoke_stream import ChunkEnvelope
from .relay import StreamRelay


class PathModelAnthropic(AnthropicMessages):
    """Anthropic Messages whose model is named in the path."""

    def __init__(self, provider: str, stream_in_body: bool) -> None:
        super().__init__(provider)  # recorded as the exchange's provider
        self.name = "anthropic"
        self._stream_in_body = stream_in_body  # Vertex keeps ``stream``; Bedrock refuses it (the path says)

    def validate_request(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise ProxyError(400, "The request body must be a JSON object.")
        extraneous = [key for key in ("model", *(() if self._stream_in_body else ("stream",))) if key in body]
        if extraneous:
            raise ProxyError(400, f"extraneous key [{extraneous[0]}] is not permitted: the model and whether to "
                                  "stream are named by the path.", code="invalid_request")
        if not isinstance(body.get("anthropic_version"), str):
            raise ProxyError(400, "anthropic_version: Field required (a string such as "
                                  f"{'vertex-2023-10-16' if self._stream_in_body else 'bedrock-2023-05-31'}).")
        if "anthropic_beta" in body and (not isinstance(body["anthropic_beta"], list)
                                         or not all(isinstance(beta, str) for beta in body["anthropic_beta"])):
            raise ProxyError(400, "anthropic_beta: must be an array of strings.")
        super().validate_request({**body, "model": "named-in-path"})

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        return super().parse_request({**body, "model": route.model or ""}, route, profile, client)

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        super().write_request(body, exchange)
        body.pop("model", None)  # the (possibly swapped) model goes in the path: exchange.model


class AnthropicOnBedrock(PathModelAnthropic):
    """InvokeModel / InvokeModelWithResponseStream with an Anthropic body: Anthropic events in chunk frames."""

    stream_content_type = "application/vnd.amazon.eventstream"

    def __init__(self) -> None:
        super().__init__("bedrock", stream_in_body=False)

    def stream_relay(self, exchange: Exchange, decide: Any) -> StreamRelay:
        return ChunkEnvelope(exchange, super().stream_relay(exchange, decide),
                             lambda raw, data, text: SSEEvent(raw, str(data.get("type") or ""), text),
                             lambda message: SSEEvent(message.raw, "error", None))


class AnthropicOnVertex(PathModelAnthropic):
    """``rawPredict`` / ``streamRawPredict`` at Vertex AI: Anthropic's own events."""

    #: How Vertex AI names the operations (the path's ``:action``); a model is asked at any project and location:
    #: the provider puts its own in (anthropic_vertex.py).
    PATH = "projects/-/locations/-/publishers/anthropic/models/{model}:{action}"

    def __init__(self) -> None:
        super().__init__("anthropic", stream_in_body=True)

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        """A proxy-made question (the dual LLM) to the exchange's model on Vertex AI: the model moves to the path."""
        body = self.question(model, system, prompt)
        del body["model"]
        body["anthropic_version"] = "vertex-2023-10-16"
        path = self.PATH.format(model=model, action="rawPredict")
        return Route("chat", path, stream=False, model=model, action="rawPredict", family=self,
                     platform=route.platform), body


ANTHROPIC_ON_BEDROCK = AnthropicOnBedrock()
ANTHROPIC_ON_VERTEX = AnthropicOnVertex()
