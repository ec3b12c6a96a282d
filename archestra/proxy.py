"""The one pipeline every provider goes through:

limits -> parse -> on_request / on_tool_result hooks -> upstream -> relay (stream) or answer ->
on_tool_call / on_response hooks -> record. Providers only translate; nothing provider-specific lives here.
"""
from __future__ import annotations

import json
import logging
import time
from functools import partial
from typing import Any, Iterator

import requests
from flask import Response, request
from sqlalchemy.exc import SQLAlchemyError

from .client_body import read_body
from .completion import complete
from .config import provider_variable
from .credentials import Caller, authenticate, outgoing
from .disconnect import watch_client
from .exchange import ClientInfo, Exchange, ProfileInfo
from .exchange import Response as ExchangeResponse
from .hooks import Block
from .logs import interaction_id
from .metering.interactions import INTERACTION_ID, Trace, charged, record
from .metering.metrics import OVERHEAD, child
from .metering.passthrough import MAX_READ_BYTES, passthrough_model, passthrough_usage
from .profiles import SLUG_RE, UUID_RE
from .providers.base import Provider
from .providers.family import Family
from .providers.relay import StreamRelay
from .proxy_error import ProxyError
from .routing import Route
from .runtime import Runtime, current_runtime
from .streaming import StreamFormatError
from .stored_json import Checked
from .strict_json import loads_strict
from .toolcalls import decide_tool_calls, gate_server_tools, judge_result, would_refuse
from .upstream import host_of, response_headers
from .upstream_calls import read_upstream, send_upstream

log = logging.getLogger("archestra.proxy")

CLIENT_LEFT = "client disconnected before the end of the stream"
STREAM_HEADERS = [("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no")]
REFUSALS = (402, 403, 429)  # the proxy's own answers that refuse an exchange (limits, policies)
#: The time the proxy added before the answer (or a stream's headers) went out, upstream time excluded (as
#: LiteLLM's ``x-litellm-overhead-duration-ms``).
OVERHEAD_HEADER = "X-Archestra-Overhead-Duration-Ms"


def error_response(provider: Provider, error: ProxyError) -> Response:
    return Response(json.dumps(provider.error_body(error)), status=error.status, mimetype="application/json",
                    headers={**provider.error_headers(error), **error.headers})


# -- entry point ------------------------------------------------------------------------------------
def dispatch(provider: Provider, rest: str) -> Response:
    """Serve ``/v1/{provider}/{rest}``; every failure is answered in the provider's own error format."""
    return run_exchange(provider.name, partial(_serve, provider=provider, rest=rest))


def run_exchange(name: str, serve: Any) -> Response:
    """Run ``serve(runtime, trace)`` as one traced exchange of ``name`` (a provider, or the Model Router), with
    the proxy's overhead measured and reported in a header."""
    runtime = current_runtime()
    trace = Trace()
    interaction_id.set(trace.id)
    runtime.tracing.start_exchange(trace, name, request.method, request.path, request.headers)
    response = serve(runtime, trace=trace)
    overhead = time.monotonic() - trace.started - trace.upstream_seconds
    response.headers[OVERHEAD_HEADER] = f"{overhead * 1000:.3f}"
    if trace.stream_overhead is None:
        child(OVERHEAD, name, trace.kind if trace.upstream_seconds else "refused").observe(overhead)
    else:
        trace.stream_overhead = overhead  # the stream's own work adds up, observed when it ends
    if not trace.recorded and trace.stream_overhead is None:
        runtime.tracing.end_unrecorded(trace, response.status_code)
    return response


def _serve(runtime: Runtime, *, provider: Provider, rest: str, trace: Trace) -> Response:
    try:
        return serve_route(runtime, provider, rest, trace)
    except SQLAlchemyError as exc:
        return database_down(provider, exc)
    except ProxyError as error:
        log.info("%s %s -> %s %s", provider.name, request.path, error.status, error.code or error.kind)
        return error_response(provider, error)


def serve_route(runtime: Runtime, provider: Provider, rest: str, trace: Trace) -> Response:
    if not provider.enabled(runtime.settings):
        raise ProxyError(404, f"The {provider.name} provider is not enabled on this proxy "
                              f"(set {provider_variable(provider.name, 'BASE_URL')}).",
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
    caller = authenticate(runtime.keys, provider.name, profile, request.headers, request.args, runtime.identity)
    provider.check_access(runtime.settings, route, profile, caller, request.headers)
    if route.kind == "passthrough":
        trace.kind, trace.path = "passthrough", path[:512]
        return _passthrough(runtime, provider, route, profile, caller, trace)
    trace.path = path[:512]
    if route.kind == "retrieve":
        return _retrieve(runtime, provider, route, profile, caller, trace)
    return chat(runtime, provider, route, profile, caller, trace)


def database_down(provider: Provider, exc: Exception) -> Response:
    # Fail closed: without its database the proxy cannot check profiles, policies or limits.
    log.error("database unavailable, refusing %s %s: %s", provider.name, request.path, exc.__class__.__name__)
    return error_response(provider, ProxyError(
        503, "The proxy cannot reach its database; requests are refused until it is back.",
        kind="api_error", code="database_unavailable"))


def split_profile(provider: Provider, rest: str) -> tuple[str | None, str]:
    """``{profile id or slug}/{path}`` or just ``{path}`` (default profile). A malformed id is a 400. A slug
    counts where the path after it is a route and the whole is not; where both are (OpenAI passes any GET
    through: ``support-agent/models``), where it names an existing profile."""
    first, _, remainder = rest.partition("/")
    if UUID_RE.fullmatch(first):
        return first.lower(), remainder
    mistaken_id = len(first) == 36 and first.count("-") == 4
    if not mistaken_id and remainder and SLUG_RE.fullmatch(first.lower()) and \
            provider.route(request.method, remainder, request.args) is not None and \
            (provider.route(request.method, rest, request.args) is None or
             current_runtime().profiles.resolve(first) is not None):
        return first.lower(), remainder
    if mistaken_id or (remainder and provider.is_chat_path(remainder) and not provider.is_chat_path(rest)):
        raise ProxyError(400, f"Malformed profile id {first!r}: expected a UUID.", code="invalid_profile_id")
    return None, rest


# -- chat -------------------------------------------------------------------------------------------
def _read_json(family: Family) -> tuple[bytes, Any]:
    content_type = (request.mimetype or "").lower()
    # boto3's invoke_model may send no Content-Type at all: such a family reads the body as JSON regardless.
    untyped = not content_type and family.json_without_content_type
    if content_type != "application/json" and not content_type.endswith("+json") and not untyped:
        raise ProxyError(415, f"Content-Type must be application/json, got {request.mimetype or 'none'!r}.",
                         code="unsupported_media_type")
    raw = read_body(current_runtime().settings)
    try:
        body = loads_strict(raw)
    except ValueError as exc:
        raise ProxyError(400, f"The request body is not valid JSON: {exc}.", code="invalid_json") from None
    family.validate_request(body)
    return Checked(raw), body


def _client_info(caller: Caller) -> ClientInfo:
    headers, key, who = request.headers, caller.virtual_key, caller.who
    session = headers.get("X-Archestra-Session-Id") or headers.get("X-Claude-Code-Session-Id")
    return ClientInfo(session, headers.get("X-Archestra-User-Id"),
                      headers.get("X-Archestra-Agent-Id"), key.id if key else None, key.name if key else None,
                      who.person_id, who.person_email, who.team_id, who.team_name, who.subscription)


def run_refusing_stage(runtime: Runtime, exchange: Exchange, stage: str) -> None:
    """Run ``on_request`` or ``on_response`` (a non-streamed answer): a Block refuses the exchange with a 403,
    unless monitor mode records it as would-refuse and lets the exchange go on."""
    try:
        runtime.hooks.run(stage, exchange)
    except Block as block:
        if not would_refuse(exchange, stage, block):
            what = "Request" if stage == "on_request" else "Response"
            raise ProxyError(403, f"{what} blocked by policy: {block.reason}", kind="permission_error",
                             code=f"{what.lower()}_blocked") from None


def _apply_request_hooks(runtime: Runtime, exchange: Exchange, trace: Trace) -> None:
    with runtime.tracing.security(trace, exchange, "archestra.security.request"):
        run_refusing_stage(runtime, exchange, "on_request")
        for result in exchange.tool_results:
            judge_result(runtime, exchange, result)
        gate_server_tools(runtime, exchange)


class Forwarding:
    """How a parsed and decided request reaches its upstream: by default, the route's own provider with the
    client's headers (a held key where the caller may use one). The Model Router forwards its own way
    (router/forwarding.py): it picks the upstream from the model id and translates between API families."""

    def __init__(self, provider: Provider, caller: Caller) -> None:
        self.provider, self.caller = provider, caller
        self.headers, self.query = outgoing(caller, provider)  # the held key, when the caller may use it

    def prepare(self, exchange: Exchange, body: dict[str, Any]) -> None:
        """After parsing, before limits and hooks (the router resolves the model id here)."""

    def completer(self, runtime: Runtime, route: Route, exchange: Exchange, trace: Trace) -> Any:
        """What ``exchange.complete`` asks (the dual LLM): the request's own model, with the same credentials."""
        return partial(complete, runtime, self.provider, route, exchange.model, self.headers,
                       "&".join(p for p in self.query.split("&") if not p.startswith("alt=")),
                       calls=trace.extra_calls, trace=trace)

    def forward(self, runtime: Runtime, family: Any, route: Route, exchange: Exchange, body: dict[str, Any],
                payload: bytes, trace: Trace) -> Response:
        return _forward(runtime, self.provider, family, route, exchange, "POST", payload,
                        {**self.headers, "Content-Type": "application/json"}, self.query, trace)


def chat(runtime: Runtime, provider: Provider, route: Route, profile: ProfileInfo, caller: Caller,
         trace: Trace, forwarding: Forwarding | None = None) -> Response:
    """A generative exchange: parse, limits, request hooks and trust, then forward (``forwarding``: the route's
    own provider unless given) and decide the answer."""
    # The API family speaks the wire format (chat completions, Responses, Messages...); the provider says where
    # it goes and how it authenticates. Most routes' family is their provider's own.
    family = route.family
    raw, body = _read_json(family)
    family = family.for_body(body)  # a route whose wire format is the model's own (Bedrock InvokeModel)
    trace.raw_request = raw
    try:
        exchange = family.parse_request(body, route, profile, _client_info(caller))
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        # A shape the adapter's validation did not foresee: the client's mistake, never a 500.
        raise ProxyError(400, f"The request body does not have the shape {provider.name} expects "
                              f"({exc.__class__.__name__}).", code="invalid_request") from None
    trace.model_asked = exchange.model
    exchange.state[INTERACTION_ID] = trace.id
    if route.stream is not None:
        exchange.stream = route.stream
    forwarding = forwarding or Forwarding(provider, caller)
    try:  # before any hook: a refused request costs nothing upstream (the dual LLM asks the model too)
        forwarding.prepare(exchange, body)
        trace.limited = runtime.limits.check(charged(exchange, trace))
    except ProxyError as error:
        _failed(runtime, exchange, trace, error)
        raise
    exchange._completer = forwarding.completer(runtime, route, exchange, trace)
    try:
        _apply_request_hooks(runtime, exchange, trace)
        changed = exchange.edited()
        if changed:
            family.write_request(body, exchange)
        changed = family.prepare_upstream_body(body) or changed
        payload = json.dumps(body, ensure_ascii=False).encode() if changed else raw
        trace.sent = payload
        payload = family.metered_payload(payload, body)  # what the family adds to meter it (not recorded)
        return forwarding.forward(runtime, family, route, exchange, body, payload, trace)
    except ProxyError as error:
        _failed(runtime, exchange, trace, error)
        raise


def _retrieve(runtime: Runtime, provider: Provider, route: Route, profile: ProfileInfo, caller: Caller,
              trace: Trace) -> Response:
    """An answer stored at the provider, fetched again (Responses API ``GET /responses/{id}``, ``cancel``): it is
    decided like any answer, in the context its creation left (the family's retrieval exchange names it, and the
    built-in response chain looks its trust up), so a background response cannot smuggle an undecided call out."""
    family = route.family
    exchange = family.retrieval_exchange(route, profile, _client_info(caller))
    exchange.state[INTERACTION_ID] = trace.id
    if route.stream is not None:
        exchange.stream = route.stream
    trace.model_asked = exchange.model or None
    try:
        _apply_request_hooks(runtime, exchange, trace)
        return _forward(runtime, provider, family, route, exchange, request.method, None,
                        *outgoing(caller, provider), trace)
    except ProxyError as error:
        _failed(runtime, exchange, trace, error)
        raise


def _forward(runtime: Runtime, provider: Provider, family: Any, route: Route, exchange: Exchange, method: str,
             payload: bytes | None, headers: dict[str, str], query: str, trace: Trace) -> Response:
    """Send the exchange upstream and answer the client: the upstream's error, the decided stream or answer."""
    url, headers, query = provider.upstream_request(runtime.settings, route, exchange, headers, query)
    upstream = send_upstream(runtime, provider, trace, method, url, payload, headers, query)
    return relay_upstream(runtime, family, exchange, upstream, trace)


def relay_upstream(runtime: Runtime, family: Any, exchange: Exchange, upstream: requests.Response,
                   trace: Trace) -> Response:
    """The upstream's answer to the client, in ``family``'s format: its error as it is, or the stream or answer
    with every call decided."""
    if upstream.status_code >= 400:
        return _relay_error(runtime, exchange, upstream, trace)
    framing = _framing(upstream)
    if exchange.stream:
        relay = family.stream_relay(exchange, runtime.tracing.decisions(
            trace, exchange, partial(decide_tool_calls, runtime, exchange)))
        if framing == "json" and relay.framing != "json":
            # An answer that is not the stream that was asked for is never relayed uninspected:
            # it is parsed and decided as what it is.
            return _answer(runtime, family, exchange, upstream, trace)
        return _stream(runtime, exchange, relay, upstream, trace, family.stream_content_type)
    if framing in ("sse", "eventstream", "ndjson"):
        upstream.close()
        raise ProxyError(502, "The upstream provider answered a non-streamed request with a stream "
                              f"(upstream: {host_of(upstream.url)}).",
                         kind="upstream_error", code="upstream_unexpected_stream")
    return _answer(runtime, family, exchange, upstream, trace)


def _failed(runtime: Runtime, exchange: Exchange, trace: Trace, error: ProxyError) -> None:
    trace.status, trace.error = error.status, error.message
    trace.upstream_error = error.kind == "upstream_error"
    if error.status in REFUSALS and not trace.upstream_error:
        trace.refusal, trace.limit_id = error.code or error.kind, getattr(error, "limit_id", None)
    runtime.hooks.run_quietly("on_error", exchange, error)
    record(runtime, exchange, trace)


def _relay_error(runtime: Runtime, exchange: Exchange, upstream: requests.Response, trace: Trace) -> Response:
    """Upstream errors reach the client with their status and native body, so SDKs raise the right class."""
    try:
        content = read_upstream(runtime, upstream, trace)
    except ProxyError:
        content = b""
    trace.response_body = content
    _failed(runtime, exchange, trace, ProxyError(upstream.status_code, f"upstream answered HTTP "
                                                 f"{upstream.status_code}", kind="upstream_error"))
    return Response(content, status=upstream.status_code, headers=response_headers(upstream.headers))


def _answer(runtime: Runtime, family: Any, exchange: Exchange, upstream: requests.Response,
            trace: Trace) -> Response:
    content = read_upstream(runtime, upstream, trace)
    return decide_answer(runtime, family, exchange, content, upstream.status_code,
                         response_headers(upstream.headers), host_of(upstream.url), trace)


def decide_answer(runtime: Runtime, family: Any, exchange: Exchange, content: bytes, status: int,
                  headers: list[tuple[str, str]], host: str, trace: Trace) -> Response:
    """A complete non-streamed answer in ``family``'s format: its calls decided (refused ones rewritten), the
    ``on_response`` hooks run, recorded, and answered with ``status`` and ``headers``."""
    trace.first_byte = time.monotonic()
    try:
        data = loads_strict(content)  # what the proxy decides on must be what every client reads
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except ValueError:
        raise ProxyError(502, "The upstream provider returned a response that is not a JSON object "
                              f"(upstream: {host}).",
                         kind="upstream_error", code="upstream_invalid_json") from None
    changed = False
    decide = runtime.tracing.decisions(trace, exchange, partial(decide_tool_calls, runtime, exchange))
    try:
        family.prepare_answer(data, exchange)
        for key, calls, *results in family.tool_call_groups(data):
            # A group may carry the provider-executed results that came before its calls in the answer.
            refusal = decide(calls, *results)
            if refusal is not None:
                family.refuse_response(data, key, refusal)
                changed = True
        exchange.response = family.parse_response(data, exchange)
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, RecursionError) as exc:
        # Never pass on an answer that could not be inspected: its tool calls would go unchecked.
        raise ProxyError(502, f"The upstream answer does not have the shape {family.name} answers have "
                              f"({exc.__class__.__name__}; upstream: {host}).", kind="upstream_error",
                         code="upstream_invalid_response") from None
    run_refusing_stage(runtime, exchange, "on_response")
    out = json.dumps(data, ensure_ascii=False).encode() if changed else Checked(content)
    trace.status, trace.response_body = status, out
    record(runtime, exchange, trace)
    return Response(out, status=status, headers=headers)


def _framing(upstream: requests.Response) -> str:
    """What the upstream says its body is: ``sse``, ``eventstream`` (AWS), ``ndjson``, ``json`` or ``other``."""
    content_type = (upstream.headers.get("Content-Type") or "").lower()
    if "text/event-stream" in content_type:
        return "sse"
    if "amazon.eventstream" in content_type:
        return "eventstream"
    if "ndjson" in content_type:  # application/x-ndjson: Ollama's native streams
        return "ndjson"
    return "json" if "json" in content_type else "other"


def _stream(runtime: Runtime, exchange: Exchange, relay: StreamRelay, upstream: requests.Response,
            trace: Trace, content_type: str) -> Response:
    hooks = runtime.hooks
    trace.status = upstream.status_code
    environ = request.environ
    client_gone = False

    def hang_up() -> None:  # the client left while the upstream was silent: stop reading it now
        nonlocal client_gone
        client_gone = True
        try:
            upstream.raw.shutdown()  # wakes the read that waits on the upstream
        except (ValueError, RuntimeError, OSError):
            upstream.close()

    def complete_exchange() -> None:
        # Before the answer's last bytes go out, so a cost limit sees this answer before the client can
        # send its next request.
        relay.sync_view()
        try:
            hooks.run("on_response", exchange)
        except Block as block:
            log.warning("on_response blocked a stream that already reached the client: %s", block.reason)
        record(runtime, exchange, trace)

    def generate() -> Iterator[bytes]:
        # Plain values only from here on: this runs after the request context is gone.
        stop_watching = watch_client(environ, hang_up)
        monotonic, feed = time.monotonic, relay.feed_bytes  # (per chunk)
        try:
            for chunk in upstream.iter_content(chunk_size=None):
                began = monotonic()
                out = feed(chunk)
                if relay.ended and not trace.recorded:
                    complete_exchange()
                trace.stream_overhead += monotonic() - began  # type: ignore[operator]
                if out:
                    if trace.first_byte is None:
                        trace.first_byte = monotonic()
                    yield out
            if client_gone:
                trace.error = CLIENT_LEFT
                return
            tail = relay.finish_bytes()
            if not trace.recorded:
                complete_exchange()
            if tail:
                yield tail
        except (requests.RequestException, StreamFormatError, TypeError, AttributeError, KeyError, IndexError,
                ValueError, RecursionError) as exc:
            if client_gone:
                trace.error = CLIENT_LEFT
                return
            # Broken or unreadable upstream streams end cleanly; held tool calls are never released undecided.
            error = ProxyError(502, f"The upstream stream broke off ({exc.__class__.__name__}; "
                                        f"upstream: {host_of(upstream.url)}).",
                               kind="upstream_error", code="upstream_stream_broken")
            trace.error, trace.upstream_error = error.message, True
            hooks.run_quietly("on_error", exchange, error)
            yield relay.error_bytes(error.message)
        except GeneratorExit:
            trace.error = CLIENT_LEFT
            raise
        finally:
            stop_watching()
            upstream.close()
            if not trace.recorded:
                relay.sync_view()
                record(runtime, exchange, trace)
            child(OVERHEAD, exchange.provider, "stream").observe(trace.stream_overhead)

    headers = response_headers(upstream.headers) + STREAM_HEADERS
    if not upstream.headers.get("Content-Type"):
        headers.append(("Content-Type", content_type))
    trace.stream_overhead = 0.0
    return Response(generate(), status=upstream.status_code, headers=headers, direct_passthrough=True)


# -- passthrough ------------------------------------------------------------------------------------
def _passthrough(runtime: Runtime, provider: Provider, route: Route, profile: ProfileInfo, caller: Caller,
                 trace: Trace) -> Response:
    """Non-generative endpoints (model lists, embeddings): forwarded as they are, body streamed back; limited
    and recorded like any exchange (metadata only, with the tokens the answer reports)."""
    body = read_body(runtime.settings) if request.method in {"POST", "PUT", "PATCH"} else None
    exchange = Exchange(provider.name, profile, passthrough_model(route.model, body), client=_client_info(caller))
    trace.model_asked = exchange.model or None
    try:
        trace.limited = runtime.limits.check(charged(exchange, trace))
        url, headers, query = provider.upstream_request(runtime.settings, route, None,
                                                        *outgoing(caller, provider))
        upstream = send_upstream(runtime, provider, trace, request.method, url, body, headers, query)
    except ProxyError as error:
        _failed(runtime, exchange, trace, error)
        raise
    trace.status, trace.upstream_error = upstream.status_code, upstream.status_code >= 400

    def generate() -> Iterator[bytes]:
        seen = bytearray()
        try:
            for chunk in upstream.iter_content(chunk_size=None):
                if trace.first_byte is None:
                    trace.first_byte = time.monotonic()
                if len(seen) <= MAX_READ_BYTES:
                    seen += chunk
                yield chunk
        except requests.RequestException as exc:
            trace.error = f"The upstream answer broke off ({exc.__class__.__name__})."
        except GeneratorExit:
            trace.error = CLIENT_LEFT
            raise
        finally:
            upstream.close()
            if upstream.status_code < 400 and len(seen) <= MAX_READ_BYTES:
                exchange.response = ExchangeResponse(usage=passthrough_usage(bytes(seen)))
            record(runtime, exchange, trace)
            child(OVERHEAD, exchange.provider, "passthrough").observe(trace.stream_overhead)

    trace.stream_overhead = 0.0
    return Response(generate(), status=upstream.status_code, headers=response_headers(upstream.headers),
                    direct_passthrough=True)
