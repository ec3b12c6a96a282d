"""``GET /api/spend?group_by=person|team|profile|model|virtual_key``: cost and tokens per group, over the
interactions the filters of ``/api/interactions`` select (``since``, ``until``, ``person_id``...). Subscription-
covered exchanges show their API-price cost as ``covered_usd``; ``billed_usd`` is what the metered keys cost."""
from __future__ import annotations

from flask import request
from sqlalchemy import case, func, select

from ..extensions import db
from ..models import Interaction
from . import api
from .errors import ApiError
from .interaction_filters import interaction_filters
from .schemas import SpendRowSchema

GROUPS = {"person": (Interaction.person_id, Interaction.person_email),
          "team": (Interaction.team_id, Interaction.team_name),
          "profile": (Interaction.profile_id, Interaction.profile_name),
          "model": (func.coalesce(Interaction.model_used, Interaction.model), None),
          "virtual_key": (Interaction.virtual_key_id, Interaction.virtual_key_name)}


@api.get("/spend")
def spend():
    args = request.args.to_dict()
    group = args.pop("group_by", "person")
    if group not in GROUPS:
        raise ApiError(400, "invalid_query", f"group_by must be one of {', '.join(GROUPS)}.")
    key, name = GROUPS[group]
    cost = func.coalesce(Interaction.cost_usd, 0)
    covered = case((Interaction.subscription.is_not(None), cost), else_=0)
    query = (select(key.label("key"), func.max(name if name is not None else key).label("name"),
                    func.count().label("interactions"),
                    func.coalesce(func.sum(Interaction.input_tokens), 0).label("input_tokens"),
                    func.coalesce(func.sum(Interaction.output_tokens), 0).label("output_tokens"),
                    func.sum(cost).label("cost_usd"), func.sum(covered).label("covered_usd"))
             .where(*interaction_filters(args, allowed_extra=())).group_by(key).order_by(func.sum(cost).desc()))
    rows = [{"key": row.key, "name": row.name, "interactions": row.interactions, "input_tokens": row.input_tokens,
             "output_tokens": row.output_tokens, "cost_usd": float(row.cost_usd or 0),
             "covered_usd": float(row.covered_usd or 0),
             "billed_usd": float((row.cost_usd or 0) - (row.covered_usd or 0))}
            for row in db.session.execute(query)]
    return {"data": SpendRowSchema(many=True).dump(rows)}
