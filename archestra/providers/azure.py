"""Azure OpenAI and Azure AI Foundry (provider-wire-formats.md section 9): OpenAI's chat completions and Responses
families, at Azure's paths, with Azure's credentials.

``ARCHESTRA_AZURE_BASE_URL`` is the resource endpoint (``https://{resource}.openai.azure.com``); clients use
``http://HOST:9000/v1/azure[/{profile}]`` as theirs (``AzureOpenAI(azure_endpoint=...)`` appends ``/openai/...``).
Both URL schemes are served, the query (``api-version``) forwarded as it came:

* deployments: ``openai/deployments/{deployment}/chat/completions`` and ``.../embeddings``; the deployment in the
  path is the model asked (the answer's ``model`` names the real model, which prices the exchange); the Responses
  API is not deployment-scoped (``openai/responses``, the deployment in the body's ``model``);
* v1: ``openai/v1/chat/completions``, ``openai/v1/responses``, ``openai/v1/embeddings`` (the deployment in the
  body's ``model``); a bare ``chat/completions`` goes there too, so that OpenAI's own clients with the proxy's
  ``/v1/azure`` as their base URL, and the Model Router (``azure:{deployment}``), reach it.

Credentials, in this order: the key the proxy holds (``ARCHESTRA_CHAT_AZURE_API_KEY``, per-profile keys) as
``api-key`` for callers with a virtual key; else the caller's own ``api-key`` or ``Authorization: Bearer`` (an Entra
ID token it got itself), passed through; else, with ``ARCHESTRA_AZURE_ENTRA_ID``, the proxy's own Entra ID token
(azure_entra.py), only for callers that proved the profile (its access token or one of its virtual keys), as the
proxy's AWS and Google credentials are.

Azure's ``prompt_filter_results`` / ``content_filter_results`` (and the async filter's ``content_filter_offsets``)
sit beside the choices and messages, where the chat completions family reads nothing as content: they pass as the
provider's metadata, and a choice's tool calls are decided whatever they say.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Mapping

from ..exchange import ClientInfo, Exchange, ProfileInfo
from ..profile_tokens import carries_token
from ..proxy_error import ProxyError
from ..routing import Route
from ..upstream import join_url, request_headers
from ..virtual_keys import carries_virtual_key
from . import azure_entra, key_formats, responses
from .base import Provider, proves_profile
from .chat_completions import CHAT, ChatCompletions

#: Azure's deployment names: letters, digits, ``-``, ``_`` and ``.``.
DEPLOYMENT = re.compile(r"openai/deployments/(?P<deployment>[A-Za-z0-9][A-Za-z0-9._-]{0,63})/"
                        r"(?P<operation>chat/completions|embeddings)")
V1 = "openai/v1/"
MODELS = ("openai/models", "openai/v1/models")
_MISSING = object()


class DeploymentChat(ChatCompletions):
    """Chat completions at ``openai/deployments/{deployment}/chat/completions``: the deployment in the path is the
    model (the body's ``model`` is optional there and goes upstream as the client wrote it)."""

    def validate_request(self, body: Any) -> None:
        if isinstance(body, dict) and "model" not in body:
            super().validate_request({**body, "model": "deployment"})  # the path names it
        else:
            super().validate_request(body)

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        return super().parse_request({**body, "model": route.model}, route, profile, client)

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        model = body.get("model", _MISSING)
        super().write_request(body, exchange)  # a changed model goes into the path (Azure.upstream_request)
        if model is _MISSING:
            body.pop("model", None)
        else:
            body["model"] = model

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        question, body = super().completion_request(model, system, prompt, route)
        return replace(question, upstream_path=f"openai/deployments/{model}/{CHAT}", model=model, action=CHAT), body


DEPLOYMENT_CHAT = DeploymentChat("azure")
V1_CHAT = ChatCompletions("azure", chat_path=V1 + CHAT)


class Azure(Provider):
    name = "azure"
    family = V1_CHAT
    key_format = key_formats.AZURE
    key_header = ("api-key", "")
    tracing_name = "azure.ai.openai"

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        match = DEPLOYMENT.fullmatch(path)
        if match is not None:
            operation = match["operation"]
            return Route("chat" if operation == CHAT else "passthrough", path, model=match["deployment"],
                         action=operation, stream=None if operation == CHAT else False, family=DEPLOYMENT_CHAT)
        if method == "GET" and path in MODELS:
            return Route("passthrough", path, stream=False, family=V1_CHAT)
        prefix = V1 if path.startswith(V1) else "openai/"
        rest = path[len(prefix):] if path.startswith(prefix) else None
        if rest == CHAT and prefix == V1:
            return Route("chat", path, family=V1_CHAT)
        if path == CHAT:  # the v1 scheme speaks OpenAI's API: a plain OpenAI client (and the Model Router) too
            return Route("chat", V1 + CHAT, family=V1_CHAT)
        if rest == "embeddings" and prefix == V1:
            return Route("passthrough", path, stream=False, family=V1_CHAT) if method == "POST" else None
        if rest == responses.PATH:
            return Route("chat", path, family=responses.family_for(self.name))
        if rest is not None and rest.startswith(responses.PATH + "/"):
            found = responses.companion_route(method, rest, query, self.name)
            if found is None:  # never passed through: a GET of a stored response must be inspected
                raise ProxyError(404, f"{method} /{path} is not a route this proxy serves for azure.",
                                 kind="not_found_error", code="unknown_route")
            return replace(found, upstream_path=prefix + found.upstream_path)
        return None

    def check_access(self, settings: Any, route: Route, profile: Any, caller: Any, headers: Any) -> None:
        """The proxy's Entra ID token serves only callers that proved the profile; anyone else must bring an Azure
        key or Entra token of their own that goes upstream (a value that is no Azure credential, or one the proxy
        would strip as its own secret, counts as none: the proxy's token would otherwise take its place)."""
        if not settings.azure_entra_id or settings.cloud_auth_open or proves_profile(profile, caller):
            return
        key = key_formats.own_key(self.key_format, request_headers(headers.items()))
        if key is None or carries_virtual_key(key) or carries_token(key):
            raise ProxyError(401, "This proxy calls Azure OpenAI with its own Microsoft Entra ID identity only for "
                                  "callers with the profile's access token (X-Archestra-Token) or one of its virtual "
                                  "keys (as the api-key): send either, or your own Azure key (api-key) or Entra ID "
                                  "token (Authorization: Bearer).", kind="authentication_error",
                             code="profile_token_required")

    def upstream_request(self, settings: Any, route: Route, exchange: Exchange | None,
                         headers: dict[str, str], query: str) -> tuple[str, dict[str, str], str]:
        path = route.upstream_path
        if exchange is not None and route.family is DEPLOYMENT_CHAT and route.action == CHAT:
            path = f"openai/deployments/{exchange.model}/{CHAT}"  # a hook may have chosen another deployment
            if DEPLOYMENT.fullmatch(path) is None:
                raise ProxyError(400, f"{exchange.model!r} is not an Azure deployment name.", param="model",
                                 code="invalid_model")
        if settings.azure_entra_id and not any(name.lower() in key_formats.KEY_HEADERS for name in headers):
            # No key goes upstream (check_access let only callers with proof get this far without one).
            headers = {**headers, "Authorization": f"Bearer {azure_entra.bearer_token()}"}
        return join_url(settings.base_url(self.name), path), headers, query

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        """Asked in chat completions in the scheme the exchange used (the Responses API's exchanges too)."""
        family = V1_CHAT if route.upstream_path.startswith(V1) else DEPLOYMENT_CHAT
        return family.completion_request(model, system, prompt, route)


AZURE = Azure()
