"""Spend per person, team, profile, model or virtual key, added up from the interactions (the API's ``/api/spend``
and the console's spend page): interactions, tokens, cost at API prices, the part subscriptions covered, and what
was billed."""
from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select

from ..models import Interaction

GROUPS = {"person": (Interaction.person_id, Interaction.person_email),
          "team": (Interaction.team_id, Interaction.team_name),
          "profile": (Interaction.profile_id, Interaction.profile_name),
          "model": (func.coalesce(Interaction.model_used, Interaction.model), None),
          "virtual_key": (Interaction.virtual_key_id, Interaction.virtual_key_name)}


def spend_by(session: Any, group: str, conditions: list[Any]) -> list[dict[str, Any]]:
    """One row per ``group`` value among the interactions matching ``conditions``, most costly first."""
    key, name = GROUPS[group]
    cost = func.coalesce(Interaction.cost_usd, 0)
    covered = case((Interaction.subscription.is_not(None), cost), else_=0)
    query = (select(key.label("key"), func.max(name if name is not None else key).label("name"),
                    func.count().label("interactions"),
                    func.coalesce(func.sum(Interaction.input_tokens), 0).label("input_tokens"),
                    func.coalesce(func.sum(Interaction.output_tokens), 0).label("output_tokens"),
                    func.sum(cost).label("cost_usd"), func.sum(covered).label("covered_usd"))
             .where(*conditions).group_by(key).order_by(func.sum(cost).desc()))
    return [{"key": row.key, "name": row.name, "interactions": row.interactions, "input_tokens": row.input_tokens,
             "output_tokens": row.output_tokens, "cost_usd": float(row.cost_usd or 0),
             "covered_usd": float(row.covered_usd or 0),
             "billed_usd": float((row.cost_usd or 0) - (row.covered_usd or 0))}
            for row in session.execute(query)]
