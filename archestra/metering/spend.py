"""Running totals kept as each interaction is written, in its transaction, so the admin console reads a few rows
however many interactions there are: the daily spend rollup (``spend_daily``: cost and tokens per UTC day,
profile and model) and each discovered tool's call count. Atomic increments: workers and instances adding to the
same row at once never lose an addition. Each batch of the background recorder sums its increments per row first."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import bindparam, update
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

    def __init__(self, key: tuple[str, ...], summed: tuple[str, ...], statement: Callable[[str], Any]):
        self._key, self._summed, self._statement = key, summed, statement
        self._built: dict[str, Any] = {}  # dialect name -> the statement, built once (bound parameters)

    def totals(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The batch's rows summed per key, in key order: written with one executemany, its statements run one
        after another in that order."""
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
        return [totals[key] for key in sorted(totals)]

    def statement(self, dialect: str) -> Any:
        """The statement adding one summed row (bound parameters), built once per dialect."""
        statement = self._built.get(dialect)
        if statement is None:
            statement = self._built[dialect] = self._statement(dialect)
        return statement


def _add_spend(dialect: str) -> Any:
    """The upsert adding a row's totals to its day's row (``excluded``: the row the INSERT would have made)."""
    table = SpendDaily.__table__
    names = ("day", "profile_id", "model", "profile_name", "cost_usd", "input_tokens", "output_tokens", "interactions")
    statement = _DIALECTS[dialect](table).values({name: bindparam(name, type_=table.c[name].type) for name in names})
    c = table.c
    return statement.on_conflict_do_update(
        index_elements=[c.day, c.profile_id, c.model],
        set_={"cost_usd": c.cost_usd + statement.excluded.cost_usd,
              "input_tokens": c.input_tokens + statement.excluded.input_tokens,
              "output_tokens": c.output_tokens + statement.excluded.output_tokens,
              "interactions": c.interactions + statement.excluded.interactions,
              "profile_name": statement.excluded.profile_name})


def _add_calls(_dialect: str) -> Any:
    table = Tool.__table__
    return (update(table).where(table.c.profile_id == bindparam("w_profile_id"), table.c.name == bindparam("w_name"))
            .values(call_count=table.c.call_count + bindparam("count", type_=table.c.call_count.type)))


SPEND = _Rollup(("day", "profile_id", "model"), ("cost_usd", "input_tokens", "output_tokens", "interactions"),
                _add_spend)
# The WHERE parameters are named apart from the table's columns (SQLAlchemy keeps those names for SET values).
CALLS = _Rollup(("w_profile_id", "w_name"), ("count",), _add_calls)


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
    return [(CALLS, {"w_profile_id": profile_id, "w_name": name, "count": count}) for name, count in calls.items()]
