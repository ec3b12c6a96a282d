"""``/api/interactions``, ``/api/token-prices``, ``/api/limits``, ``/api/optimization-rules``."""
from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import func, select

from ..extensions import db
from ..metering.retention import delete_in_batches
from ..models import Interaction, Limit, OptimizationRule, Profile, TokenPrice, VirtualKey
from ..profiles import UUID_RE
from . import api
from .common import crud_routes, get_or_404, page_args
from .errors import ApiError
from .interaction_filters import interaction_filters
from .people import owner_ids
from .schemas import InteractionSchema, LimitSchema, OptimizationRuleSchema, TokenPriceSchema

SUMMARY_EXCLUDES = ("request", "upstream_request", "response")


@api.get("/interactions")
def list_interactions():
    limit, offset = page_args()
    query = select(Interaction).where(*interaction_filters(request.args))
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar()
    rows = db.session.execute(query.order_by(Interaction.created_at.desc(), Interaction.id)
                              .limit(limit).offset(offset)).scalars().all()
    return {"data": InteractionSchema(many=True, exclude=SUMMARY_EXCLUDES).dump(rows), "total": total,
            "limit": limit, "offset": offset}


@api.delete("/interactions")
def purge_interactions():
    """A manual purge: the interactions matching the filters (at least one), deleted in batches."""
    conditions = interaction_filters(request.args, allowed_extra=())
    if not conditions:
        raise ApiError(400, "invalid_query", "Give at least one filter (until=..., profile_id=...): "
                                             "DELETE /api/interactions never deletes everything by accident.")
    return {"deleted": delete_in_batches(Interaction, conditions)}


@api.get("/interactions/<item_id>")
def get_interaction(item_id: str):
    return InteractionSchema().dump(get_or_404(Interaction, item_id, "Interaction"))


def limit_scope(values: dict[str, Any]) -> dict[str, Any]:
    if values["scope"] != "virtual_key" and values.get("virtual_key_id"):
        raise ApiError(400, "validation_error", "Only a virtual_key limit has a virtual_key_id.")
    for scope, column in (("person", "person_id"), ("team", "team_id")):
        if values["scope"] != scope and values.get(column):
            raise ApiError(400, "validation_error", f"Only a {scope} limit has a {column}.")
    if (values.get("period") == "rolling") != (values.get("window_seconds") is not None):
        raise ApiError(400, "validation_error", "A rolling limit needs window_seconds (and only a rolling one "
                                                "has it).")
    if values["scope"] in ("person", "team"):
        if values.get("profile_id"):
            raise ApiError(400, "validation_error", f"A {values['scope']} limit has no profile_id.")
        values["profile_id"] = None
        return owner_ids(values)
    if values["scope"] == "global":
        if values.get("profile_id"):
            raise ApiError(400, "validation_error", "A global limit has no profile_id.")
        values["profile_id"] = None
        return values
    if values["scope"] == "virtual_key":
        key_id = (values.get("virtual_key_id") or "").lower()
        key = db.session.get(VirtualKey, key_id) if UUID_RE.fullmatch(key_id) else None
        if key is None:
            raise ApiError(400, "unknown_virtual_key", f"Virtual key {values.get('virtual_key_id')} does not exist.")
        values["virtual_key_id"], values["profile_id"] = key.id, key.profile_id  # the key's own profile
        return values
    profile_id = (values.get("profile_id") or "").lower()
    if not UUID_RE.fullmatch(profile_id) or db.session.get(Profile, profile_id) is None:
        raise ApiError(400, "unknown_profile", f"Profile {values.get('profile_id')} does not exist.")
    values["profile_id"] = profile_id
    return values


def _known_provider(values: dict[str, Any]) -> dict[str, Any]:
    from ..providers import PROVIDERS

    names = [provider.name for provider in PROVIDERS]
    if values["provider"] not in names:
        raise ApiError(400, "validation_error", f"provider must be one of {', '.join(names)}.")
    return values


crud_routes(api, "token-prices", TokenPrice, TokenPriceSchema, "Token price", order_by=TokenPrice.model,
            conflict="A price for this model already exists.")
crud_routes(api, "limits", Limit, LimitSchema, "Limit", check=limit_scope)
crud_routes(api, "optimization-rules", OptimizationRule, OptimizationRuleSchema, "Optimization rule",
            check=_known_provider, order_by=OptimizationRule.priority)
