"""Anthropic models on Vertex AI, served under the anthropic provider's base.

``ANTHROPIC_VERTEX_BASE_URL=http://HOST:9000/v1/anthropic/{profile}`` (Claude Code, AnthropicVertex) sends
``{base}/projects/{p}/locations/{l}/publishers/anthropic/models/{model}:rawPredict`` (``:streamRawPredict``
for streams); a ``v1/`` before ``projects`` is accepted too. The request goes to the proxy's own project and
location (the client's are ignored, so no caller can pick a project) with the proxy's google-auth token; the
client's credentials go nowhere.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from ..exchange import Exchange
from ..proxy_error import ProxyError
from ..routing import Route
from ..upstream import join_url
from .anthropic_platforms import ANTHROPIC_ON_VERTEX
from .base import Provider, proves_profile
from .key_formats import ANTHROPIC, without_client_keys
from .vertex import vertex_headers

PATH = re.compile(r"(?:v1(?:beta1)?/)?projects/[^/]+/locations/[^/]+/publishers/anthropic/models/"
                  r"(?P<model>[^/:]+):(?P<action>rawPredict|streamRawPredict)")


class AnthropicOnVertexAI(Provider):
    """Where Anthropic-on-Vertex requests go and with which credentials: the platform of those routes."""

    name = "anthropic"
    family = ANTHROPIC_ON_VERTEX
    key_format = ANTHROPIC  # the client's keys never go to Vertex AI (upstream_request removes them)

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        match = PATH.fullmatch(path)
        if match is None or match["model"] == "count-tokens":
            return None
        return Route("chat", path, stream=match["action"] == "streamRawPredict", model=match["model"],
                     action=match["action"], family=ANTHROPIC_ON_VERTEX, platform=self)

    def enabled(self, settings: Any) -> bool:
        return bool(settings.anthropic_vertex_ai_enabled)

    def check_access(self, settings: Any, route: Route, profile: Any, caller: Any, headers: Any) -> None:
        if not self.enabled(settings):
            raise ProxyError(404, "Anthropic on Vertex AI is not enabled on this proxy (set "
                                  "ARCHESTRA_ANTHROPIC_VERTEX_AI_ENABLED and _PROJECT).", kind="not_found_error",
                             code="provider_not_enabled")
        if not proves_profile(profile, caller) and not settings.cloud_auth_open:
            raise ProxyError(401, "This proxy calls Vertex AI with its own Google credentials only for callers with "
                                  "the profile's access token or one of its virtual keys: send either in "
                                  "X-Archestra-Token (Claude Code: ANTHROPIC_CUSTOM_HEADERS).",
                             kind="authentication_error", code="profile_token_required")

    def upstream_request(self, settings: Any, route: Route, exchange: Exchange | None,
                         headers: dict[str, str], query: str) -> tuple[str, dict[str, str], str]:
        model = exchange.model if exchange is not None else route.model or ""
        path = (f"v1/projects/{settings.anthropic_vertex_ai_project}/locations/{settings.anthropic_vertex_ai_location}"
                f"/publishers/anthropic/models/{model}:{route.action}")
        headers, query = without_client_keys(headers, query)
        headers.update(vertex_headers(settings.anthropic_vertex_ai_credentials_file))
        return join_url(settings.anthropic_vertex_base_url(), path), headers, query


VERTEX_AI = AnthropicOnVertexAI()
