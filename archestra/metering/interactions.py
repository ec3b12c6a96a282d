"""Recording interactions: plain values gathered while the exchange runs, written off the request path."""
from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from functools import partial
from typing import Any, cast

from ..exchange import Exchange, Usage
from ..models import Interaction
from ..security.labels import labelled_results, recorded_labels
from ..stored_json import stored_text
from .limits import Charged, add_usage
from .metrics import BLOCKED, COST, DURATION, FIRST_TOKEN, REFUSALS, REQUESTS, TOKENS, UPSTREAM_ERRORS, child, labels
from .optimization import CHARS_PER_TOKEN, estimate_prompt_tokens
from .pricing import PriceBook
from .spend import call_rows, spend_row

MAX_STORED_BYTES = 8 * 1024 * 1024
#: ``Exchange.state`` key of the interaction's id: blocked tool calls recorded during the exchange link to it.
INTERACTION_ID = "archestra.interaction_id"
INTERACTIONS = Interaction.__table__
log = logging.getLogger("archestra.recorder")


@dataclass
class Trace:
    """What the pipeline saw of one exchange (no ORM objects: safe to carry into a stream)."""

    started: float = field(default_factory=time.monotonic)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))  # the interaction's id, known before it is written
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    model_asked: str | None = None
    raw_request: bytes = b""
    sent: bytes | None = None
    response_body: bytes | None = None
    status: int | None = None
    error: str | None = None
    upstream_error: bool = False
    first_byte: float | None = None
    limited: bool = False       # a cost limit applies: count the cost before the answer ends
    recorded: bool = False
    refusal: str | None = None  # the code of the proxy's refusal (token_cost_limit_exceeded, request_blocked...)
    limit_id: str | None = None
    kind: str = "chat"          # or "passthrough"
    path: str | None = None     # the request path below the profile: the route it came by
    #: Upstream calls the proxy made for the exchange (dual LLM): ``{"model", "input_tokens", "output_tokens"}``.
    extra_calls: list[dict[str, Any]] = field(default_factory=list)
    #: Time spent waiting for upstreams (the call, its body, dual LLM questions): not the proxy's overhead.
    upstream_seconds: float = 0.0
    #: A stream's overhead so far (set when its headers go out; its per-chunk work adds up); None: not a stream.
    stream_overhead: float | None = None
    span: Any = None           # the exchange's OpenTelemetry span, while open (tracing.py)
    upstream_span: Any = None  # the upstream call's span, while open
    #: Model Router exchanges: the client's family and every upstream attempt (see ``Interaction.router``).
    router: dict[str, Any] | None = None


def _json(data: bytes | None) -> Any:
    if not data:
        return None
    if len(data) > MAX_STORED_BYTES:
        return {"truncated": True, "bytes": len(data), "head": data[:65536].decode("utf-8", "replace")}
    text = stored_text(data)  # read strictly on the request path already: stored as it came
    if text is not None:
        return text
    try:
        return json.loads(data)
    except ValueError:
        return {"raw": data[:65536].decode("utf-8", "replace")}


def charged(exchange: Exchange, trace: Trace) -> Charged:
    """Whom the exchange's cost counts for (limits.py)."""
    client = exchange.client
    return Charged(exchange.profile.id, client.virtual_key_id, client.person_id, client.team_id,
                   tuple(model for model in (trace.model_asked, exchange.model) if model),
                   client.subscription is not None)


def record(runtime: Any, exchange: Exchange, trace: Trace) -> None:
    """Count the exchange in the metrics and queue its interaction row (and its cost against limits)."""
    now = time.monotonic()
    response = exchange.response
    usage = response.usage if response is not None else None
    estimated = _needs_estimate(usage, trace)
    if estimated:
        usage = estimate_usage(exchange)
    tags = labels(exchange.provider, trace.model_asked or exchange.model, exchange.profile.id, exchange.profile.name)
    child(REQUESTS, **tags, status=str(trace.status or 0)).inc()
    child(DURATION, **tags).observe(now - trace.started)
    if trace.first_byte is not None:
        child(FIRST_TOKEN, **tags).observe(trace.first_byte - trace.started)
    if usage is not None and usage.input_tokens:
        child(TOKENS, **tags, direction="input").inc(usage.input_tokens)
    if usage is not None and usage.output_tokens:
        child(TOKENS, **tags, direction="output").inc(usage.output_tokens)
    for call in trace.extra_calls:
        for direction in ("input", "output"):
            if call[f"{direction}_tokens"]:
                child(TOKENS, **tags, direction=direction).inc(call[f"{direction}_tokens"])
    if exchange.blocked:
        child(BLOCKED, **tags).inc(len(exchange.blocked))
    if trace.refusal:
        child(REFUSALS, **tags, reason=trace.refusal).inc()
    if trace.upstream_error:
        child(UPSTREAM_ERRORS, **tags, status=str(trace.status or 0)).inc()
    values = {
        "id": trace.id, "profile_id": exchange.profile.id, "profile_name": exchange.profile.name, "kind": trace.kind,
        "refusal": trace.refusal, "limit_id": trace.limit_id, "usage_estimated": estimated,
        "extra_calls": trace.extra_calls or None, "provider": exchange.provider, "model": trace.model_asked,
        "model_used": exchange.model, "stream": exchange.stream, "status_code": trace.status,
        "error": trace.error, "input_tokens": usage.input_tokens if usage else None,
        "output_tokens": usage.output_tokens if usage else None,
        "duration_ms": round((now - trace.started) * 1000, 3),
        "time_to_first_token_ms": round((trace.first_byte - trace.started) * 1000, 3) if trace.first_byte else None,
        "blocked": [asdict(b) for b in exchange.blocked] or None, "blocked_count": len(exchange.blocked),
        "would_block_count": len(exchange.would_block) + len(exchange.would_block_results) +
        len(exchange.would_refuse), "path": trace.path,
        "flags": _flags(exchange, _metadata_only(runtime, exchange)),
        "session_id": exchange.client.session_id, "user_id": exchange.client.user_id,
        "agent_id": exchange.client.agent_id, "created_at": trace.created_at,
        "virtual_key_id": exchange.client.virtual_key_id, "virtual_key_name": exchange.client.virtual_key_name,
        "router": trace.router, "person_id": exchange.client.person_id,
        "person_email": exchange.client.person_email, "team_id": exchange.client.team_id,
        "team_name": exchange.client.team_name, "subscription": exchange.client.subscription,
        "labels": recorded_labels(exchange),
    }
    # Streams have no native body to keep: the response is the one rebuilt from the stream.
    rebuilt = asdict(response) if response is not None and trace.response_body is None and trace.kind == "chat" \
        else None
    priced_model = (response.model if response is not None else None) or exchange.model
    usage_counter = _UsageCounter(runtime.prices, values, priced_model, tags, trace.limited,
                                  charged(exchange, trace))
    if trace.limited:
        # Limits must see this cost before the client can send its next request: count it now.
        try:
            runtime.recorder.run_now(usage_counter)
        except Exception:
            log.exception("counting the cost of an exchange against its limits failed")
    calls = Counter(call.name for _, answer in exchange.decided for call in answer)  # the model's, refused too
    if _metadata_only(runtime, exchange):
        runtime.recorder.submit(partial(_write, usage_counter, values, b"", None, None, None, calls=calls))
    else:
        runtime.recorder.submit(partial(_write, usage_counter, values, trace.raw_request, trace.sent,
                                        trace.response_body, rebuilt, calls=calls))
    if runtime.retention is not None:
        runtime.retention.ensure_started()
    trace.recorded = True
    runtime.tracing.end_exchange(exchange, trace, usage, estimated)


def _metadata_only(runtime: Any, exchange: Exchange) -> bool:
    """No bodies (prompts are often personal data): the profile's choice, else the global setting."""
    own = exchange.profile.metadata_only
    return runtime.settings.interaction_metadata_only if own is None else own


def _needs_estimate(usage: Usage | None, trace: Trace) -> bool:
    """The upstream answered (fully or in part) but reported no usage: the tokens still cost money."""
    no_usage = usage is not None and usage.input_tokens is None and usage.output_tokens is None
    return no_usage and trace.kind == "chat" and trace.status is not None and trace.status < 400


def estimate_usage(exchange: Exchange) -> Usage:
    """About four characters per token, prompt and answer (tool call arguments included)."""
    response = exchange.response
    chars = len(response.text or "") if response else 0
    chars += sum(len(call.name or "") + len(json.dumps(call.arguments, default=str))
                 for call in (response.tool_calls if response else []))
    return Usage(estimate_prompt_tokens(exchange), (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN)


def _flags(exchange: Exchange, metadata_only: bool) -> dict[str, Any] | None:
    flags = {"undeclared_tool_calls": exchange.undeclared_calls or None,
             "unseen_context": exchange.unseen_context or None,
             "would_block": [asdict(b) for b in exchange.would_block] or None,
             "would_block_results": exchange.would_block_results or None,
             "would_refuse": exchange.would_refuse or None,
             "labelled_results": labelled_results(exchange) or None,
             "answer_decisions": None if metadata_only else _answer_decisions(exchange)}
    return {key: value for key, value in flags.items() if value} or None


def _answer_decisions(exchange: Exchange) -> list[dict[str, Any]] | dict[str, Any] | None:
    """The answer's tool results and calls as they were decided, for policy replay, where the stored answer
    cannot show them: a stream (its rebuilt answer keeps no provider results), or an answer whose calls an
    enforced refusal replaced."""
    if not exchange.decided or not (exchange.stream or exchange.blocked):
        return None
    groups = [{"results": [{"tool_call_id": r.tool_call_id, "name": r.name, "content": r.original_content,
                            "document": r.document, "server": r.server} for r in results],
               "calls": [{"id": c.id, "name": c.name, "arguments": c.arguments, "raw_arguments": c.raw_arguments,
                          "freeform": c.freeform, "server": c.server} for c in calls]}
              for results, calls in exchange.decided]
    size = len(json.dumps(groups, default=str))
    return {"truncated": True, "bytes": size} if size > MAX_STORED_BYTES else groups


class _UsageCounter:
    """Prices the exchange and adds its cost to the limits that apply, once.

    ``limited`` says whether any limit applied when the request was admitted; without one there is no row
    to update (a limit created later counts from its creation), so the write skips the UPDATEs.
    """

    def __init__(self, prices: PriceBook, values: dict[str, Any], priced_model: str | None, tags: dict[str, str],
                 limited: bool, who: Charged):
        self.prices, self.values, self.priced_model, self.tags = prices, values, priced_model, tags
        self.limited, self.who = limited, who
        self.done, self.cost = False, cast("Decimal | None", None)

    def __call__(self, session: Any) -> None:
        if self.done:
            return
        values = self.values
        cost = self.prices.cost(session, self.priced_model, values["input_tokens"], values["output_tokens"])
        if cost is None and self.priced_model != values["model_used"]:
            cost = self.prices.cost(session, values["model_used"], values["input_tokens"], values["output_tokens"])
        for call in values["extra_calls"] or ():  # the dual LLM's questions are part of the exchange's cost
            call_cost = self.prices.cost(session, call["model"], call["input_tokens"], call["output_tokens"])
            call["cost_usd"] = float(call_cost) if call_cost is not None else None
            if call_cost is not None:
                cost = (cost or Decimal(0)) + call_cost
        if cost and self.limited:
            add_usage(session, self.who, cost)
        if cost and not self.who.covered:
            child(COST, **self.tags).inc(float(cost))
        self.done, self.cost = True, cost


def _write(usage: _UsageCounter, values: dict[str, Any], raw: bytes, sent: bytes | None, body: bytes | None,
           rebuilt: Any, session: Any, calls: Counter[str] | None = None) -> list[tuple[Any, dict[str, Any]]]:
    usage(session)
    request = _json(raw)
    return [(INTERACTIONS, {**values, "request": request,
                            # Stored only when the proxy changed the request (the API shows the request otherwise).
                            "upstream_request": None if sent is None or sent == raw else _json(sent),
                            "response": _json(body) if body is not None else rebuilt, "cost_usd": usage.cost}),
            spend_row(values, usage.cost), *call_rows(values["profile_id"], calls or Counter())]
