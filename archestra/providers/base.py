"""The provider interface: where requests go and how they authenticate, and which API family serves each path."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from ..exchange import Exchange
from ..proxy_error import ProxyError
from ..routing import Route
from ..upstream import join_url
from .key_formats import KeyFormat

if TYPE_CHECKING:
    from .family import Family


def proves_profile(profile: Any, caller: Any) -> bool:
    """Whether the caller proved it belongs to the profile (its access token or one of its virtual keys were
    checked), as opposed to merely knowing the profile's id."""
    return profile.token_hash is not None or bool(getattr(caller, "uses_held_keys", False))


class Provider:
    """Where requests go and how they authenticate: name, base URL, how a held key is sent, request signing,
    access checks, and the route table saying which API family (families are in family.py) serves each path."""

    name: str = ""
    #: The family of this provider's own API: it renders the errors of requests that have no route yet (an unknown
    #: path, a provider not enabled) and serves the routes no other family claims.
    family: Family
    #: What the provider's own keys look like and where its clients send them (key_formats.py): declared by every
    #: provider (no default), so that no decision rests on a value the proxy cannot recognise.
    key_format: KeyFormat
    #: How a key the proxy holds is sent upstream: ``(header, value prefix)``.
    key_header: tuple[str, str] = ("Authorization", "Bearer ")
    #: ``gen_ai.provider.name`` in traces (the OpenTelemetry semantic conventions' value where they name one).
    tracing_name: str | None = None

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        """Map a path (after ``/v1/{provider}[/{profile}]/``) to a :class:`Route`, or None if unknown."""
        raise NotImplementedError

    def upstream_request(self, settings: Any, route: Route, exchange: Exchange | None,
                         headers: dict[str, str], query: str) -> tuple[str, dict[str, str], str]:
        """Where the request goes: ``(url, headers, query string)``. Called after the hooks ran."""
        return join_url(settings.base_url(self.name), route.upstream_path), headers, query

    def sign_request(self, settings: Any, method: str, url: str, headers: dict[str, str],
                     body: bytes | None) -> dict[str, str]:
        """The headers to send, for providers that authenticate each request with the proxy's own credentials
        over its exact bytes (Bedrock SigV4); ``url`` carries the query string. Unchanged by default."""
        return headers

    def check_access(self, settings: Any, route: Route, profile: Any, caller: Any, headers: Any) -> None:
        """Raise :class:`ProxyError` when this caller may not use ``route`` (e.g. the proxy's cloud credentials
        without proof of the profile). Called once the caller was authenticated (credentials.py)."""

    @property
    def genai_name(self) -> str:
        """The provider as traces name it: ``tracing_name``, else its own name."""
        return self.tracing_name or self.name

    def enabled(self, settings: Any) -> bool:
        return settings.base_url(self.name) is not None

    def is_chat_path(self, path: str) -> bool:
        """Whether ``path`` is one of this provider's chat routes (used to spot malformed profile ids)."""
        route = self.route("POST", path, {})
        return route is not None and route.kind == "chat"

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        """A proxy-made question to ``model`` (the dual LLM) for an exchange that came on ``route``: asked in the
        route's family by default."""
        return route.family.completion_request(model, system, prompt, route)

    # -- errors of requests without a route: in the provider's own family's format ---------------------
    def error_body(self, error: ProxyError) -> dict[str, Any]:
        return self.family.error_body(error)

    def error_headers(self, error: ProxyError) -> dict[str, str]:
        return self.family.error_headers(error)
