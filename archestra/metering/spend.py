"""The daily spend rollup (``spend_daily``): each interaction's cost and tokens added to its UTC day, profile and
model as it is written, in the same transaction, so cost per day reads a few rows however many interactions
there are. An atomic upsert: workers and instances adding to the same row at once never lose an addition."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from ..models import SpendDaily

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
