"""The one pipeline every provider goes through:

parse -> on_request / on_tool_result hooks -> upstream -> relay (stream) or answer -> on_tool_call /
on_response hooks. Providers only translate; nothing provider-specific lives here.
"""
from __future__ import annotations

import json
import logging
import time
from functools import partial
from typing import Any, Iterator

import requests
from flask import Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from .exchange import BlockedCall, ClientInfo, Exchange, ProfileInfo, ToolCall
from .hooks import Block
from .models import BlockedToolCall
from .profiles import UUID_RE
from .providers.base import Provider, ProxyError, Route
from .runtime import Runtime, current_runtime
from .streaming import StreamFormatError
from .upstream import request_headers, response_headers

log = logging.getLogger("archestra.proxy")

REFUSAL = ("I tried to invoke the {tool} tool with the following arguments: {args}.\n\n"
           "However, I was denied by a tool invocation policy:\n\n{reason}")
STREAM_HEADERS = [("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no")]


def refusal_text(call: ToolCall, reason: str) -> str:
    """What the client reads instead of a blocked tool call (product spec section 3)."""
    args = json.dumps(call.arguments, separators=(",", ":"), ensure_ascii=False)
    return REFUSAL.format(tool=call.name, args=args, reason=reason)


def error_response(provider: Provider, error: ProxyError) -> Response:
    return Response(json.dumps(provider.error_body(error)), status=error.status, mimetype="application/json",
                    headers=provider.error_headers(error))


# -- entry point ------------------------------------------------------------------------------------
def dispatch(provider: Provider, rest: str) -> Response:
    """Serve ``/v1/{provider}/{rest}``; every failure is answered in the provider's own error format."""
    runtime = current_runtime()
    started = time.monotonic()
    try:
        if not provider.enabled(runtime.settings):
            raise ProxyError(404, f"The {provider.name} provider is not enabled on this proxy "
                                  f"(set ARCHESTRA_{provider.name.upper()}_BASE_URL).",
                             kind="not_found_error", code="provider_not_enabled")
        profile_id, path = split_profile(provider, rest)
        route = provider.route(request.method, path, request.args)
        if route is None:
            raise ProxyError(404, f"{request.method} /{path} is not a route this proxy serves for "
                                  f"{provider.name}.", kind="not_found_error", code="unknown_route")
        if route.kind == "chat" and request.method != "POST":
            raise ProxyError(405, f"Use POST for /{path}.", code="method_not_allowed")
        profile = runtime.profiles.resolve(profile_id)
        if profile is None:
            raise ProxyError(404, f"Profile {profile_id} does not exist.", kind="not_found_error",
                             code="profile_not_found")
        if route.kind == "passthrough":
            return _passthrough(runtime, provider, route)
        return _chat(runtime, provider, route, profile, started)
    except ProxyError as error:
        log.info("%s %s -> %s %s", provider.name, request.path, error.status, error.code or error.kind)
        return error_response(provider, error)


def split_profile(provider: Provider, rest: str) -> tuple[str | None, str]:
    """``{profile-id}/{path}`` or just ``{path}`` (default profile). A malformed id is a 400."""
    first, _, remainder = rest.partition("/")
    if UUID_RE.fullmatch(first):
        return first.lower(), remainder
    mistaken_id = len(first) == 36 and first.count("-") == 4
    if mistaken_id or (remainder and provider.is_chat_path(remainder) and not provider.is_chat_path(rest)):
        raise ProxyError(400, f"Malformed profile id {first!r}: expected a UUID.", code="invalid_profile_id")
    return None, rest


# -- chat -------------------------------------------------------------------------------------------
def _read_json(provider: Provider) -> tuple[bytes, Any]:
    content_type = (request.mimetype or "").lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ProxyError(415, f"Content-Type must be application/json, got {request.mimetype or 'none'!r}.",
                         code="unsupported_media_type")
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        limit = current_runtime().settings.max_body_bytes
        raise ProxyError(413, f"The request body is larger than the proxy's limit of {limit} bytes.",
                         code="request_too_large") from None
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ProxyError(400, f"The request body is not valid JSON: {exc}.", code="invalid_json") from None
    provider.validate_request(body)
    return raw, body


def _client_info() -> ClientInfo:
    headers = request.headers
    return ClientInfo(headers.get("X-Archestra-Session-Id"), headers.get("X-Archestra-User-Id"),
                      headers.get("X-Archestra-Agent-Id"))


def _apply_request_hooks(runtime: Runtime, exchange: Exchange) -> None:
    hooks = runtime.hooks
    try:
        hooks.run("on_request", exchange)
    except Block as block:
        raise ProxyError(403, f"Request blocked by policy: {block.reason}", kind="permission_error",
                         code="request_blocked") from None
    for result in exchange.tool_results:
        try:
            hooks.run("on_tool_result", exchange, result)
        except Block as block:
            result.content = f"[Content blocked by policy: {block.reason}]"
            result.blocked_reason = block.reason
            result.trusted = False


def decide_tool_calls(runtime: Runtime, exchange: Exchange, calls: list[ToolCall]) -> str | None:
    """Run ``on_tool_call`` for the calls of one answer: the refusal text if any is blocked, else None."""
    for call in calls:
        try:
            runtime.hooks.run("on_tool_call", exchange, call)
        except Block as block:
            exchange.blocked.append(BlockedCall(call.name, call.arguments, block.reason))
            log.info("blocked tool call %s for profile %s: %s", call.name, exchange.profile.id, block.reason)
            runtime.recorder.submit(_record_block(exchange, call, block.reason))
            return refusal_text(call, block.reason)
    return None


def _complete(runtime: Runtime, provider: Provider, route: Route, model: str, headers: dict[str, str],
              query: str, prompt: str, system: str) -> str:
    """One non-streamed question to the exchange's own model, with the client's own credentials."""
    completion_route, body = provider.completion_request(model, system, prompt, route)
    url, headers, query = provider.upstream_request(runtime.settings, completion_route, None,
                                                    {**headers, "Content-Type": "application/json"}, query)
    upstream = runtime.upstream.send("POST", url, json.dumps(body).encode(), headers, query)
    try:
        content = upstream.content
    finally:
        upstream.close()
    if upstream.status_code >= 400:
        raise RuntimeError(f"the upstream answered HTTP {upstream.status_code} to a proxy-made completion")
    return provider.parse_response(json.loads(content), None).text  # type: ignore[arg-type]


def _record_block(exchange: Exchange, call: ToolCall, reason: str):
    values = {"profile_id": exchange.profile.id, "provider": exchange.provider, "model": exchange.model,
              "tool": call.name, "arguments": call.arguments, "reason": reason}
    return lambda session: session.add(BlockedToolCall(**values))


def _chat(runtime: Runtime, provider: Provider, route: Route, profile: ProfileInfo, started: float) -> Response:
    raw, body = _read_json(provider)
    exchange = provider.parse_request(body, route, profile, _client_info())
    if route.stream is not None:
        exchange.stream = route.stream
    query = "&".join(part for part in request.query_string.decode().split("&") if not part.startswith("alt="))
    exchange._completer = partial(_complete, runtime, provider, route, exchange.model,
                                  request_headers(request.headers.items()), query)
    try:
        _apply_request_hooks(runtime, exchange)
    except ProxyError as error:
        runtime.hooks.run_quietly("on_error", exchange, error)
        raise
    changed = exchange.edited()
    if changed:
        provider.write_request(body, exchange)
    changed = provider.prepare_upstream_body(body) or changed
    payload = json.dumps(body, ensure_ascii=False).encode() if changed else raw
    headers = request_headers(request.headers.items())
    headers["Content-Type"] = "application/json"
    try:
        url, headers, query = provider.upstream_request(runtime.settings, route, exchange, headers,
                                                        request.query_string.decode())
        upstream = runtime.upstream.send("POST", url, payload, headers, query)
    except ProxyError as error:
        runtime.hooks.run_quietly("on_error", exchange, error)
        raise
    if upstream.status_code >= 400:
        return _relay_error(runtime, exchange, upstream)
    if exchange.stream:
        return _stream(runtime, provider, exchange, upstream)
    return _answer(runtime, provider, exchange, upstream)


def _relay_error(runtime: Runtime, exchange: Exchange, upstream: requests.Response) -> Response:
    """Upstream errors reach the client with their status and native body, so SDKs raise the right class."""
    try:
        content = upstream.content
    except requests.RequestException:
        content = b""
    finally:
        upstream.close()
    error = ProxyError(upstream.status_code, f"upstream answered HTTP {upstream.status_code}",
                       kind="upstream_error")
    runtime.hooks.run_quietly("on_error", exchange, error)
    return Response(content, status=upstream.status_code, headers=response_headers(upstream.headers))


def _answer(runtime: Runtime, provider: Provider, exchange: Exchange, upstream: requests.Response) -> Response:
    try:
        content = upstream.content
    except requests.RequestException:
        raise ProxyError(502, "The upstream response broke off before it was complete.",
                         kind="upstream_error", code="upstream_broken") from None
    finally:
        upstream.close()
    try:
        data = json.loads(content)
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except ValueError:
        raise ProxyError(502, "The upstream provider returned a response that is not a JSON object.",
                         kind="upstream_error", code="upstream_invalid_json") from None
    changed = False
    for key, calls in provider.tool_call_groups(data):
        refusal = decide_tool_calls(runtime, exchange, calls)
        if refusal is not None:
            provider.refuse_response(data, key, refusal)
            changed = True
    exchange.response = provider.parse_response(data, exchange)
    try:
        runtime.hooks.run("on_response", exchange)
    except Block as block:
        raise ProxyError(403, f"Response blocked by policy: {block.reason}", kind="permission_error",
                         code="response_blocked") from None
    out = json.dumps(data, ensure_ascii=False).encode() if changed else content
    return Response(out, status=upstream.status_code, headers=response_headers(upstream.headers))


def _stream(runtime: Runtime, provider: Provider, exchange: Exchange, upstream: requests.Response) -> Response:
    relay = provider.stream_relay(exchange, partial(decide_tool_calls, runtime, exchange))
    hooks = runtime.hooks

    def generate() -> Iterator[bytes]:
        # Plain values only from here on: this runs after the request context is gone.
        try:
            for chunk in upstream.iter_content(chunk_size=None):
                out = relay.feed_bytes(chunk)
                if out:
                    yield out
            tail = relay.finish_bytes()
            if tail:
                yield tail
        except (requests.RequestException, StreamFormatError) as exc:
            # Held tool calls are never released undecided: they die with the stream.
            error = ProxyError(502, f"The upstream stream broke off ({exc.__class__.__name__}).",
                               kind="upstream_error", code="upstream_stream_broken")
            hooks.run_quietly("on_error", exchange, error)
            yield relay.error_bytes(error.message)
            return
        finally:
            upstream.close()
        try:
            hooks.run("on_response", exchange)
        except Block as block:
            log.warning("on_response blocked a stream that already reached the client: %s", block.reason)

    headers = response_headers(upstream.headers) + STREAM_HEADERS
    if not upstream.headers.get("Content-Type"):
        headers.append(("Content-Type", provider.stream_content_type))
    return Response(generate(), status=upstream.status_code, headers=headers, direct_passthrough=True)


# -- passthrough ------------------------------------------------------------------------------------
def _passthrough(runtime: Runtime, provider: Provider, route: Route) -> Response:
    """Non-generative endpoints (model lists, embeddings): forwarded as they are, body streamed back."""
    body = request.get_data(cache=False) if request.method in {"POST", "PUT", "PATCH"} else None
    url, headers, query = provider.upstream_request(runtime.settings, route, None,
                                                    request_headers(request.headers.items()),
                                                    request.query_string.decode())
    upstream = runtime.upstream.send(request.method, url, body, headers, query)

    def generate() -> Iterator[bytes]:
        try:
            yield from upstream.iter_content(chunk_size=None)
        except requests.RequestException:
            return
        finally:
            upstream.close()

    return Response(generate(), status=upstream.status_code, headers=response_headers(upstream.headers),
                    direct_passthrough=True)
