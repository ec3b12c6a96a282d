"""The API family interface: one wire format, as the one pipeline reads, edits, relays and refuses it.

A *family* is a wire format (OpenAI chat completions, OpenAI Responses, Anthropic Messages, Gemini
generateContent, Cohere v2 chat, Bedrock Converse, Bedrock InvokeModel bodies); a *provider* (base.py) is where
requests go and how they authenticate, and its route table says which family serves each path
(``Route.family``). One family serves many providers, one provider serves several families.

Every method the pipeline calls is declared here, with the default most families want, so the pipeline never
asks a family what it can do: a capability only some families have (``for_body``, ``metered_payload``,
``retrieval_exchange``, ``json_without_content_type``) has a neutral default here.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..exchange import ClientInfo, Exchange, ProfileInfo, Response
from ..proxy_error import ProxyError
from ..routing import Route
from .relay import StreamRelay


class Family:
    """One wire format. ``provider`` is the name its exchanges are recorded under (a family instance serves one
    provider: the chat completions of Mistral are recorded as Mistral's)."""

    #: The content type of a stream the family relays (the upstream's own is kept when it sends one).
    stream_content_type = "text/event-stream"
    #: The body is read as JSON even without a Content-Type (boto3's ``invoke_model`` may send none).
    json_without_content_type = False

    def __init__(self, provider: str) -> None:
        self.provider = provider
        #: How the family is named in error messages ("the shape {name} answers have").
        self.name = provider

    # -- errors ---------------------------------------------------------------------------------
    def error_body(self, error: ProxyError) -> dict[str, Any]:
        """The proxy's own error in the body shape this family's clients parse."""
        raise NotImplementedError

    def error_headers(self, error: ProxyError) -> dict[str, str]:
        """Headers the family's clients read an error from (Bedrock's ``x-amzn-ErrorType``); none by default."""
        return {}

    # -- request --------------------------------------------------------------------------------
    def validate_request(self, body: Any) -> None:
        """Raise :class:`ProxyError` (400) when the body is not a request this family accepts."""
        if not isinstance(body, dict):
            raise ProxyError(400, "The request body must be a JSON object.")

    def for_body(self, body: dict[str, Any]) -> Family:
        """The family that reads this (validated) body: itself, unless the route's format is named by the body
        (Bedrock InvokeModel: the model's own format)."""
        return self

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        """The request as hooks see it (:class:`Exchange`)."""
        raise NotImplementedError

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        """Write hook edits of ``exchange`` back into ``body`` (called only when something changed)."""
        raise NotImplementedError

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        """A minimal non-streamed request asking ``model`` one question (the dual LLM), at the provider the
        exchange on ``route`` went to."""
        raise NotImplementedError

    def prepare_upstream_body(self, body: dict[str, Any]) -> bool:
        """Apply the upstream's quirks to the body sent upstream; return True if it changed."""
        return False

    def metered_payload(self, payload: bytes, body: dict[str, Any]) -> bytes:
        """The bytes sent upstream, with what the proxy adds only to meter the exchange (not recorded):
        ``payload`` unchanged by default."""
        return payload

    def retrieval_exchange(self, route: Route, profile: ProfileInfo, client: ClientInfo) -> Exchange:
        """The exchange of an answer stored upstream and fetched again (routes of kind ``retrieve``)."""
        raise ProxyError(404, "This API does not serve stored answers.", kind="not_found_error",
                         code="unknown_route")

    # -- response -------------------------------------------------------------------------------
    def prepare_answer(self, data: Any, exchange: Exchange) -> None:
        """Before a non-streamed answer's calls are decided: fill what only the answer tells (e.g. the declared
        tools and model of a retrieved response). Nothing by default."""

    def parse_response(self, data: Any, exchange: Exchange) -> Response:
        raise NotImplementedError

    def tool_call_groups(self, data: Any) -> Iterable[tuple[Any, ...]]:
        """The tool calls of a non-streamed answer, grouped by answer (choice/candidate): ``(key, calls)``, or
        ``(key, calls, results)`` where ``results`` are provider-executed tool results that precede the calls in
        that answer (they are judged first, so the calls are decided with them in context)."""
        raise NotImplementedError

    def refuse_response(self, data: dict[str, Any], key: Any, text: str) -> None:
        """Rewrite answer ``key`` of a non-streamed response in place: no tool calls, ``text`` instead."""
        raise NotImplementedError

    def stream_relay(self, exchange: Exchange, decide: Any) -> StreamRelay:
        raise NotImplementedError
