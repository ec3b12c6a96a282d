"""Running totals kept as each interaction is written, in its transaction, so the admin console reads a few rows
however many interactions there are: the daily spend rollup (``spend_daily``: cost and tokens per UTC day,
profile and model) and each discovered tool's call count. Atomic increments: workers and instances adding to the
same row at once never lose an addition."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite

from ..models import SpendDaily, Tool

_DIALECTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def utc_day(when: datetime) -> str:
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%d")


def add_spend(session: Any, values: dict[str, Any], cost: Decimal | None) -> None:
    """Add an interaction (the ``interactions`` row's ``values``) to its day's row."""
    insert = _DIALECTS[session.get_bind().dialect.name](SpendDaily)
    row = {"day": utc_day(values["created_at"]), "profile_id": values["profile_id"],
           "model": values.get("model_used") or values.get("model") or "",
           "profile_name": values.get("profile_name"), "cost_usd": cost or Decimal(0),
           "input_tokens": values.get("input_tokens") or 0, "output_tokens": values.get("output_tokens") or 0,
           "interactions": 1}
    statement = insert.values(**row)
    table = SpendDaily.__table__.c
    session.execute(statement.on_conflict_do_update(
        index_elements=[table.day, table.profile_id, table.model],
        set_={"cost_usd": table.cost_usd + statement.excluded.cost_usd,
              "input_tokens": table.input_tokens + statement.excluded.input_tokens,
              "output_tokens": table.output_tokens + statement.excluded.output_tokens,
              "interactions": table.interactions + 1,
              "profile_name": statement.excluded.profile_name}))


def count_calls(session: Any, profile_id: str, calls: Counter[str]) -> None:
    """Add the tool calls the model made in one exchange (refused ones included) to its profile's tools."""
    for name, count in calls.items():
        session.execute(update(Tool).where(Tool.profile_id == profile_id, Tool.name == name)
                        .values(call_count=Tool.call_count + count).execution_options(synchronize_session=False))
