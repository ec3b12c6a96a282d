"""Resolving the profile named in a proxy URL, with a per-process cache.

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
_DEFAULT = "default"


class ProfileDirectory:
    def __init__(self, generation: ConfigGeneration, ttl: float):
        self._cache: ConfigCache[ProfileInfo | None] = ConfigCache(generation, ttl)

    def resolve(self, profile_id: str | None) -> ProfileInfo | None:
        """The profile with ``profile_id`` (a UUID), or the default profile when it is None."""
        return self._cache.get(profile_id.lower() if profile_id else _DEFAULT, self._load)

    def invalidate(self) -> None:
        self._cache.clear()

    @staticmethod
    def _load(key: str) -> ProfileInfo | None:
        query = select(Profile).where(Profile.is_default.is_(True)) if key == _DEFAULT else \
            select(Profile).where(Profile.id == key)
        try:
            row = db.session.execute(query).scalars().first()
            return ProfileInfo(row.id, row.name, row.consider_context_untrusted, row.token_hash,
                               row.require_virtual_key) if row else None
        finally:
            db.session.remove()
