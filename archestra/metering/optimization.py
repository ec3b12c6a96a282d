"""Optimisation rules: per provider, the first matching rule sends a cheaper model instead.

A built-in ``on_request`` hook. Conditions: ``max_length`` (estimated prompt tokens <= n) and ``has_tools``
(whether the request declares tools); a condition left empty always holds. Rules are read once per
``profile_cache_seconds`` per worker. The asked model and the used model are both recorded.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select

from ..exchange import Exchange
from ..extensions import db
from ..models import OptimizationRule

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Rule:
    max_length: int | None
    has_tools: bool | None
    target_model: str


def estimate_prompt_tokens(exchange: Exchange) -> int:
    """A provider-neutral estimate (about four characters per token) of what the prompt costs."""
    chars = sum(len(m.text or "") for m in exchange.messages)
    chars += sum(len(r.content) for r in exchange.tool_results)
    chars += sum(len(json.dumps([t.name, t.description, t.parameters], default=str)) for t in exchange.tools)
    return (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


class ModelOptimizer:
    def __init__(self, ttl: float):
        self._ttl = ttl
        self._rules: dict[str, tuple[Rule, ...]] = {}
        self._expires = 0.0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._expires = 0.0

    def _load(self) -> dict[str, tuple[Rule, ...]]:
        if time.monotonic() < self._expires:
            return self._rules
        try:
            rows = db.session.execute(select(OptimizationRule).where(OptimizationRule.enabled.is_(True))
                                      .order_by(OptimizationRule.priority, OptimizationRule.created_at)).scalars()
            grouped: dict[str, list[Rule]] = {}
            for row in rows:
                grouped.setdefault(row.provider, []).append(Rule(row.max_length, row.has_tools, row.target_model))
        finally:
            db.session.remove()
        with self._lock:
            self._rules = {provider: tuple(rules) for provider, rules in grouped.items()}
            self._expires = time.monotonic() + self._ttl
        return self._rules

    def __call__(self, exchange: Exchange) -> None:
        rules = self._load().get(exchange.provider)
        if not rules:
            return
        tokens = estimate_prompt_tokens(exchange)
        has_tools = bool(exchange.tools)
        for rule in rules:
            if rule.max_length is not None and tokens > rule.max_length:
                continue
            if rule.has_tools is not None and rule.has_tools != has_tools:
                continue
            exchange.model = rule.target_model
            return
