"""Encryption at rest of the provider keys the proxy holds (Fernet: AES-128-CBC + HMAC-SHA256, `cryptography`).

The encryption key comes from ``ARCHESTRA_SECRET_KEY`` (a Fernet key: ``Fernet.generate_key()``). Rotation:
set the new key in ``ARCHESTRA_SECRET_KEY`` and the old one(s) in ``ARCHESTRA_SECRET_KEY_PREVIOUS``
(comma-separated); both decrypt, only the new one encrypts. ``POST /api/provider-keys/reencrypt`` then rewrites
every stored key with the new one, after which the previous keys can be removed.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretKeyMissing(RuntimeError):
    """No ``ARCHESTRA_SECRET_KEY``: provider keys cannot be stored or read."""


class UndecryptableKey(RuntimeError):
    """A stored key none of the configured secret keys opens (the key it was written with is not configured)."""


def valid_secret_key(value: str) -> bool:
    try:
        Fernet(value.encode())
    except (ValueError, TypeError):
        return False
    return True


def fingerprint(secret: str) -> str:
    """What the API shows of a key: the first 12 hex digits of its SHA-256 (tells keys apart, reveals nothing)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


class SecretBox:
    def __init__(self, current: str | None, previous: Sequence[str] = ()):
        keys = [Fernet(key.encode()) for key in ([current] if current else []) + list(previous)]
        self._fernet = MultiFernet(keys) if current else None

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def _box(self) -> MultiFernet:
        if self._fernet is None:
            raise SecretKeyMissing("Provider keys are stored encrypted: set ARCHESTRA_SECRET_KEY (generate one with "
                                   "python -c 'from cryptography.fernet import Fernet; "
                                   "print(Fernet.generate_key().decode())').")
        return self._fernet

    def encrypt(self, secret: str) -> str:
        return self._box().encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._box().decrypt(token.encode()).decode()
        except InvalidToken:
            raise UndecryptableKey("a stored provider key cannot be decrypted with ARCHESTRA_SECRET_KEY or "
                                   "ARCHESTRA_SECRET_KEY_PREVIOUS") from None

    def rotate(self, token: str) -> str:
        """``token`` encrypted again with the current key."""
        try:
            return self._box().rotate(token.encode()).decode()
        except InvalidToken:
            raise UndecryptableKey("a stored provider key cannot be decrypted with the configured keys") from None
