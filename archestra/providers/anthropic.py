"""Anthropic: the Messages API at ``{base}/v1/...``, and Anthropic models on Vertex AI at the same base
(anthropic_vertex.py: those routes are sent by that platform, decided once by ``route``)."""
from __future__ import annotations

from typing import Any, Mapping

from ..exchange import Exchange
from ..routing import Route
from . import key_formats
from .anthropic_messages import AnthropicMessages
from .anthropic_vertex import VERTEX_AI
from .base import Provider


class Anthropic(Provider):
    name = "anthropic"
    family = AnthropicMessages()
    key_format = key_formats.ANTHROPIC
    key_header = ("x-api-key", "")

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        if path == "v1/messages":
            return Route("chat", path, family=self.family)
        if path == "v1/messages/count_tokens" and method == "POST":
            return Route("passthrough", path, stream=False, family=self.family)
        if method == "GET" and (path == "v1/models" or path.startswith("v1/models/")):
            return Route("passthrough", path, stream=False, family=self.family)
        return VERTEX_AI.route(method, path, query)

    def check_access(self, settings: Any, route: Route, profile: Any, caller: Any, headers: Any) -> None:
        if route.platform is not None:
            route.platform.check_access(settings, route, profile, caller, headers)

    def upstream_request(self, settings: Any, route: Route, exchange: Exchange | None,
                         headers: dict[str, str], query: str) -> tuple[str, dict[str, str], str]:
        if route.platform is not None:
            return route.platform.upstream_request(settings, route, exchange, headers, query)
        return super().upstream_request(settings, route, exchange, headers, query)
