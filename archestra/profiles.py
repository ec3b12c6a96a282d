"""Resolving the profile named in a proxy URL, with a short per-process cache.

The cache keeps the hot path free of a database read per request; it holds plain values only and expires
after ``profile_cache_seconds``, so an edit made through another worker applies within that time.
"""
from __future__ import annotations

import re
import threading
import time

from sqlalchemy import select

from .exchange import ProfileInfo
from .extensions import db
from .models import Profile

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DEFAULT = "default"


class ProfileDirectory:
    def __init__(self, ttl: float):
        self._ttl = ttl
        self._cache: dict[str, tuple[ProfileInfo | None, float]] = {}
        self._lock = threading.Lock()

    def resolve(self, profile_id: str | None) -> ProfileInfo | None:
        """The profile with ``profile_id`` (a UUID), or the default profile when it is None."""
        key = profile_id.lower() if profile_id else _DEFAULT
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        query = select(Profile).where(Profile.id == key) if profile_id else \
            select(Profile).where(Profile.is_default.is_(True))
        row = db.session.execute(query).scalars().first()
        info = ProfileInfo(row.id, row.name, row.consider_context_untrusted, row.token_hash) if row else None
        db.session.remove()
        with self._lock:
            self._cache[key] = (info, now + self._ttl)
        return info

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()
