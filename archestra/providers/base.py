"""The provider adapter interface: everything the one pipeline needs to know about a provider."""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from ..exchange import ClientInfo, Exchange, ProfileInfo, Response
from ..lenient_json import loads_lenient
from ..proxy_error import ProxyError
from ..routing import Route
from ..streaming.sse import SSEDecoder
from ..strict_json import AmbiguousJSON, loads_strict


def compact_json(value: Any) -> str:
    """JSON without spaces, as the providers send it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_arguments(raw: Any) -> tuple[Any, str]:
    """Tool-call arguments as (parsed value, raw JSON text).

    Text strict JSON refuses is read as lenient clients read it (cut off, trailing commas, single quotes,
    Python literals, a markdown fence: see ``lenient_json``): a policy condition must never be skipped because
    the arguments did not parse, and the decision has to see what a lenient client would execute. Only text
    nothing sensible can be read from stays a string, and so does JSON that clients would read differently
    (a key repeated in one object): the policies then treat the arguments as unreadable and fail closed.
    """
    if isinstance(raw, str):
        if not raw.strip():
            return {}, raw
        try:
            return loads_strict(raw), raw
        except AmbiguousJSON:
            return raw, raw
        except ValueError:
            pass
        try:
            return loads_lenient(raw), raw
        except (ValueError, RecursionError):
            return raw, raw
    return raw, json.dumps(raw)


class CallNames:
    """Which tool each call id of a conversation belongs to, so that a result is tied to exactly one call.

    An id used by calls of two different tools names neither (``name`` returns None): a result must never
    inherit the trust of another tool through a duplicated id.
    """

    _AMBIGUOUS = object()

    def __init__(self) -> None:
        self._names: dict[str, Any] = {}

    def add(self, call_id: str | None, name: str) -> None:
        if not call_id:
            return
        known = self._names.get(call_id, name)
        self._names[call_id] = name if known == name else self._AMBIGUOUS

    def name(self, call_id: str | None) -> str | None:
        found = self._names.get(call_id or "")
        return found if isinstance(found, str) else None

    def knows(self, call_id: str | None) -> bool:
        return bool(call_id) and call_id in self._names


def proves_profile(profile: Any, caller: Any) -> bool:
    """Whether the caller proved it belongs to the profile (its access token or one of its virtual keys were
    checked), as opposed to merely knowing the profile's id."""
    return profile.token_hash is not None or getattr(caller, "virtual_key", None) is not None


class StreamRelay:
    """Turns upstream stream bytes into bytes for the client, filling ``exchange.response``.

    The pipeline calls ``feed_bytes`` with each upstream chunk and ``finish_bytes`` once at the end.
    Subclasses get decoded events in ``feed`` (SSE by default: override ``make_decoder`` for another
    framing) and may add bytes in ``finish``. ``error_bytes`` renders a mid-stream failure in the
    provider's own stream format.
    """

    #: The body framing this relay reads: ``sse``, ``eventstream`` (AWS) or ``json`` (a streamed JSON array).
    framing = "sse"

    def __init__(self, exchange: Exchange) -> None:
        self._decoder = self.make_decoder()
        self.response = exchange.response = Response(model=exchange.model)
        self.text: list[str] = []  # the answer's text so far, refusals included
        #: Set once the provider's terminal event was fed: the answer is complete (usage included).
        self.ended = False

    def sync_view(self) -> Response:
        """Bring ``exchange.response`` up to date with what was relayed (also after an early end)."""
        self.response.text = "".join(self.text)
        return self.response

    def make_decoder(self) -> Any:
        return SSEDecoder()

    def feed_bytes(self, chunk: bytes) -> bytes:
        return b"".join(piece for event in self._decoder.feed(chunk) for piece in self.feed(event))

    def finish_bytes(self) -> bytes:
        out = [piece for event in self._decoder.flush() for piece in self.feed(event)]
        return b"".join([*out, *self.finish()])

    def feed(self, event: Any) -> Iterable[bytes]:
        raise NotImplementedError

    def finish(self) -> Iterable[bytes]:
        return ()

    def error_bytes(self, message: str) -> bytes:
        raise NotImplementedError


class Provider:
    """Base adapter. Subclasses declare their name and routes and translate native JSON."""

    name: str = ""
    stream_content_type = "text/event-stream"

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        """Map a path (after ``/v1/{provider}[/{profile}]/``) to a :class:`Route`, or None if unknown."""
        raise NotImplementedError

    def upstream_request(self, settings: Any, route: Route, exchange: Exchange | None,
                         headers: dict[str, str], query: str) -> tuple[str, dict[str, str], str]:
        """Where the request goes: ``(url, headers, query string)``. Called after the hooks ran."""
        from ..upstream import join_url

        return join_url(settings.base_url(self.name), route.upstream_path), headers, query

    def sign_request(self, settings: Any, method: str, url: str, headers: dict[str, str],
                     body: bytes | None) -> dict[str, str]:
        """The headers to send, for providers that authenticate each request with the proxy's own credentials
        over its exact bytes (Bedrock SigV4); ``url`` carries the query string. Unchanged by default."""
        return headers

    def check_access(self, settings: Any, route: Route, profile: Any, caller: Any, headers: Any) -> None:
        """Raise :class:`ProxyError` when this caller may not use ``route`` (e.g. the proxy's cloud credentials
        without proof of the profile). Called once the caller was authenticated (credentials.py)."""

    def enabled(self, settings: Any) -> bool:
        return settings.base_url(self.name) is not None

    def is_chat_path(self, path: str) -> bool:
        """Whether ``path`` is one of this provider's chat routes (used to spot malformed profile ids)."""
        route = self.route("POST", path, {})
        return route is not None and route.kind == "chat"

    # -- errors ---------------------------------------------------------------------------------
    def error_body(self, error: ProxyError) -> dict[str, Any]:
        raise NotImplementedError

    def error_headers(self, error: ProxyError) -> dict[str, str]:
        return {}

    # -- request --------------------------------------------------------------------------------
    def validate_request(self, body: Any) -> None:
        """Raise :class:`ProxyError` (400) when the body is not a request this provider accepts."""
        if not isinstance(body, dict):
            raise ProxyError(400, "The request body must be a JSON object.")

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        raise NotImplementedError

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        """Write hook edits of ``exchange`` back into ``body`` (called only when something changed)."""
        raise NotImplementedError

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        """A minimal non-streamed request asking ``model`` one question (used by the dual LLM)."""
        raise NotImplementedError

    def prepare_upstream_body(self, body: dict[str, Any]) -> bool:
        """Apply provider quirks to the body sent upstream; return True if it changed."""
        return False

    # -- response -------------------------------------------------------------------------------
    def prepare_answer(self, data: Any, exchange: Exchange) -> None:
        """Before a non-streamed answer's calls are decided: fill what only the answer tells (e.g. the declared
        tools and model of a retrieved response). Nothing by default."""

    def parse_response(self, data: Any, exchange: Exchange) -> Response:
        raise NotImplementedError

    def tool_call_groups(self, data: Any) -> list[tuple[Any, ...]]:
        """The tool calls of a non-streamed answer, grouped by answer (choice/candidate): ``(key, calls)``, or
        ``(key, calls, results)`` where ``results`` are provider-executed tool results that precede the calls in
        that answer (they are judged first, so the calls are decided with them in context)."""
        raise NotImplementedError

    def refuse_response(self, data: dict[str, Any], key: Any, text: str) -> None:
        """Rewrite answer ``key`` of a non-streamed response in place: no tool calls, ``text`` instead."""
        raise NotImplementedError

    def stream_relay(self, exchange: Exchange, decide: Any) -> StreamRelay:
        raise NotImplementedError
