"""Optimisation rules: per provider, the first matching rule sends a cheaper model instead.

A built-in ``on_request`` hook. Conditions: ``max_length`` (estimated prompt tokens <= n) and ``has_tools``
(whether the request declares tools); a condition left empty always holds. Rules are cached per worker until
the configuration generation moves. The asked model and the used model are both recorded.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from ..exchange import Exchange
from ..extensions import db
from ..generation import ConfigCache, ConfigGeneration
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


def _load(_key: None) -> dict[str, tuple[Rule, ...]]:
    try:
        rows = db.session.execute(select(OptimizationRule).where(OptimizationRule.enabled.is_(True))
                                  .order_by(OptimizationRule.priority, OptimizationRule.created_at)).scalars()
        grouped: dict[str, list[Rule]] = {}
        for row in rows:
            grouped.setdefault(row.provider, []).append(Rule(row.max_length, row.has_tools, row.target_model))
    finally:
        db.session.remove()
    return {provider: tuple(rules) for provider, rules in grouped.items()}


class ModelOptimizer:
    def __init__(self, generation: ConfigGeneration, ttl: float):
        self._cache: ConfigCache[dict[str, tuple[Rule, ...]]] = ConfigCache(generation, ttl)

    def invalidate(self) -> None:
        self._cache.clear()

    def __call__(self, exchange: Exchange) -> None:
        rules = self._cache.get(None, _load).get(exchange.provider)
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
