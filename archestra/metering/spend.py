"""Running totals kept as each interaction is written, in its transaction, so the admin console reads a few rows
however many interactions there are: the daily spend rollup (``spend_daily``: cost and tokens per UTC day,
profile and model) and each discovered tool's call count. Atomic increments: workers and instances adding to the
same row at once never lose an addition. Each batch of the background recorder sums its increments per row first."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite

from ..models import SpendDaily, Tool

_DIALECTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def utc_day(when: datetime) -> str:
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%d")


class _Rollup:
    """Increments summed within one recorder batch and written with one statement per distinct key, in key order
    (concurrent writers take the rows' locks in the same order): a batch of 200 interactions of one profile and
    model adds to its day's row once, not 200 times."""

    def __init__(self, key: tuple[str, ...], summed: tuple[str, ...], write: Callable[[Any, dict[str, Any]], None]):
        self._key, self._summed, self._write = key, summed, write

    def write_many(self, session: Any, rows: list[dict[str, Any]]) -> None:
        totals: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            key = tuple(row[name] for name in self._key)
            total = totals.get(key)
            if total is None:
                totals[key] = dict(row)
                continue
            for name in self._summed:
                total[name] += row[name]
            total.update({name: value for name, value in row.items() if name not in self._summed})  # the latest
        for key in sorted(totals):
            self._write(session, totals[key])


def _add_spend(session: Any, row: dict[str, Any]) -> None:
    statement = _DIALECTS[session.get_bind().dialect.name](SpendDaily).values(**row)
    table = SpendDaily.__table__.c
    session.execute(statement.on_conflict_do_update(
        index_elements=[table.day, table.profile_id, table.model],
        set_={"cost_usd": table.cost_usd + statement.excluded.cost_usd,
              "input_tokens": table.input_tokens + statement.excluded.input_tokens,
              "output_tokens": table.output_tokens + statement.excluded.output_tokens,
              "interactions": table.interactions + statement.excluded.interactions,
              "profile_name": statement.excluded.profile_name}))


def _add_calls(session: Any, row: dict[str, Any]) -> None:
    session.execute(update(Tool).where(Tool.profile_id == row["profile_id"], Tool.name == row["name"])
                    .values(call_count=Tool.call_count + row["count"]).execution_options(synchronize_session=False))


SPEND = _Rollup(("day", "profile_id", "model"), ("cost_usd", "input_tokens", "output_tokens", "interactions"),
                _add_spend)
CALLS = _Rollup(("profile_id", "name"), ("count",), _add_calls)


def spend_row(values: dict[str, Any], cost: Decimal | None) -> tuple[_Rollup, dict[str, Any]]:
    """The recorder row adding an interaction (the ``interactions`` row's ``values``) to its day's spend."""
    return SPEND, {"day": utc_day(values["created_at"]), "profile_id": values["profile_id"],
                   "model": values.get("model_used") or values.get("model") or "",
                   "profile_name": values.get("profile_name"),
                   # A subscription pays for it: nothing billed (the interaction keeps its API-price cost).
                   "cost_usd": Decimal(0) if values.get("subscription") else cost or Decimal(0),
                   "input_tokens": values.get("input_tokens") or 0, "output_tokens": values.get("output_tokens") or 0,
                   "interactions": 1}


def call_rows(profile_id: str, calls: Counter[str]) -> list[tuple[_Rollup, dict[str, Any]]]:
    """The recorder rows adding the tool calls the model made in one exchange (refused ones included)."""
    return [(CALLS, {"profile_id": profile_id, "name": name, "count": count}) for name, count in calls.items()]
