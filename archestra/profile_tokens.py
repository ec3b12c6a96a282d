"""Optional access tokens for profiles.

Without a token anyone who can reach the proxy and knows a profile's id may use it. An operator who sets a
token (``POST /api/profiles/{id}/token``) gets it shown once; only its SHA-256 is stored. Clients then send it
in ``X-Archestra-Token`` next to their own provider key, e.g. ``default_headers={"X-Archestra-Token": ...}``;
the header never goes upstream (no ``X-Archestra-*`` header does), and neither does a token sent by mistake in
another header or a query parameter (``carries_token``, used by credentials.py).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from urllib.parse import unquote_plus

from .exchange import ProfileInfo
from .proxy_error import ProxyError

HEADER = "X-Archestra-Token"
PREFIX = "archestra_"
#: A token as ``new_token`` makes it (``token_urlsafe(32)``: 43 characters).
_TOKEN = re.compile(re.escape(PREFIX) + r"[A-Za-z0-9_-]{43}")


def new_token() -> tuple[str, str]:
    """(the token to hand out once, the hash to store)."""
    token = PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def carries_token(text: str) -> bool:
    """Whether ``text`` (a header value, a query parameter) holds something shaped like an access token, as it
    is or percent-encoded."""
    return bool(_TOKEN.search(text) or ("%" in text and _TOKEN.search(unquote_plus(text))))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check(profile: ProfileInfo, presented: str | None) -> None:
    """Raise a 401 in the caller's format unless the profile is open or ``presented`` is its token."""
    if profile.token_hash is None:
        return
    if not presented:
        raise ProxyError(401, f"This profile requires an access token in the {HEADER} header.",
                         kind="authentication_error", code="profile_token_required")
    if not hmac.compare_digest(token_hash(presented), profile.token_hash):
        raise ProxyError(401, f"The {HEADER} header does not hold this profile's access token.",
                         kind="authentication_error", code="invalid_profile_token")
