"""Microsoft Entra ID tokens the proxy holds for Azure OpenAI (``ARCHESTRA_AZURE_ENTRA_ID``).

azure-identity's ``DefaultAzureCredential``, built once per process, so that the variables Azure documents
configure it (a service principal: ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``, ``AZURE_CLIENT_SECRET`` or
``AZURE_CLIENT_CERTIFICATE_PATH``; workload identity; managed identity; ``AZURE_AUTHORITY_HOST`` for other
clouds). A token is kept until ``REFRESH_MARGIN`` before it expires (the lock keeps concurrent requests from
fetching it twice), then renewed.

Instance discovery is off: it only checks the authority host against Microsoft's list, and that host comes from
the operator's own environment (never from a caller), while the check needs Microsoft's public cloud reachable and
fails for private clouds and Azure Stack, which Microsoft says to use ``disable_instance_discovery`` for.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from ..proxy_error import ProxyError

#: The audience of Azure OpenAI / Azure AI Foundry inference.
SCOPE = "https://cognitiveservices.azure.com/.default"
#: A token this close to its expiry is renewed before it is used (azure-core's own policy uses 300 s).
REFRESH_MARGIN = 300.0
_lock = threading.Lock()
_state: dict[str, Any] = {}


def bearer_token() -> str:
    """A valid Entra ID access token for Azure OpenAI, fetched again only when the one held nears its expiry."""
    with _lock:
        token = _state.get("token")
        if token is None or token.expires_on - REFRESH_MARGIN <= time.time():
            token = _state["token"] = _fetch()
        return str(token.token)


def _fetch() -> Any:
    credential = _state.get("credential")
    if credential is None:
        credential = _state["credential"] = _new_credential()
    try:
        return credential.get_token(SCOPE)
    except Exception as exc:  # azure-core's AzureError, msal's and the transport's alike: no token, no request
        raise ProxyError(502, f"Could not obtain a Microsoft Entra ID token for Azure OpenAI "
                              f"({exc.__class__.__name__}).", kind="upstream_error", code="azure_credentials") from None


def _new_credential() -> Any:
    try:  # imported when the mode is on only: azure-identity (and msal) are heavy and most proxies never need them
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise ProxyError(502, "ARCHESTRA_AZURE_ENTRA_ID is on but azure-identity is not installed.",
                         kind="upstream_error", code="azure_credentials") from None
    return DefaultAzureCredential(disable_instance_discovery=True)


def reset() -> None:
    """Forget the credential and its token (tests, and credential rotation)."""
    with _lock:
        credential = _state.pop("credential", None)
        _state.clear()
    if credential is not None:
        credential.close()
