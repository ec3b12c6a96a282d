"""Token prices and the cost of an interaction."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ..generation import ConfigCache, ConfigGeneration
from ..models import TokenPrice
from ..providers.bedrock import GEOGRAPHY_PREFIXES

#: Bedrock's cross-region inference profile prefixes: a price is the foundation model's, wherever it runs.
GEOGRAPHY = GEOGRAPHY_PREFIXES
MILLION = Decimal(1_000_000)


def normalise(model: str) -> str:
    """``models/gemini-x`` -> ``gemini-x``; ``us.anthropic.claude-x`` -> ``anthropic.claude-x``."""
    model = model.removeprefix("models/").rsplit("/", 1)[-1]
    for prefix in GEOGRAPHY:
        if model.startswith(prefix):
            return model[len(prefix):]
    return model


Prices = list[tuple[str, Decimal, Decimal]]


class PriceBook:
    """Prices by model name; the longest price name that prefixes the model wins. Cached per worker until the
    configuration generation moves."""

    def __init__(self, generation: ConfigGeneration, ttl: float):
        self._cache: ConfigCache[Prices] = ConfigCache(generation, ttl)

    def invalidate(self) -> None:
        self._cache.clear()

    def price(self, session, model: str | None) -> tuple[Decimal, Decimal] | None:
        if not model:
            return None
        prices = self._cache.get(None, lambda _: _load(session.get_bind()))
        name = normalise(model)
        for prefix, input_price, output_price in prices:
            if name == prefix or name.startswith(prefix):
                return input_price, output_price
        return None

    def cost(self, session, model: str | None, input_tokens: int | None, output_tokens: int | None
             ) -> Decimal | None:
        """USD cost, or None when the model has no price."""
        price = self.price(session, model)
        if price is None:
            return None
        return (Decimal(input_tokens or 0) * price[0] + Decimal(output_tokens or 0) * price[1]) / MILLION


def _load(engine: Any) -> Prices:
    # A connection of its own: the caller's session may hold a snapshot older than the last price change
    # (SQLite keeps one per transaction), and what is loaded here is kept.
    with engine.connect() as connection:
        rows = connection.execute(select(TokenPrice.model, TokenPrice.input_per_million,
                                         TokenPrice.output_per_million)).all()
    return sorted(((m, Decimal(str(i)), Decimal(str(o))) for m, i, o in rows), key=lambda row: len(row[0]),
                  reverse=True)
