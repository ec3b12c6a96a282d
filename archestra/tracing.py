"""OpenTelemetry traces of the exchanges (GenAI semantic conventions), exported over OTLP/HTTP.

Off unless an OTLP endpoint is configured (``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``, see config.py). One SERVER
span per exchange, a child of the client's ``traceparent`` when it sent one; a CLIENT child span for the upstream
call, whose ``traceparent`` the upstream receives; INTERNAL child spans for the security decisions, each refused
tool call an event. Finished spans go to a batch processor: the request path only enqueues them, a background
thread (a greenlet under gevent) encodes and sends them. Prompts and completions go into spans only with
``ARCHESTRA_TRACE_CONTENT=true``.

The pipeline calls the methods of :class:`Tracing` unconditionally; with tracing off each returns at once.
"""
from __future__ import annotations

import contextlib
import json
import logging
import threading
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

from .providers import PROVIDERS
from .upstream import host_of

log = logging.getLogger("archestra.tracing")

#: ``gen_ai.provider.name`` of each provider, as each declares it (``Provider.tracing_name``).
GENAI_PROVIDERS = {provider.name: provider.genai_name for provider in PROVIDERS}
_TRACE_HEADERS = ("traceparent", "tracestate")
_NO_SPAN = contextlib.nullcontext()


class Tracing:
    """The process's tracer (one per app); ``enabled`` is False when no endpoint is configured."""

    def __init__(self, settings: Any) -> None:
        self.enabled = settings.otel_traces_endpoint is not None
        self.content = settings.trace_content
        self.endpoint = settings.otel_traces_endpoint
        if not self.enabled:
            return
        from opentelemetry import propagate, trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self._api, self._propagate = trace, propagate
        # No atexit shutdown of the SDK's own: it may wait 30 s for an unreachable collector (see shutdown()).
        self._provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}),
                                        shutdown_on_exit=False)
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=self.endpoint),
                                                             max_export_batch_size=settings.otel_export_batch_size))
        self._tracer = self._provider.get_tracer("archestra")
        self._server, self._client = trace.SpanKind.SERVER, trace.SpanKind.CLIENT
        import atexit

        atexit.register(self.shutdown)

    # -- the exchange ------------------------------------------------------------------------------
    def start_exchange(self, trace: Any, provider: str, method: str, path: str, headers: Mapping[str, str]) -> None:
        """The exchange's span, a child of the client's trace context (``traceparent``) if it sent one."""
        if not self.enabled:
            return
        parent = self._propagate.extract(headers)
        trace.span = self._tracer.start_span(f"chat {provider}", context=parent, kind=self._server, attributes={
            "gen_ai.provider.name": GENAI_PROVIDERS.get(provider, provider), "gen_ai.system": provider,
            "http.request.method": method, "url.path": path, "archestra.interaction.id": trace.id})

    def end_exchange(self, exchange: Any, trace: Any, usage: Any, estimated: bool) -> None:
        """Called once the exchange is recorded: everything known about it, then the span ends."""
        span = trace.span
        if span is None:
            return
        if trace.upstream_span is not None and trace.upstream_error and trace.status and trace.status < 400:
            from opentelemetry.trace import Status, StatusCode  # a stream that broke off after its headers

            trace.upstream_span.set_status(Status(StatusCode.ERROR, trace.error))
        self.end_upstream(trace)
        response = exchange.response
        operation = "chat" if trace.kind == "chat" else "passthrough"
        model = trace.model_asked or exchange.model
        span.update_name(f"{operation} {model}" if model else operation)
        values: dict[str, Any] = {
            "gen_ai.operation.name": operation, "gen_ai.request.model": model,
            "gen_ai.request.stream": bool(exchange.stream), "archestra.profile.id": exchange.profile.id,
            "archestra.profile.name": exchange.profile.name, "http.response.status_code": trace.status,
            "gen_ai.conversation.id": exchange.client.session_id,
            "archestra.blocked_tool_calls": len(exchange.blocked), "archestra.refusal": trace.refusal,
        }
        if exchange.model and exchange.model != model:
            values["archestra.upstream.model"] = exchange.model  # changed by a hook (optimisation rules)
        if response is not None:
            values.update({"gen_ai.response.model": response.model, "gen_ai.response.id": response.id})
            if response.finish_reason:
                values["gen_ai.response.finish_reasons"] = [response.finish_reason]
        if usage is not None:
            values.update({"gen_ai.usage.input_tokens": usage.input_tokens,
                           "gen_ai.usage.output_tokens": usage.output_tokens,
                           "archestra.usage.estimated": estimated})
        if self.content and trace.kind == "chat":
            values["gen_ai.input.messages"] = _input_messages(exchange)
            if response is not None:
                values["gen_ai.output.messages"] = _output_messages(response)
        span.set_attributes({key: value for key, value in values.items() if value is not None})
        self._finish(span, trace.status, trace.refusal or ("upstream_error" if trace.upstream_error else None),
                     trace.error)
        trace.span = None

    def end_unrecorded(self, trace: Any, status: int) -> None:
        """An exchange refused before it was parsed (unknown route or profile, no access): never recorded."""
        span = trace.span
        if span is None:
            return
        span.set_attribute("http.response.status_code", status)
        self._finish(span, status, str(status) if status >= 400 else None, None)
        trace.span = None

    def _finish(self, span: Any, status: int | None, error_type: str | None, message: str | None) -> None:
        from opentelemetry.trace import Status, StatusCode

        if error_type:
            span.set_attribute("error.type", error_type)
        if status is None or status >= 500:  # a SERVER span's 4xx is the client's doing, not an error
            span.set_status(Status(StatusCode.ERROR, message))
        span.end()

    # -- the upstream call -------------------------------------------------------------------------
    def start_upstream(self, trace: Any, method: str, url: str, headers: dict[str, str]) -> dict[str, str]:
        """The upstream call's span; the headers to send, carrying its trace context."""
        if trace.span is None:
            return headers
        parts = urlsplit(url)
        span = self._tracer.start_span(f"{method} {parts.hostname}", context=self._in(trace.span),
                                       kind=self._client, attributes={
                                           "http.request.method": method, "server.address": parts.hostname or "",
                                           "server.port": parts.port or (443 if parts.scheme == "https" else 80),
                                           # Never the query (Gemini keys may travel in ``?key=``) nor a
                                           # user and password in the base URL.
                                           "url.full": f"{parts.scheme}://{host_of(url)}{parts.path}"})
        trace.upstream_span = span
        headers = {name: value for name, value in headers.items() if name.lower() not in _TRACE_HEADERS}
        self._propagate.inject(headers, context=self._in(span))
        return headers

    def end_upstream(self, trace: Any, status: int | None = None, error: Any = None) -> None:
        """The upstream call's span ends: with the upstream's status, or with the proxy's error when no answer
        came (unreachable, timed out, broken off)."""
        span = trace.upstream_span
        if span is None:
            return
        if error is not None:
            self._finish(span, None, error.code or error.kind, error.message)
        else:
            status = status if status is not None else trace.status
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            self._finish(span, status, str(status) if status and status >= 400 else None, None)
        trace.upstream_span = None

    # -- security decisions ------------------------------------------------------------------------
    def security(self, trace: Any, exchange: Any, name: str) -> Any:
        """A context manager around a security stage: its span, with an event per call it refused."""
        if trace.span is None:
            return _NO_SPAN
        return self._security(trace, exchange, name)

    @contextlib.contextmanager
    def _security(self, trace: Any, exchange: Any, name: str) -> Iterator[None]:
        from opentelemetry.trace import Status, StatusCode

        span = self._tracer.start_span(name, context=self._in(trace.span))
        seen = len(exchange.blocked), len(exchange.would_block)
        try:
            yield
        except Exception as exc:  # a refused request (Block, limits) or a failed decision
            span.add_event("archestra.request.blocked", {"archestra.reason": str(exc)})
            span.set_attribute("archestra.decision", "blocked")
            span.set_status(Status(StatusCode.ERROR, exc.__class__.__name__))
            raise
        finally:
            for kind, calls, start in (("blocked", exchange.blocked, seen[0]),
                                       ("would_block", exchange.would_block, seen[1])):
                for call in calls[start:]:
                    attributes = {"gen_ai.tool.name": call.tool, "archestra.reason": call.reason}
                    if self.content:
                        attributes["gen_ai.tool.call.arguments"] = json.dumps(call.arguments, default=str)
                    span.add_event(f"archestra.tool_call.{kind}", attributes)
            if len(exchange.blocked) > seen[0]:
                span.set_attribute("archestra.decision", "blocked")
            span.set_attribute("archestra.blocked_tool_calls", len(exchange.blocked) - seen[0])
            span.end()

    def decisions(self, trace: Any, exchange: Any, decide: Callable[..., str | None]) -> Callable[..., str | None]:
        """``decide`` (the tool calls of one answer) with a span around each call of it."""
        if trace.span is None:
            return decide

        def traced(*args: Any) -> str | None:
            with self._security(trace, exchange, "archestra.security.tool_calls"):
                return decide(*args)
        return traced

    # -- process ------------------------------------------------------------------------------------
    def _in(self, span: Any) -> Any:
        return self._api.set_span_in_context(span)

    def flush(self, timeout_seconds: float = 5.0) -> None:
        if self.enabled:
            self._provider.force_flush(int(timeout_seconds * 1000))

    def shutdown(self, timeout_seconds: float = 3.0) -> None:
        """Send what is queued, waiting at most ``timeout_seconds``: an unreachable collector never holds up a
        worker's exit (what is still queued then is lost)."""
        if not self.enabled or getattr(self, "_closed", False):
            return
        self._closed = True
        closing = threading.Thread(target=self._provider.shutdown, name="archestra-tracing-shutdown", daemon=True)
        closing.start()
        closing.join(timeout_seconds)
        if closing.is_alive():
            log.warning("the trace exporter did not finish within %.0f s; unsent spans were dropped",
                        timeout_seconds)


def _input_messages(exchange: Any) -> str:
    messages = []
    for message in exchange.messages:
        parts: list[dict[str, Any]] = []
        if message.text is not None:
            parts.append({"type": "text", "content": message.text})
        parts += [{"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
                  for call in message.tool_calls]
        parts += [{"type": "tool_call_response", "id": result.tool_call_id, "response": result.content}
                  for result in message.tool_results]
        messages.append({"role": message.role, "parts": parts})
    return json.dumps(messages, ensure_ascii=False, default=str)


def _output_messages(response: Any) -> str:
    parts: list[dict[str, Any]] = [{"type": "text", "content": response.text}] if response.text else []
    parts += [{"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
              for call in response.tool_calls]
    return json.dumps([{"role": "assistant", "parts": parts, "finish_reason": response.finish_reason}],
                      ensure_ascii=False, default=str)
