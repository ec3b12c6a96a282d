"""Resolving the profile named in a proxy URL (by id or by slug), with a per-process cache.

The cache keeps the hot path free of a database read per request; it holds plain values only and is dropped
whenever the configuration generation moves (archestra/generation.py), so an edit made through any worker or
instance applies to the next request.
"""
from __future__ import annotations

import re

from sqlalchemy import select

from .exchange import ProfileInfo
from .extensions import db
from .generation import ConfigCache, ConfigGeneration
from .models import Profile

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: A profile's URL name: lower-case letters, digits and dashes, starting with a letter (never a UUID).
SLUG_RE = re.compile(r"[a-z][a-z0-9-]{0,62}[a-z0-9]")
_DEFAULT = ""  # the cache key of the default profile (no slug or id is empty)


class ProfileDirectory:
    def __init__(self, generation: ConfigGeneration, ttl: float):
        self._cache: ConfigCache[ProfileInfo | None] = ConfigCache(generation, ttl)

    def resolve(self, profile_id: str | None) -> ProfileInfo | None:
        """The profile with ``profile_id`` (a UUID or a slug), or the default profile when it is None. A slug
        is looked up again after every configuration change: a renamed slug stops resolving at once."""
        return self._cache.get(profile_id.lower() if profile_id else _DEFAULT, self._load)

    def invalidate(self) -> None:
        self._cache.clear()

    @staticmethod
    def _load(key: str) -> ProfileInfo | None:
        if key == _DEFAULT:
            query = select(Profile).where(Profile.is_default.is_(True))
        elif UUID_RE.fullmatch(key):
            query = select(Profile).where(Profile.id == key)
        else:
            query = select(Profile).where(Profile.slug == key)
        try:
            row = db.session.execute(query).scalars().first()
            return ProfileInfo(row.id, row.name, row.consider_context_untrusted, row.token_hash,
                               row.require_virtual_key, row.metadata_only) if row else None
        finally:
            db.session.remove()
