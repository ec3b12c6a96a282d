"""``GET /api/spend?group_by=person|team|profile|model|virtual_key``: cost and tokens per group, over the
interactions the filters of ``/api/interactions`` select (``since``, ``until``, ``person_id``...). Subscription-
covered exchanges show their API-price cost as ``covered_usd``; ``billed_usd`` is what the metered keys cost."""
from __future__ import annotations

from flask import request

from ..extensions import db
from ..metering.spend_groups import GROUPS, spend_by
from . import api
from .errors import ApiError
from .interaction_filters import interaction_filters
from .schemas import SpendRowSchema


@api.get("/spend")
def spend():
    args = request.args.to_dict()
    group = args.pop("group_by", "person")
    if group not in GROUPS:
        raise ApiError(400, "invalid_query", f"group_by must be one of {', '.join(GROUPS)}.")
    rows = spend_by(db.session, group, interaction_filters(args, allowed_extra=()))
    return {"data": SpendRowSchema(many=True).dump(rows)}
