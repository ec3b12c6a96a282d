"""How the Model Router forwards a decided request: to the upstreams its model id names, in order, translated
between API families where the client's and the provider's differ.

The exchange is parsed, limited, hooked and judged by the client's own family (``proxy.chat``), exactly as on
that family's native route. Then, per target: the request is written in the upstream's family (or, when both
speak the same family, sent as it is with the model replaced), signed with the key the proxy holds for that
provider, and sent. A 429, a 5xx or no connection moves on to the next target, only before anything reached
the client. The answer is translated back into the client's format *before* the client family's relay decides
its calls, so the decision is made on exactly what the client's SDK will parse.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from typing import Any, Callable
from urllib.parse import unquote

from flask import Response, request

from ..credentials import Caller
from ..exchange import Exchange, ProfileInfo
from ..families.events import answer_events
from ..families.neutral import ChatAnswer, ChatRequest, Message, Text, Untranslatable
from ..families.registry import FRONTS, upstream_codec
from ..metering.interactions import Trace
from ..providers.base import Provider
from ..proxy import Forwarding, decide_answer, read_upstream, relay_upstream, send_upstream
from ..proxy_error import ProxyError
from ..routing import Route
from ..runtime import Runtime
from ..secretbox import SecretKeyMissing, UndecryptableKey
from ..strict_json import loads_strict
from ..upstream import host_of
from . import memory
from .targets import BY_NAME, Target, resolve
from .translated import TranslatedStream, stream_events

#: Failures that move on to the next target (before anything reached the client).
RETRIED = frozenset({408, 429, 500, 502, 503, 504, 529})
#: Headers a client of the same family may pass to its provider when nothing is translated.
SAME_FAMILY_HEADERS = {"anthropic_messages": ("anthropic-version", "anthropic-beta")}
#: Headers a family's upstream needs whoever the client is.
FAMILY_HEADERS = {"anthropic_messages": {"anthropic-version": "2023-06-01"}}
#: The OpenAI-compatible servers that implement the Responses API themselves (no translation needed).
NATIVE_RESPONSES = frozenset({"openai", "vllm", "ollama"})
#: Upstream error kinds (neutral) -> the error code the client sees.
_CODES = {"rate_limit": "rate_limit_exceeded", "overloaded": "overloaded"}


@dataclass(frozen=True)
class Front:
    """What the client speaks: its family's name, and the provider route whose family decides its exchanges."""

    name: str
    provider: Provider
    path: str

    def route(self) -> Route:
        found = self.provider.route("POST", self.path, {})
        assert found is not None
        return found


FRONT_PATHS = {
    "chat/completions": Front("openai_chat", BY_NAME["openai"], "chat/completions"),
    "responses": Front("responses", BY_NAME["openai"], "responses"),
    "v1/messages": Front("anthropic_messages", BY_NAME["anthropic"], "v1/messages"),
}


def native(front: Front, target: Target) -> bool:
    """Whether the target speaks the client's own family (the body goes as it is, its model replaced)."""
    if front.name == "responses":
        return target.family == "openai_chat" and target.provider.name in NATIVE_RESPONSES
    return front.name == target.family


def held_key_headers(runtime: Runtime, profile: ProfileInfo, provider: Provider) -> dict[str, str]:
    """The provider key the proxy holds for this profile (its own, else the environment's), as that provider
    takes it; nothing for providers reached with the proxy's cloud credentials or without a key."""
    try:
        key = runtime.keys.held_key(profile.id, provider.name)
    except (SecretKeyMissing, UndecryptableKey):
        raise ProxyError(500, "The proxy cannot decrypt the provider key it holds for this profile (see its log).",
                         kind="api_error", code="provider_key_unavailable") from None
    if key is None:
        return {}
    name, prefix = provider.key_header
    return {name: prefix + key}


class RouterForwarding(Forwarding):
    def __init__(self, runtime: Runtime, front: Front, profile: ProfileInfo, caller: Caller) -> None:
        self.runtime, self.front, self.profile, self.caller = runtime, front, profile, caller
        self.targets: list[Target] = []
        self.neutral: ChatRequest | None = None
        self.body: dict[str, Any] = {}

    # -- before hooks ------------------------------------------------------------------------------------------
    def prepare(self, exchange: Exchange, body: dict[str, Any]) -> None:
        runtime, profile = self.runtime, self.profile
        self.targets = resolve(body.get("model"), lambda name: runtime.aliases.targets(profile.id, name),
                               lambda: reachable(runtime, profile))
        if not self.targets:
            raise ProxyError(400, f"The alias {body.get('model')!r} has no target this proxy knows.",
                             code="model_not_found", param="model")
        for target in self.targets:
            if not target.provider.enabled(runtime.settings):
                raise ProxyError(400, f"{target.label}: the {target.provider.name} provider is not enabled on this "
                                      "proxy.", code="provider_not_enabled", param="model")
            if not native(self.front, target) and (upstream_codec(target.family, target.provider.name) is None or self.front.name not in FRONTS):
                raise ProxyError(400, f"{target.label}: the Model Router cannot yet translate {self.front.name} "
                                      f"requests to {target.family}.", code="untranslatable", param="model")
        exchange.provider = self.targets[0].provider.name

    def completer(self, runtime: Runtime, route: Route, exchange: Exchange, trace: Trace) -> Any:
        def ask(prompt: str, system: str = "") -> str:
            question = ChatRequest(model="", messages=[Message("user", [Text(prompt)])],
                                   system=[Text(system)] if system else [], max_tokens=1024)
            for target in self.targets:
                codec = upstream_codec(target.family, target.provider.name)
                if codec is None:
                    continue
                upstream = self._send(target, codec, replace(question, model=target.model), trace)
                content = read_upstream(runtime, upstream, trace)
                if upstream.status_code >= 400:
                    raise RuntimeError(f"the upstream answered HTTP {upstream.status_code} to a proxy-made question")
                answer = codec.read_answer(loads_strict(content))
                trace.extra_calls.append({"purpose": "dual_llm", "model": answer.model or target.model,
                                          "input_tokens": answer.usage.input_tokens,
                                          "output_tokens": answer.usage.output_tokens})
                return "".join(part.text for part in answer.parts if isinstance(part, Text))
            raise RuntimeError("no target of this model can be asked a question")
        return ask

    # -- after hooks -------------------------------------------------------------------------------------------
    def forward(self, runtime: Runtime, family: Any, route: Route, exchange: Exchange, body: dict[str, Any],
                payload: bytes, trace: Trace) -> Response:
        trace.router = {"front": self.front.name, "attempts": []}
        attempts = trace.router["attempts"]
        for number, target in enumerate(self.targets):
            last = number == len(self.targets) - 1
            exchange.provider, exchange.model = target.provider.name, target.model
            try:
                if native(self.front, target):
                    upstream, codec = self._send_native(target, body, exchange, trace), None
                else:
                    codec = upstream_codec(target.family, target.provider.name)
                    neutral = replace(self._neutral(body), model=target.model, include_usage=True)
                    upstream = self._send(target, codec, neutral, trace)
            except ProxyError as error:
                attempts.append({"provider": target.prefix, "model": target.model, "status": error.status,
                                 "error": error.message})
                if last or error.kind != "upstream_error":
                    raise
                continue
            attempts.append({"provider": target.prefix, "model": target.model, "status": upstream.status_code})
            if upstream.status_code in RETRIED and not last:
                read_upstream(runtime, upstream, trace)
                continue
            if codec is None:
                return relay_upstream(runtime, family, exchange, upstream, trace)
            return self._translated(codec, family, exchange, upstream, trace, target.model)
        raise AssertionError("unreachable: the last target returns or raises")

    def _neutral(self, body: dict[str, Any]) -> ChatRequest:
        """The client's request in neutral form (read once); what cannot be translated is the client's 400. A
        Responses request continuing a conversation gets the conversation the router kept for it."""
        if self.neutral is None:
            self.body = body
            try:
                if self.front.name == "responses":
                    earlier = memory.previous(self.runtime, self.profile.id, body)
                    self.neutral = FRONTS["responses"].read_request(body, earlier)
                else:
                    self.neutral = FRONTS[self.front.name].read_request(body)
            except Untranslatable as exc:
                raise ProxyError(400, f"The Model Router cannot translate this request: {exc}.",
                                 code="untranslatable", param=exc.field) from None
        return self.neutral

    def _headers(self, target: Target, extra: dict[str, str]) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **FAMILY_HEADERS.get(target.family, {}), **extra}
        return {**headers, **held_key_headers(self.runtime, self.profile, target.provider)}

    def _send_native(self, target: Target, body: dict[str, Any], exchange: Exchange, trace: Trace) -> Any:
        sent = {**body, "model": target.model}
        passed = {name: request.headers[name] for name in SAME_FAMILY_HEADERS.get(target.family, ())
                  if name in request.headers}
        return self._post(target, self.front.path, "", sent, self._headers(target, passed), exchange, trace)

    def _send(self, target: Target, codec: Any, neutral: ChatRequest, trace: Trace,
              exchange: Exchange | None = None) -> Any:
        try:
            body = codec.write_request(neutral)
        except Untranslatable as exc:
            raise ProxyError(400, f"The Model Router cannot send this request to {target.label}: {exc}.",
                             code="untranslatable", param=exc.field) from None
        path, query = codec.path(target.model, neutral.stream)
        return self._post(target, path, query, body, self._headers(target, {}), exchange, trace)

    def _post(self, target: Target, path: str, query: str, body: dict[str, Any], headers: dict[str, str],
              exchange: Exchange | None, trace: Trace) -> Any:
        provider, settings = target.provider, self.runtime.settings
        # The path as the proxy's own routes see it: percent-decoded (as Flask hands it to them).
        route = provider.route("POST", unquote(path), dict(part.partition("=")[::2] for part in query.split("&") if part))
        if route is None or route.kind != "chat":
            raise ProxyError(500, f"{provider.name} has no chat route for {path}.", kind="api_error")
        provider.check_access(settings, route, self.profile, self.caller, headers)
        if target.family == "openai_chat":  # the server's own quirks (Mistral refuses stream_options...)
            route.family.prepare_upstream_body(body)
        payload = json.dumps(body, ensure_ascii=False).encode()
        url, headers, query = provider.upstream_request(settings, route, exchange, headers, query)
        trace.sent = payload
        return send_upstream(self.runtime, provider, trace, "POST", url, payload, headers, query)

    # -- answers -----------------------------------------------------------------------------------------------
    def _translated(self, codec: Any, family: Any, exchange: Exchange, upstream: Any, trace: Trace,
                    model: str) -> Response:
        runtime, front = self.runtime, FRONTS[self.front.name]
        neutral = self._neutral({})
        if upstream.status_code >= 400:
            content = read_upstream(runtime, upstream, trace)
            failure = codec.read_error(upstream.status_code, content)
            error = ProxyError(upstream.status_code, f"{exchange.provider} answered: {failure.message}",
                               kind="upstream_error", code=_CODES.get(failure.kind, failure.kind))
            if upstream.headers.get("Retry-After"):
                error.headers["Retry-After"] = upstream.headers["Retry-After"]
            trace.response_body = content
            raise error
        streamed = "event-stream" in (upstream.headers.get("Content-Type") or "") or \
            "eventstream" in (upstream.headers.get("Content-Type") or "")
        if exchange.stream:
            # Usage always comes (every exchange is metered); the front's relay strips what the client did not ask.
            writer = front.stream_writer(replace(neutral, include_usage=True))
            if streamed:
                reader = codec.stream_reader()
                events: Callable[[], Any] = lambda: stream_events(upstream, reader, model, self._answer_id())  # noqa: E731
            else:
                answer = self._read_answer(codec, read_upstream(runtime, upstream, trace), upstream, model)
                events = lambda: iter([answer_events(answer)])  # noqa: E731
            translated = TranslatedStream(upstream, events, writer, front.stream_content_type, on_end=lambda collected:
                                          self._answered(exchange, collected.answer(), writer))
            return relay_upstream(runtime, family, exchange, translated, trace)
        if streamed:
            upstream.close()
            raise ProxyError(502, "The upstream provider answered a non-streamed request with a stream "
                                  f"(upstream: {host_of(upstream.url)}).", kind="upstream_error",
                             code="upstream_unexpected_stream")
        answer = self._read_answer(codec, read_upstream(runtime, upstream, trace), upstream, model)
        rendered = front.render_answer(answer, neutral) if self.front.name == "responses" else \
            front.render_answer(answer)
        response = decide_answer(runtime, family, exchange, json.dumps(rendered, ensure_ascii=False).encode(), 200,
                                 [("Content-Type", "application/json")], host_of(upstream.url), trace)
        self._answered(exchange, answer, rendered)
        return response

    def _read_answer(self, codec: Any, content: bytes, upstream: Any, model: str) -> ChatAnswer:
        """The upstream's answer in neutral form; its model is the one asked when the answer names none."""
        try:
            data = loads_strict(content)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            answer = codec.read_answer(data)
            return replace(answer, model=answer.model or model, id=self._answer_id() or answer.id)
        except Untranslatable as exc:
            raise ProxyError(502, f"The upstream answer holds what the Model Router cannot translate ({exc}); it "
                                  "is refused rather than passed on unread.", kind="upstream_error",
                             code="upstream_untranslatable") from None
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ProxyError(502, f"The upstream answer does not have the shape its family answers have "
                                  f"({exc.__class__.__name__}; upstream: {host_of(upstream.url)}).",
                             kind="upstream_error", code="upstream_invalid_response") from None

    def _answer_id(self) -> str | None:
        """A fresh id for a Responses answer (the router keeps conversations under it: it must never repeat,
        whatever ids the upstream gives); None for the other fronts (the upstream's id is kept)."""
        return uuid.uuid4().hex if self.front.name == "responses" else None

    def _answered(self, exchange: Exchange, answer: ChatAnswer | None, sent: Any) -> None:
        """A translated answer reached the client, decided: a Responses client may continue it later (``sent``:
        the rendered answer, or the stream's writer, which know the id the client got)."""
        if answer is None or self.front.name != "responses":
            return
        response_id = sent.get("id") if isinstance(sent, dict) else sent.response_id
        memory.remember(self.runtime, self.profile.id, self.body, self._neutral({}), answer, exchange, response_id)


def reachable(runtime: Runtime, profile: ProfileInfo) -> list[str]:
    """The providers this profile reaches with what the proxy holds: a key (the profile's or the environment's)
    or the proxy's cloud credentials."""
    settings, found = runtime.settings, []
    cloud = {"bedrock": settings.bedrock_aws_auth, "gemini": settings.gemini_vertex_ai_enabled}
    for name, provider in BY_NAME.items():
        if provider.enabled(settings) and (cloud.get(name) or runtime.keys.held_key(profile.id, name) is not None):
            found.append(name)
    if settings.anthropic_vertex_ai_enabled:
        found.append("anthropic-vertex")
    return found


__all__ = ["FRONT_PATHS", "Front", "RouterForwarding", "reachable"]
