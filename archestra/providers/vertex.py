"""Vertex AI credentials: google-auth, loaded once per process, refreshed before expiry.

A service-account file (``ARCHESTRA_GEMINI_VERTEX_AI_CREDENTIALS_FILE``) or Application Default
Credentials. google-auth counts a token as expired 3 min 45 s before its real expiry, so a token is
renewed ahead of time; the lock keeps concurrent requests from refreshing it twice.
"""
from __future__ import annotations

import threading
from typing import Any

from ..proxy_error import ProxyError

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
_lock = threading.Lock()
_credentials: dict[str | None, Any] = {}


def _load(credentials_file: str | None) -> Any:
    if credentials_file:
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_file(credentials_file, scopes=SCOPES)
    import google.auth

    credentials, _ = google.auth.default(scopes=SCOPES)
    return credentials


def vertex_headers(credentials_file: str | None) -> dict[str, str]:
    """The Authorization (and quota project) headers for a Vertex AI call."""
    import google.auth.exceptions
    import google.auth.transport.requests

    try:
        with _lock:
            credentials = _credentials.get(credentials_file)
            if credentials is None:
                credentials = _credentials[credentials_file] = _load(credentials_file)
            if not credentials.valid:
                credentials.refresh(google.auth.transport.requests.Request())
            token = credentials.token
    except (google.auth.exceptions.GoogleAuthError, OSError, ValueError) as exc:
        raise ProxyError(502, f"Could not obtain Vertex AI credentials ({exc.__class__.__name__}).",
                         kind="upstream_error", code="vertex_credentials") from None
    headers = {"Authorization": f"Bearer {token}"}
    quota_project = getattr(credentials, "quota_project_id", None)
    if quota_project:
        headers["x-goog-user-project"] = quota_project
    return headers


def reset() -> None:
    """Forget cached credentials (tests, and credential rotation)."""
    with _lock:
        _credentials.clear()
