"""``/api/profiles``: create, list, get, update, delete (not the default profile); set or remove a profile's
access token. The functions before the views are what the admin console calls too."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..extensions import db
from ..models import Profile
from ..profile_tokens import HEADER, new_token
from ..profiles import UUID_RE
from . import api
from .common import commit, get_or_404, json_body
from .errors import ApiError
from .schemas import profile_schema, profile_update_schema, profiles_schema

CONFLICT = "A profile with this name or slug already exists."


def find_profile(item_id: str) -> Profile:
    """By id, or by slug (404 if neither)."""
    if not UUID_RE.fullmatch(item_id):
        profile = db.session.execute(select(Profile).where(Profile.slug == item_id.lower())).scalar()
        if profile is not None:
            return profile
    return get_or_404(Profile, item_id, "Profile")


def all_profiles() -> list[Profile]:
    return list(db.session.execute(select(Profile).order_by(Profile.created_at, Profile.name)).scalars())


def create_profile(body: Any) -> Profile:
    profile = Profile(**profile_schema.load(body))
    db.session.add(profile)
    commit(CONFLICT)
    return profile


def update_profile(profile: Profile, body: Any) -> Profile:
    for key, value in profile_update_schema.load(body).items():
        setattr(profile, key, value)
    commit(CONFLICT)
    return profile


def delete_profile(profile: Profile) -> None:
    if profile.is_default:
        raise ApiError(409, "default_profile", "The default profile cannot be deleted.")
    db.session.delete(profile)
    commit(CONFLICT)


def issue_token(profile: Profile) -> str:
    """A new access token for the profile (replacing any previous one), to be shown once."""
    token, profile.token_hash = new_token()
    commit(CONFLICT)
    return token


def remove_token(profile: Profile) -> None:
    """Open the profile again to any client that knows its id."""
    profile.token_hash = None
    commit(CONFLICT)


@api.get("/profiles")
def list_profiles():
    return {"data": profiles_schema.dump(all_profiles())}


@api.post("/profiles")
def create_profile_view():
    return profile_schema.dump(create_profile(json_body())), 201


@api.get("/profiles/<item_id>")
def get_profile(item_id: str):
    return profile_schema.dump(find_profile(item_id))


@api.route("/profiles/<item_id>", methods=["PATCH", "PUT"])
def update_profile_view(item_id: str):
    return profile_schema.dump(update_profile(find_profile(item_id), json_body()))


@api.delete("/profiles/<item_id>")
def delete_profile_view(item_id: str):
    delete_profile(find_profile(item_id))
    return "", 204


@api.post("/profiles/<item_id>/token")
def set_profile_token(item_id: str):
    """A new access token for the profile (replacing any previous one), shown only in this answer."""
    profile = find_profile(item_id)
    return {"profile_id": profile.id, "token": issue_token(profile), "header": HEADER}, 201


@api.delete("/profiles/<item_id>/token")
def remove_profile_token(item_id: str):
    remove_token(find_profile(item_id))
    return "", 204
