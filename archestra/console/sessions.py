"""Console sessions: a random token in an HttpOnly cookie, its SHA-256 in the database.

Server-side rows rather than a signed cookie: every worker and instance on the database accepts a session
without sharing a signing secret, and signing out deletes the row, which ends the session everywhere at once
(a copied cookie is worthless afterwards). A session also ends when it expires
(``ARCHESTRA_CONSOLE_SESSION_HOURS``) and when the credential it was opened with changes (a new admin token; for
a person signed in through the identity provider: another issuer or client, or other groups for their role).
CSRF tokens are derived from the session token (HMAC), so they need no storage either.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select

from ..config import Settings
from ..extensions import db
from ..models import ConsoleSession

COOKIE = "archestra_console"
ADMIN, OPERATOR, VIEWER = "admin", "operator", "viewer"
TOKEN, OIDC = "token", "oidc"  # how a session was opened: a console token, or the identity provider


@dataclass(frozen=True)
class SignedIn:
    id: str
    role: str
    csrf: str
    kind: str = TOKEN
    name: str | None = None  # a person's e-mail address (identity provider sessions)
    person_id: str | None = None

    @property
    def can_edit(self) -> bool:
        """Everything: profiles, keys, limits, prices, settings (admins)."""
        return self.role == ADMIN

    @property
    def can_operate(self) -> bool:
        """Policies, a profile's mode and global policy, policy replays (operators and admins)."""
        return self.role in (ADMIN, OPERATOR)


def oidc_enabled(settings: Settings) -> bool:
    """Whether the console offers sign-in through the identity provider."""
    return bool(settings.oidc_issuer and settings.oidc_client_id)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"archestra-console-csrf", hashlib.sha256).hexdigest()


def role_for(settings: Settings, credential: str) -> str | None:
    """The role a credential signs in with (compared in constant time), None when it is no console credential."""
    presented = credential.strip().encode()
    role = None
    for expected, granted in ((settings.admin_token, ADMIN), (settings.console_readonly_token, VIEWER)):
        if expected and hmac.compare_digest(presented, expected.encode()):
            role = granted
    return role


def _credential(settings: Settings, role: str, kind: str = TOKEN) -> str:
    if kind == OIDC:
        if not oidc_enabled(settings):
            return ""
        groups = {ADMIN: settings.oidc_admin_groups, OPERATOR: settings.oidc_operator_groups,
                  VIEWER: settings.oidc_viewer_groups}.get(role, ())
        return "\n".join([OIDC, settings.oidc_issuer or "", settings.oidc_client_id or "", role, *sorted(groups)])
    if role == OPERATOR:
        return ""  # no token signs in as an operator
    return (settings.admin_token if role == ADMIN else settings.console_readonly_token) or ""


def open_session(settings: Settings, role: str, kind: str = TOKEN, name: str | None = None,
                 person_id: str | None = None) -> str:
    """A new session for ``role`` (a person's, for ``kind="oidc"``): the token for the cookie (only its hash is
    stored)."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    db.session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))  # housekeeping
    db.session.add(ConsoleSession(token_hash=_digest(token), role=role, kind=kind, name=name, person_id=person_id,
                                  credential_hash=_digest(_credential(settings, role, kind)), created_at=now,
                                  expires_at=now + timedelta(hours=settings.console_session_hours)))
    db.session.commit()
    return token


def find_session(settings: Settings, token: str | None) -> SignedIn | None:
    """The live session of a cookie's token, or None (unknown, signed out, expired, credential changed)."""
    if not token or len(token) > 200:
        return None
    row = db.session.execute(select(ConsoleSession).where(ConsoleSession.token_hash == _digest(token))).scalar()
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
    expected = _credential(settings, row.role, row.kind or TOKEN)
    if expires <= datetime.now(timezone.utc) or not expected or \
            not hmac.compare_digest(row.credential_hash, _digest(expected)):
        return None
    return SignedIn(row.id, row.role, csrf_token(token), row.kind or TOKEN, row.name, row.person_id)


def close_session(token: str | None) -> None:
    if token:
        db.session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _digest(token)))
        db.session.commit()
