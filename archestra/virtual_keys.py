"""Virtual keys and held provider keys, as the request path sees them (cached until the generation moves).

A virtual key is issued by the proxy for one profile (``POST /api/virtual-keys``): ``archestra-vk-`` and 43
random URL-safe characters, shown once; only its SHA-256 is stored. Looking a presented key up by its hash
reveals nothing through timing (the hash of an unknown secret), and the stored hash is compared again in
constant time. Both caches below are :class:`~archestra.generation.ConfigCache` instances, so a revocation, a
new expiry or a rotated provider key acknowledged by the API applies to the next request on every worker and
instance. Last-used times are written by the background recorder, at most once per ``TOUCH_SECONDS`` per key
and process.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import unquote_plus

from sqlalchemy import select, update

from .extensions import db
from .generation import ConfigCache, ConfigGeneration
from .models import ProviderKey, VirtualKey
from .secretbox import SecretBox

PREFIX = "archestra-vk-"
_MARK = PREFIX.lower()
TOUCH_SECONDS = 30.0


def new_virtual_key() -> tuple[str, str]:
    """(the key to hand out once, the hash to store)."""
    key = PREFIX + secrets.token_urlsafe(32)
    return key, key_hash(key)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def is_virtual_key(value: str | None) -> bool:
    return bool(value) and value.startswith(PREFIX)  # type: ignore[union-attr]


def carries_virtual_key(text: str) -> bool:
    """Whether ``text`` (a header name or value, a query parameter) holds something shaped like a virtual key in
    any spelling an upstream could read back: as it is, in another case, percent-encoded, or base64-encoded in
    HTTP Basic credentials. Such a value is never forwarded, valid or not, whatever slot it came in."""
    lowered = text.lower()
    if _MARK in lowered or ("%" in lowered and _MARK in unquote_plus(lowered)):
        return True
    scheme, _, encoded = text.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip() + "==", validate=False).decode("utf-8", "replace")
    except ValueError:
        return True  # Basic credentials that are not even base64: nothing to forward
    return _MARK in decoded.lower()


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


@dataclass(frozen=True)
class VirtualKeyInfo:
    """The plain values of a virtual key (never an ORM object)."""

    id: str
    profile_id: str
    name: str
    key_hash: str
    expires_at: datetime | None
    revoked: bool
    #: The person or team the key belongs to; ``identity_only``: a passthrough identity key (who, not access).
    person_id: str | None = None
    team_id: str | None = None
    identity_only: bool = False

    def usable(self, now: datetime) -> bool:
        return not self.revoked and (self.expires_at is None or now < self.expires_at)


def _load_virtual(digest: str) -> VirtualKeyInfo | None:
    try:
        row = db.session.execute(select(VirtualKey).where(VirtualKey.key_hash == digest)).scalars().first()
        if row is None:
            return None
        return VirtualKeyInfo(row.id, row.profile_id, row.name, row.key_hash, _aware(row.expires_at),
                              row.revoked_at is not None, row.person_id, row.team_id, bool(row.identity_only))
    finally:
        db.session.remove()


def _load_ciphertext(key: tuple[str, str]) -> str | None:
    try:
        return db.session.execute(select(ProviderKey.ciphertext).where(
            ProviderKey.profile_id == key[0], ProviderKey.provider == key[1])).scalar()
    finally:
        db.session.remove()


class KeyDirectory:
    """Virtual keys by hash and the provider keys held per (profile, provider), then per provider (environment)."""

    def __init__(self, generation: ConfigGeneration, ttl: float, box: SecretBox, env_keys: Mapping[str, str],
                 recorder: Any):
        self._virtual: ConfigCache[VirtualKeyInfo | None] = ConfigCache(generation, ttl)
        self._held: ConfigCache[str | None] = ConfigCache(generation, ttl)
        self.box, self._env_keys, self._recorder = box, dict(env_keys), recorder
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._virtual.clear()
        self._held.clear()

    def virtual_key(self, presented: str) -> VirtualKeyInfo | None:
        """The virtual key ``presented`` is (revoked and expired ones included), or None."""
        digest = key_hash(presented)
        found = self._virtual.get(digest, _load_virtual)
        if found is None or not hmac.compare_digest(found.key_hash, digest):
            return None
        return found

    def env_providers(self) -> list[str]:
        """The providers with a default key from the environment."""
        return sorted(self._env_keys)

    def held_key(self, profile_id: str, provider: str) -> str | None:
        """The profile's own key for ``provider``, else the environment's default, else None."""
        held = self._held.get((profile_id, provider), self._load_held)
        return held if held is not None else self._env_keys.get(provider)

    def _load_held(self, key: tuple[str, str]) -> str | None:
        ciphertext = _load_ciphertext(key)
        return None if ciphertext is None else self.box.decrypt(ciphertext)

    def touch(self, key: VirtualKeyInfo) -> None:
        """Note that ``key`` was used now; written off the request path, at most every ``TOUCH_SECONDS``."""
        now = time.monotonic()
        with self._lock:
            if now - self._touched.get(key.id, -TOUCH_SECONDS) < TOUCH_SECONDS:
                return
            if len(self._touched) > 100_000:
                self._touched.clear()
            self._touched[key.id] = now
        used_at = datetime.now(timezone.utc)

        def write(session: Any) -> None:
            session.execute(update(VirtualKey).where(VirtualKey.id == key.id).values(last_used_at=used_at),
                            execution_options={"synchronize_session": False})

        self._recorder.submit(write)
