"""Prometheus metrics (prometheus-client). Under gunicorn, PROMETHEUS_MULTIPROC_DIR (set by
gunicorn.conf.py before workers fork) makes them multiprocess-safe and ``/metrics`` aggregates all workers.
Labels never carry keys; model names are cut to 100 characters to bound what a client can inject."""
from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from ..runtime import current_runtime

LABELS = ("provider", "model", "profile")
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

REQUESTS = Counter("archestra_requests_total", "Proxied exchanges by outcome", LABELS + ("status",))
DURATION = Histogram("archestra_request_duration_seconds", "Whole exchange duration", LABELS, buckets=_LATENCY)
FIRST_TOKEN = Histogram("archestra_time_to_first_token_seconds", "Time until the first byte of the answer",
                        LABELS, buckets=_LATENCY)
TOKENS = Counter("archestra_tokens_total", "Tokens by direction", LABELS + ("direction",))
COST = Counter("archestra_cost_usd_total", "Cost of the exchanges in USD", LABELS)
BLOCKED = Counter("archestra_blocked_tool_calls_total", "Tool calls refused by policy", LABELS)
REFUSALS = Counter("archestra_refusals_total", "Exchanges the proxy refused (cost limits, policies)",
                   LABELS + ("reason",))
UPSTREAM_ERRORS = Counter("archestra_upstream_errors_total", "Upstream failures and error answers",
                          LABELS + ("status",))

metrics = Blueprint("metrics", __name__)


def labels(provider: str, model: str | None, profile: str) -> dict[str, str]:
    return {"provider": provider, "model": (model or "")[:100], "profile": profile}


@metrics.get("/metrics")
def expose() -> Response:
    directory = current_runtime().settings.prometheus_multiproc_dir
    registry = REGISTRY
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
