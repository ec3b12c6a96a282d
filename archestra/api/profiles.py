"""``/api/profiles``: create, list, get, update, delete (not the default profile); set or remove a profile's
access token."""
from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..models import Profile
from ..profile_tokens import HEADER, new_token
from ..profiles import UUID_RE
from . import api
from .common import commit, get_or_404, json_body
from .errors import ApiError
from .schemas import profile_schema, profile_update_schema, profiles_schema


def _get(item_id: str) -> Profile:
    """By id, or by slug."""
    if not UUID_RE.fullmatch(item_id):
        profile = db.session.execute(select(Profile).where(Profile.slug == item_id.lower())).scalar()
        if profile is not None:
            return profile
    return get_or_404(Profile, item_id, "Profile")


def _commit() -> None:
    commit("A profile with this name or slug already exists.")


@api.get("/profiles")
def list_profiles():
    rows = db.session.execute(select(Profile).order_by(Profile.created_at, Profile.name)).scalars().all()
    return {"data": profiles_schema.dump(rows)}


@api.post("/profiles")
def create_profile():
    values = profile_schema.load(json_body())
    profile = Profile(**values)
    db.session.add(profile)
    _commit()
    return profile_schema.dump(profile), 201


@api.get("/profiles/<item_id>")
def get_profile(item_id: str):
    return profile_schema.dump(_get(item_id))


@api.route("/profiles/<item_id>", methods=["PATCH", "PUT"])
def update_profile(item_id: str):
    profile = _get(item_id)
    for key, value in profile_update_schema.load(json_body()).items():
        setattr(profile, key, value)
    _commit()
    return profile_schema.dump(profile)


@api.delete("/profiles/<item_id>")
def delete_profile(item_id: str):
    profile = _get(item_id)
    if profile.is_default:
        raise ApiError(409, "default_profile", "The default profile cannot be deleted.")
    db.session.delete(profile)
    _commit()
    return "", 204


@api.post("/profiles/<item_id>/token")
def set_profile_token(item_id: str):
    """A new access token for the profile (replacing any previous one), shown only in this answer."""
    profile = _get(item_id)
    token, profile.token_hash = new_token()
    _commit()
    return {"profile_id": profile.id, "token": token, "header": HEADER}, 201


@api.delete("/profiles/<item_id>/token")
def remove_profile_token(item_id: str):
    """Open the profile again to any client that knows its id."""
    profile = _get(item_id)
    profile.token_hash = None
    _commit()
    return "", 204
