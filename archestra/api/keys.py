"""Provider keys held per profile (write-only, encrypted at rest) and virtual keys (shown once, hashed).

``GET /api/profiles/{id}/provider-keys``, ``PUT`` / ``DELETE /api/profiles/{id}/provider-keys/{provider}``,
``POST /api/provider-keys/reencrypt`` (after a secret key rotation), and ``/api/virtual-keys`` (list, create,
get, update name / expiry, ``DELETE`` revokes: the row stays for the records that name it).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import request
from sqlalchemy import select

from ..config import DEFAULT_BASE_URLS
from ..extensions import db
from ..models import Profile, ProviderKey, VirtualKey
from ..runtime import current_runtime
from ..secretbox import SecretKeyMissing, UndecryptableKey, fingerprint
from ..virtual_keys import new_virtual_key
from . import api
from .common import commit, get_or_404, json_body
from .errors import ApiError
from .people import owner_ids
from .schemas import (
    NewVirtualKeySchema,
    ProviderKeyInputSchema,
    ProviderKeySchema,
    VirtualKeySchema,
    VirtualKeyUpdateSchema,
)

provider_key_schema = ProviderKeySchema()
virtual_key_schema = VirtualKeySchema()


def _provider(name: str) -> str:
    if name not in DEFAULT_BASE_URLS:
        raise ApiError(404, "unknown_provider", f"provider must be one of {', '.join(DEFAULT_BASE_URLS)}.")
    return name


def _stored(profile_id: str, provider: str) -> ProviderKey | None:
    return db.session.execute(select(ProviderKey).where(ProviderKey.profile_id == profile_id,
                                                        ProviderKey.provider == provider)).scalars().first()


def _shown(row: ProviderKey) -> dict:
    return provider_key_schema.dump({"provider": row.provider, "source": "profile", "fingerprint": row.fingerprint,
                                     "last4": row.last4, "created_at": row.created_at, "updated_at": row.updated_at})


@api.get("/profiles/<item_id>/provider-keys")
def list_provider_keys(item_id: str):
    """The profile's own keys, then the environment's defaults for the other providers (never the keys)."""
    profile = get_or_404(Profile, item_id, "Profile")
    rows = db.session.execute(select(ProviderKey).where(ProviderKey.profile_id == profile.id)
                              .order_by(ProviderKey.provider)).scalars().all()
    own = {row.provider for row in rows}
    defaults = [provider_key_schema.dump({"provider": name, "source": "environment"})
                for name in current_runtime().keys.env_providers() if name not in own]
    return {"data": [_shown(row) for row in rows] + defaults}


@api.put("/profiles/<item_id>/provider-keys/<provider>")
def set_provider_key(item_id: str, provider: str):
    """Store (or rotate) the profile's key for ``provider``, encrypted; the answer shows only its fingerprint."""
    profile = get_or_404(Profile, item_id, "Profile")
    secret = ProviderKeyInputSchema().load(json_body())["api_key"].strip()
    if not secret:
        raise ApiError(400, "validation_error", "api_key is empty.")
    try:
        ciphertext = current_runtime().keys.box.encrypt(secret)
    except SecretKeyMissing as exc:
        raise ApiError(409, "secret_key_missing", str(exc)) from None
    row = _stored(profile.id, _provider(provider))
    created = row is None
    if row is None:
        row = ProviderKey(profile_id=profile.id, provider=provider)
        db.session.add(row)
    row.ciphertext, row.fingerprint, row.last4 = ciphertext, fingerprint(secret), secret[-4:]
    row.updated_at = datetime.now(timezone.utc)
    commit()
    return _shown(row), 201 if created else 200


@api.delete("/profiles/<item_id>/provider-keys/<provider>")
def delete_provider_key(item_id: str, provider: str):
    profile = get_or_404(Profile, item_id, "Profile")
    row = _stored(profile.id, _provider(provider))
    if row is None:
        raise ApiError(404, "not_found", f"Profile {profile.id} holds no {provider} key.")
    db.session.delete(row)
    commit()
    return "", 204


@api.post("/provider-keys/reencrypt")
def reencrypt_provider_keys():
    """Encrypt every stored key again with ``ARCHESTRA_SECRET_KEY`` (after moving the old one to
    ``ARCHESTRA_SECRET_KEY_PREVIOUS``); afterwards the previous keys can be removed."""
    box = current_runtime().keys.box
    rows = db.session.execute(select(ProviderKey)).scalars().all()
    try:
        for row in rows:
            row.ciphertext = box.rotate(row.ciphertext)
    except SecretKeyMissing as exc:
        raise ApiError(409, "secret_key_missing", str(exc)) from None
    except UndecryptableKey as exc:
        db.session.rollback()
        raise ApiError(409, "undecryptable_key", str(exc)) from None
    commit()
    return {"reencrypted": len(rows)}


# -- virtual keys -------------------------------------------------------------------------------------
def _virtual_key(item_id: str) -> VirtualKey:
    return get_or_404(VirtualKey, item_id, "Virtual key")


@api.get("/virtual-keys")
def list_virtual_keys():
    query = select(VirtualKey).order_by(VirtualKey.created_at, VirtualKey.name)
    if request.args.get("profile_id"):
        query = query.where(VirtualKey.profile_id == request.args["profile_id"].lower())
    for name in ("person_id", "team_id"):
        if request.args.get(name):
            query = query.where(getattr(VirtualKey, name) == request.args[name].lower())
    return {"data": virtual_key_schema.dump(db.session.execute(query).scalars().all(), many=True)}


def issue_virtual_key(body: Any) -> tuple[VirtualKey, str]:
    """A new virtual key for a profile: the row, and the key itself (to be shown once; only its hash is kept)."""
    values = virtual_key_schema.load(body)
    profile = get_or_404(Profile, values["profile_id"], "Profile")
    owner = owner_ids({"person_id": values.get("person_id"), "team_id": values.get("team_id")})
    if owner["person_id"] and owner["team_id"]:
        raise ApiError(400, "validation_error", "A virtual key belongs to a person or to a team, not both.")
    key, digest = new_virtual_key()
    row = VirtualKey(profile_id=profile.id, name=values["name"], expires_at=values["expires_at"],
                     key_hash=digest, last4=key[-4:], person_id=owner["person_id"], team_id=owner["team_id"],
                     identity_only=values.get("identity_only", False))
    db.session.add(row)
    commit("This profile already has a virtual key with this name.")
    return row, key


def revoke(row: VirtualKey) -> None:
    """Refused from the next request on, everywhere; the row stays so records still name it."""
    if row.revoked_at is None:
        row.revoked_at = datetime.now(timezone.utc)
        commit()


@api.post("/virtual-keys")
def create_virtual_key():
    """A new virtual key for a profile; the key itself is in this answer only (only its hash is stored)."""
    row, key = issue_virtual_key(json_body())
    return {**NewVirtualKeySchema().dump(row), "key": key}, 201


@api.get("/virtual-keys/<item_id>")
def get_virtual_key(item_id: str):
    return virtual_key_schema.dump(_virtual_key(item_id))


@api.route("/virtual-keys/<item_id>", methods=["PATCH", "PUT"])
def update_virtual_key(item_id: str):
    row = _virtual_key(item_id)
    for name, value in VirtualKeyUpdateSchema().load(json_body()).items():
        setattr(row, name, value)
    commit("This profile already has a virtual key with this name.")
    return virtual_key_schema.dump(row)


@api.delete("/virtual-keys/<item_id>")
def revoke_virtual_key(item_id: str):
    """Revoke the key: refused from the next request on, everywhere; kept so records still name it."""
    revoke(_virtual_key(item_id))
    return "", 204
