"""``/api/model-aliases``: Model Router model names (``fast``) for ordered ``provider:model`` targets."""
from __future__ import annotations

from typing import Any

from flask import request

from ..models import ModelAlias
from ..router.targets import validate_targets
from . import api
from .common import crud_routes, profile_filter_id
from .errors import ApiError
from .schemas import ModelAliasSchema
from .templates import profile_by_key


def _check(values: dict[str, Any]) -> dict[str, Any]:
    if "targets" in values:
        try:
            values["targets"] = validate_targets(values["targets"])
        except ValueError as exc:
            raise ApiError(400, "validation_error", str(exc)) from None
    if values.get("profile_id"):
        values["profile_id"] = profile_by_key(values["profile_id"]).id
    return values


def _filters(query: Any) -> Any:
    if request.args.get("profile_id"):
        query = query.where(ModelAlias.profile_id == profile_filter_id(request.args["profile_id"]))
    return query


crud_routes(api, "model-aliases", ModelAlias, ModelAliasSchema, "Model alias", check=_check, filters=_filters,
            conflict="An alias with this name already exists for this profile.")
