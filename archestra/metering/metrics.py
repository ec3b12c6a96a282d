"""Prometheus metrics (prometheus-client). Under gunicorn, PROMETHEUS_MULTIPROC_DIR (set by
gunicorn.conf.py before workers fork) makes them multiprocess-safe and ``/metrics`` aggregates all workers.
Labels never carry keys; model names are cut to 100 characters to bound what a client can inject, profile names
(set by admins, one per profile) to 64.

``/metrics`` without ``ARCHESTRA_METRICS_TOKEN`` is open, so it shows totals only: the profile labels (ids and names,
which tell anyone who can reach the port which profiles exist and how they are used) read ``all`` and the series
are summed over profiles. With the token set, scrapes must send it as a bearer token and see every label."""
from __future__ import annotations

import hmac
from typing import Any, Iterator

from flask import Blueprint, Response, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from ..runtime import current_runtime

LABELS = ("provider", "model", "profile", "profile_name")
#: The labels that name a profile, and their value in an open scrape (totals only).
PROFILE_LABELS = frozenset({"profile", "profile_name"})
ALL = "all"
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
#: The time the proxy itself added (parsing, hooks, policies, relaying), the upstream's waiting time taken out:
#: what ``X-Archestra-Overhead-Duration-Ms`` says, plus the per-chunk work of a stream. ``kind``: chat, stream,
#: passthrough, refused (answered without going upstream).
_OVERHEAD = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
OVERHEAD = Histogram("archestra_proxy_overhead_seconds", "Time the proxy added to an exchange (upstream excluded)",
                     ("provider", "kind"), buckets=_OVERHEAD)
UPSTREAM_DURATION = Histogram("archestra_upstream_duration_seconds",
                              "Time from sending a request upstream to the upstream's response headers",
                              ("provider",), buckets=_LATENCY)
UPSTREAM_ERRORS = Counter("archestra_upstream_errors_total", "Upstream failures and error answers",
                          LABELS + ("status",))

metrics = Blueprint("metrics", __name__)


_CHILDREN: dict[tuple[Any, ...], Any] = {}


def child(metric: Any, *values: str, **named: str) -> Any:
    """``metric.labels(...)``, remembered: the same child (the same series, the same multiprocess file) without
    prometheus-client's label checks on every request. As many entries as the metric has series."""
    key = (metric, values, tuple(named.items()))
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*values, **named)
    return found


def labels(provider: str, model: str | None, profile: str, profile_name: str | None = None) -> dict[str, str]:
    return {"provider": provider, "model": (model or "")[:100], "profile": profile,
            "profile_name": (profile_name or "")[:64]}


@metrics.get("/metrics")
def expose() -> Response:
    settings = current_runtime().settings
    if settings.metrics_token:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(),
                                                                 settings.metrics_token.encode()):
            return Response("metrics need a bearer token (ARCHESTRA_METRICS_TOKEN)\n", status=401,
                            mimetype="text/plain", headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    directory = settings.prometheus_multiproc_dir
    registry: Any = REGISTRY
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    if not settings.metrics_token:
        registry = _Totals(registry)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class _Totals:
    """A registry's metrics with the profile labels collapsed to ``ALL`` and the series that then coincide summed
    (counters, histogram buckets, sums and counts add up; a ``_created`` time is the earliest)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        for family in self._source.collect():
            if not any(label in sample.labels for sample in family.samples for label in PROFILE_LABELS):
                yield family
                continue
            merged: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
            for sample in family.samples:
                labels = {name: ALL if name in PROFILE_LABELS else value for name, value in sample.labels.items()}
                key = (sample.name, tuple(labels.items()))
                if key not in merged:
                    merged[key] = sample.value
                elif sample.name.endswith("_created"):
                    merged[key] = min(merged[key], sample.value)
                else:
                    merged[key] += sample.value
            family.samples = [Sample(name, dict(labels), value) for (name, labels), value in merged.items()]
            yield family
