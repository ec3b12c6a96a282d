"""Token prices and the cost of an interaction."""
from __future__ import annotations

import threading
import time
from decimal import Decimal

from sqlalchemy import select

from ..models import TokenPrice

GEOGRAPHY = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")
MILLION = Decimal(1_000_000)


def normalise(model: str) -> str:
    """``models/gemini-x`` -> ``gemini-x``; ``us.anthropic.claude-x`` -> ``anthropic.claude-x``."""
    model = model.removeprefix("models/").rsplit("/", 1)[-1]
    for prefix in GEOGRAPHY:
        if model.startswith(prefix):
            return model[len(prefix):]
    return model


class PriceBook:
    """Prices by model name; the longest price name that prefixes the model wins. Cached per worker."""

    def __init__(self, ttl: float = 5.0):
        self._ttl = ttl
        self._prices: list[tuple[str, Decimal, Decimal]] = []
        self._expires = 0.0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._expires = 0.0

    def price(self, session, model: str | None) -> tuple[Decimal, Decimal] | None:
        if not model:
            return None
        if time.monotonic() >= self._expires:
            rows = session.execute(select(TokenPrice.model, TokenPrice.input_per_million,
                                          TokenPrice.output_per_million)).all()
            with self._lock:
                self._prices = sorted(((m, Decimal(str(i)), Decimal(str(o))) for m, i, o in rows),
                                      key=lambda row: len(row[0]), reverse=True)
                self._expires = time.monotonic() + self._ttl
        name = normalise(model)
        for prefix, input_price, output_price in self._prices:
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
