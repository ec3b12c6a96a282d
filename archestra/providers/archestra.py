"""Another archestra instance as the upstream: a team proxy in front of a central one.

``/v1/archestra[/{profile}]/{provider}/{rest}`` is served here exactly as ``/v1/{provider}/{rest}`` would be
(the route table, API family, hooks, policies, refusals and metering of ``{provider}``: this instance decides),
and goes to ``{ARCHESTRA_ARCHESTRA_BASE_URL}/v1/{provider}[/{ARCHESTRA_ARCHESTRA_PROFILE}]/{rest}``, where the
other instance decides again with its own policies. Exchanges are recorded under ``archestra`` with the path
``{provider}/{rest}`` (the archestra route table reads it back: policy replay, the console).

Credentials: the key held for provider ``archestra`` (``ARCHESTRA_CHAT_ARCHESTRA_API_KEY`` or a profile's own)
is a virtual key (or profile access token) of the other instance; it goes in ``X-Archestra-Token``, which the
other instance reads for every provider, and replaces every client key, as any held key does. Callers without a
virtual key here keep their own provider key (the other instance must then let it through). This instance's own
virtual keys and profile tokens never leave it (credentials.py strips every value shaped like one; the held key
is added after). The other instance's profile is named by ``ARCHESTRA_ARCHESTRA_PROFILE`` (its default profile
when unset): a virtual key there is valid only for its own profile.

This instance never signs for a cloud through a hop (no SigV4, no Google token): Bedrock requests go without a
signature and the other instance signs them with its own AWS credentials (for the callers it accepts); a client's
own SigV4 signature is refused, as it covers this proxy's host. Loops are refused (hops.py).
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping

from flask import has_request_context, request

from .. import profile_tokens, virtual_keys
from ..exchange import Exchange
from ..proxy_error import ProxyError
from ..routing import Route
from ..upstream import join_url
from . import hops
from .aws_auth import refuse_client_signature
from .base import Provider
from .family import Family
from .key_formats import KeyFormat

NAME = "archestra"
#: The other instance's credentials: its virtual keys and profile access tokens (43 URL-safe characters each).
KEYS = KeyFormat(("x-archestra-token",), tuple(re.compile(re.escape(prefix) + r"[A-Za-z0-9_-]{43}")
                                                for prefix in (virtual_keys.PREFIX, profile_tokens.PREFIX)))


@dataclass(frozen=True)
class HopRoute(Route):
    """A route of ``served`` (``inner``, as its own route table answers it), sent to the other instance."""

    served: Provider = field(kw_only=True)
    inner: Route = field(kw_only=True)


@lru_cache(maxsize=None)
def recorded_here(family: Family) -> Family:
    """``family`` with its exchanges recorded under ``archestra`` (the provider addressed), its wire format and
    errors its own; a family a body names (Bedrock InvokeModel's ``for_body``) is recorded here too."""
    twin = copy.copy(family)
    twin.provider = NAME
    twin.for_body = lambda body: recorded_here(family.for_body(body))  # type: ignore[method-assign]
    return twin


class Archestra(Provider):
    name = NAME
    key_format = KEYS
    key_header = ("X-Archestra-Token", "")

    def __init__(self, served: tuple[Provider, ...]) -> None:
        #: The providers reachable through the other instance, by name (this one excluded: a chain of instances
        #: is one hop per instance, each forwarding with its own archestra provider).
        self.served = {provider.name: provider for provider in served if provider.name != NAME}
        self.family = recorded_here(self.served["openai"].family)  # unknown paths answer in OpenAI's format

    # -- errors: in the format of the provider the path names ----------------------------------------
    def _requested_family(self) -> Family:
        """The family whose clients the current request's path names (``/v1/archestra[/{profile}]/{provider}``):
        the pipeline renders every error with the provider's ``error_body``, before and after routing, and this
        provider's clients parse the served provider's errors. OpenAI's format when no provider is named."""
        if has_request_context():
            segments = request.path.split("/")[3:5]  # ["", "v1", "archestra", first, second, ...]
            for name in reversed(segments):  # a profile may be named like a provider: the later name wins
                if name in self.served:
                    return recorded_here(self.served[name].family)
        return self.family

    def error_body(self, error: ProxyError) -> dict[str, Any]:
        return self._requested_family().error_body(error)

    def error_headers(self, error: ProxyError) -> dict[str, str]:
        return self._requested_family().error_headers(error)

    # -- routes ----------------------------------------------------------------------------------------
    def _split(self, path: str) -> tuple[Provider, str] | None:
        name, _, rest = path.partition("/")
        provider = self.served.get(name)
        return (provider, rest) if provider is not None else None

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        found = self._split(path)
        if found is None:
            return None
        provider, rest = found
        inner = provider.route(method, rest, query)
        return None if inner is None else self._hop(provider, inner)

    @staticmethod
    def _hop(provider: Provider, inner: Route) -> HopRoute:
        return HopRoute(inner.kind, f"{provider.name}/{inner.upstream_path}", inner.stream, inner.model,
                        inner.action, family=recorded_here(inner.family), served=provider, inner=inner)

    def check_access(self, settings: Any, route: Route, profile: Any, caller: Any, headers: Any) -> None:
        hops.refuse_loops(settings, headers)
        refuse_client_signature(headers)

    def upstream_request(self, settings: Any, route: Route, exchange: Exchange | None,
                         headers: dict[str, str], query: str) -> tuple[str, dict[str, str], str]:
        if not isinstance(route, HopRoute):
            raise ProxyError(500, "Not a route of the archestra provider.", kind="api_error")
        refuse_client_signature(headers, query=query)
        inner = route.inner
        path = _with_model(inner, exchange.model if exchange is not None else None)
        profile = settings.archestra_profile
        target = f"v1/{route.served.name}/" + (f"{profile}/" if profile else "") + path
        return join_url(settings.base_url(self.name), target), hops.with_hop(settings, headers), query

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        """A proxy-made question (the dual LLM) asked as the served provider asks it, through the other instance."""
        if not isinstance(route, HopRoute):
            raise ProxyError(500, "Not a route of the archestra provider.", kind="api_error")
        inner, body = route.served.completion_request(model, system, prompt, route.inner)
        return self._hop(route.served, inner), body


def _with_model(route: Route, model: str | None) -> str:
    """The route's path with the model a hook chose, where the path names the model (``{model}:{action}`` or
    ``{model}/{action}`` at its end: Gemini, Bedrock, Anthropic on Vertex AI)."""
    path = route.upstream_path
    if not (route.model and route.action and model) or model == route.model:
        return path
    for separator in (":", "/"):
        tail = f"{route.model}{separator}{route.action}"
        if path.endswith(tail):
            return f"{path[:-len(tail)]}{model}{separator}{route.action}"
    return path
