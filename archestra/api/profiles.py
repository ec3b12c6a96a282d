"""``/api/profiles``: create, list, get, update, delete. The default profile cannot be deleted."""
from __future__ import annotations

from flask import request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Profile
from ..profiles import UUID_RE
from ..runtime import current_runtime
from . import api
from .errors import ApiError
from .schemas import profile_schema, profile_update_schema, profiles_schema


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return body


def _get(profile_id: str) -> Profile:
    profile = db.session.get(Profile, profile_id.lower()) if UUID_RE.fullmatch(profile_id) else None
    if profile is None:
        raise ApiError(404, "not_found", f"Profile {profile_id} does not exist.")
    return profile


def _commit() -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, "conflict", "A profile with this name already exists.") from None
    current_runtime().profiles.invalidate()


@api.get("/profiles")
def list_profiles():
    rows = db.session.execute(select(Profile).order_by(Profile.created_at, Profile.name)).scalars().all()
    return {"data": profiles_schema.dump(rows)}


@api.post("/profiles")
def create_profile():
    values = profile_schema.load(_json_body())
    profile = Profile(**values)
    db.session.add(profile)
    _commit()
    return profile_schema.dump(profile), 201


@api.get("/profiles/<profile_id>")
def get_profile(profile_id: str):
    return profile_schema.dump(_get(profile_id))


@api.route("/profiles/<profile_id>", methods=["PATCH", "PUT"])
def update_profile(profile_id: str):
    profile = _get(profile_id)
    for key, value in profile_update_schema.load(_json_body()).items():
        setattr(profile, key, value)
    _commit()
    return profile_schema.dump(profile)


@api.delete("/profiles/<profile_id>")
def delete_profile(profile_id: str):
    profile = _get(profile_id)
    if profile.is_default:
        raise ApiError(409, "default_profile", "The default profile cannot be deleted.")
    db.session.delete(profile)
    _commit()
    return "", 204
