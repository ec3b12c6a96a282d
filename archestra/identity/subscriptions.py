"""Requests paid for by a provider subscription instead of metered API keys.

* Claude Code signed in to a Claude Pro / Max plan sends its OAuth access token, ``Authorization: Bearer
  sk-ant-oat…``, with an ``anthropic-beta`` flag ``oauth-…`` (``oauth-2025-04-20``).
* Codex signed in with ChatGPT sends the ChatGPT access token (a JWT) as ``Authorization: Bearer`` with a
  ``chatgpt-account-id`` header (to ``chatgpt.com/backend-api/codex``).

Such an exchange is recorded with the API-price cost it would have had (shown as covered by the subscription),
billed spend $0, and is neither counted against nor refused by cost limits. ``ARCHESTRA_SUBSCRIPTION_DETECTION=false``
meters them like any other.
"""
from __future__ import annotations

import re
from typing import Any

from .oidc import unverified_issuer

CLAUDE, CHATGPT = "claude", "chatgpt"
_CLAUDE_TOKEN = re.compile(r"sk-ant-oat[0-9A-Za-z_-]+")
#: The issuers of ChatGPT sign-in tokens (Codex's ``auth.json``; older ChatGPT tokens name auth0.openai.com).
CHATGPT_ISSUERS = frozenset({"https://auth.openai.com", "https://auth.openai.com/", "https://auth0.openai.com/"})


def _bearer(headers: Any) -> str | None:
    scheme, _, token = (headers.get("Authorization") or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def subscription_of(provider: str, headers: Any) -> str | None:
    """``claude``, ``chatgpt`` or None: which subscription the request's own credential signs in with. Only on
    the provider that subscription is for: another provider's credential that happens to look alike (an Azure
    Entra ID token is a JWT too) is metered, so no header can take a metered request out of its budget."""
    token = _bearer(headers)
    if not token:
        return None
    if provider == "anthropic" and _CLAUDE_TOKEN.fullmatch(token):
        beta = (headers.get("anthropic-beta") or "").lower()
        if any(flag.strip().startswith("oauth-") for flag in beta.split(",")):
            return CLAUDE
    if provider == "openai" and (headers.get("chatgpt-account-id") or "").strip() and \
            unverified_issuer(token) in CHATGPT_ISSUERS:
        return CHATGPT
    return None
