"""The Model Router's routes besides chat: the models a caller may reach, embeddings, and Anthropic's
``count_tokens``. Each goes with keys the proxy holds, like the router's chat routes."""
from __future__ import annotations

import json
import logging
from typing import Any

from flask import Response

from ..client_body import read_body
from ..exchange import Exchange, ProfileInfo
from ..exchange import Response as ExchangeResponse
from ..families import embeddings as embeddings_codec
from ..families.neutral import Image, Text, ToolCallPart, ToolResultPart, Untranslatable
from ..families.registry import FRONTS
from ..metering.interactions import Trace, record
from ..metering.optimization import CHARS_PER_TOKEN
from ..metering.passthrough import passthrough_usage
from ..providers.base import Provider
from ..proxy import read_upstream, send_upstream
from ..proxy_error import ProxyError
from ..runtime import Runtime
from ..strict_json import loads_strict
from ..upstream import join_url
from .forwarding import held_key_headers, reachable
from .targets import BY_NAME, Target, resolve, speaks_openai_chat

log = logging.getLogger("archestra.router")
#: An image counts as about 1,600 tokens in an estimate (Anthropic's figure for a 1.15-megapixel image).
IMAGE_CHARS = 1600 * CHARS_PER_TOKEN
#: How each provider lists its models: (path, the list's key in the answer, the id's key, a prefix to strip).
MODEL_LISTS = {"anthropic": ("v1/models", "data", "id", ""), "gemini": ("v1beta/models", "models", "name", "models/"),
               "cohere": ("v1/models", "models", "name", "")}


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def _get(runtime: Runtime, profile: ProfileInfo, provider: Provider, path: str, trace: Trace) -> Any:
    base = runtime.settings.base_url(provider.name)
    if base is None:  # reached with cloud credentials (Vertex AI): its model catalogue is not this API
        return {}
    headers = {**held_key_headers(runtime, profile, provider),
               **({"anthropic-version": "2023-06-01"} if provider.name == "anthropic" else {})}
    upstream = send_upstream(runtime, provider, trace, "GET", join_url(base, path), None, headers, "")
    content = read_upstream(runtime, upstream, trace)
    if upstream.status_code >= 400:
        raise ProxyError(upstream.status_code, f"{provider.name} answered HTTP {upstream.status_code}",
                         kind="upstream_error")
    return loads_strict(content)


def _provider_models(runtime: Runtime, profile: ProfileInfo, name: str, trace: Trace) -> list[str]:
    provider = BY_NAME.get(name)
    if provider is None:
        return []
    if name in MODEL_LISTS:
        listing = MODEL_LISTS[name]
    elif speaks_openai_chat(provider):
        listing = ("models", "data", "id", "")
    else:
        return []  # Bedrock lists its models on its control-plane API, which the proxy does not reach
    path, key, field, strip = listing
    data = _get(runtime, profile, provider, path, trace)
    return [str(item[field]).removeprefix(strip) for item in data.get(key) or [] if isinstance(item, dict)]


def list_models(runtime: Runtime, profile: ProfileInfo, caller: Any, trace: Trace) -> Response:
    """The aliases the profile may use, then each reachable provider's models as ``provider:model`` (a provider
    whose list cannot be read is left out and logged)."""
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "archestra"}
            for name in runtime.aliases.visible(profile.id)]
    for name in reachable(runtime, profile):
        try:
            models = _provider_models(runtime, profile, name, trace)
        except (ProxyError, ValueError) as exc:
            log.warning("the model list of %s could not be read: %s", name, exc)
            continue
        data += [{"id": f"{name}:{model}", "object": "model", "created": 0, "owned_by": name} for model in models]
    return _json({"object": "list", "data": data})


def _body(runtime: Runtime) -> tuple[bytes, dict[str, Any]]:
    raw = read_body(runtime.settings)
    try:
        body = loads_strict(raw)
    except ValueError as exc:
        raise ProxyError(400, f"The request body is not valid JSON: {exc}.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ProxyError(400, "The request body must be a JSON object.", code="invalid_request")
    return raw, body


def _first(runtime: Runtime, profile: ProfileInfo, body: dict[str, Any]) -> Target:
    return resolve(body.get("model"), lambda name: runtime.aliases.targets(profile.id, name),
                   lambda: reachable(runtime, profile))[0]


#: Providers whose own embeddings API the router translates OpenAI's into: the request's (path, body) and the
#: answer's (vectors, input tokens).
EMBEDDINGS = {"gemini": (embeddings_codec.gemini_request, embeddings_codec.gemini_vectors),
              "cohere": (embeddings_codec.cohere_request, embeddings_codec.cohere_vectors)}


def embeddings(runtime: Runtime, profile: ProfileInfo, caller: Any, trace: Trace) -> Response:
    """OpenAI's embeddings format: an OpenAI-compatible provider's own endpoint, or Gemini's / Cohere's
    translated."""
    raw, body = _body(runtime)
    target = _first(runtime, profile, body)
    if target.family == "openai_chat":
        return _forward_json(runtime, profile, caller, trace, target, "embeddings", {**body, "model": target.model},
                             raw)
    if target.provider.name not in EMBEDDINGS:
        raise ProxyError(400, f"{target.label}: the Model Router serves embeddings from OpenAI-compatible "
                              "providers, Gemini and Cohere.", code="untranslatable", param="model")
    try:
        asked = embeddings_codec.read_request({**body, "model": target.model})
    except Untranslatable as exc:
        raise ProxyError(400, f"The Model Router cannot translate this request: {exc}.", code="untranslatable",
                         param=exc.field) from None
    write, read = EMBEDDINGS[target.provider.name]
    path, sent = write(asked)
    answer = _forward_json(runtime, profile, caller, trace, target, path, sent, raw)
    if answer.status_code >= 400:
        return answer
    try:
        vectors, tokens = read(loads_strict(answer.get_data()), len(asked.texts))
    except (ValueError, AttributeError, TypeError) as exc:
        raise ProxyError(502, f"The upstream's embeddings could not be read ({exc}).", kind="upstream_error",
                         code="upstream_invalid_response") from None
    return _json(embeddings_codec.render(asked, vectors, tokens))


def count_tokens(runtime: Runtime, profile: ProfileInfo, caller: Any, trace: Trace) -> Response:
    """Anthropic's ``count_tokens``: asked of Anthropic for its own models, estimated for every other provider
    (about four characters per token of everything the request sends)."""
    raw, body = _body(runtime)
    target = _first(runtime, profile, body)
    if target.family == "anthropic_messages":
        return _forward_json(runtime, profile, caller, trace, target, "v1/messages/count_tokens",
                             {**body, "model": target.model}, raw)
    try:
        neutral = FRONTS["anthropic_messages"].read_request({**body, "max_tokens": 1})
    except (Untranslatable, KeyError) as exc:
        raise ProxyError(400, f"The Model Router cannot read this request: {exc}.", code="untranslatable") from None
    chars = sum(len(part.text) for part in neutral.system)
    for message in neutral.messages:
        for part in message.parts:
            if isinstance(part, Text):
                chars += len(part.text)
            elif isinstance(part, ToolCallPart):
                chars += len(part.name) + len(part.arguments)
            elif isinstance(part, ToolResultPart):
                chars += sum(len(p.text) for p in part.content if isinstance(p, Text))
                chars += IMAGE_CHARS * sum(1 for p in part.content if isinstance(p, Image))
            elif isinstance(part, Image):
                chars += IMAGE_CHARS
    chars += sum(len(json.dumps(tool.parameters or {})) + len(tool.name) + len(tool.description or "")
                 for tool in neutral.tools)
    return _json({"input_tokens": (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN})


def _forward_json(runtime: Runtime, profile: ProfileInfo, caller: Any, trace: Trace, target: Target, path: str,
                  body: dict[str, Any], raw: bytes) -> Response:
    """A non-generative request to ``target``'s ``path``, answered as the provider answers it; recorded."""
    provider = target.provider
    exchange = Exchange(provider.name, profile, target.model)
    trace.model_asked, trace.raw_request = str(body.get("model")), raw
    trace.router = {"front": "anthropic_messages" if path.startswith("v1/") else "openai_chat", "attempts": []}
    headers = {"Content-Type": "application/json", **held_key_headers(runtime, profile, provider),
               **({"anthropic-version": "2023-06-01"} if provider.name == "anthropic" else {})}
    route = provider.route("POST", path, {})
    if route is None:
        raise ProxyError(500, f"{provider.name} has no route for {path}.", kind="api_error")
    provider.check_access(runtime.settings, route, profile, caller, headers)
    url, headers, query = provider.upstream_request(runtime.settings, route, None, headers, "")
    payload = json.dumps(body).encode()
    upstream = send_upstream(runtime, provider, trace, "POST", url, payload, headers, query)
    content = read_upstream(runtime, upstream, trace)
    trace.router["attempts"].append({"provider": target.prefix, "model": target.model,
                                     "status": upstream.status_code})
    trace.status, trace.upstream_error, trace.response_body = upstream.status_code, upstream.status_code >= 400, None
    if upstream.status_code < 400:
        exchange.response = ExchangeResponse(usage=passthrough_usage(content))
    record(runtime, exchange, trace)
    return Response(content, status=upstream.status_code, mimetype="application/json")
