"""Bedrock requests signed with the proxy's own AWS credentials (``ARCHESTRA_BEDROCK_AWS_AUTH``).

Credentials come from botocore's standard chain (environment, shared config / profile, web identity (IRSA),
container and instance metadata), loaded once per process; botocore refreshes temporary ones itself
(``get_frozen_credentials`` renews them ahead of expiry). A client's own SigV4 signature covers the proxy's
host and cannot be forwarded: such requests are refused with a pointer to this mode.
"""
from __future__ import annotations

import re
import threading
from typing import Any, Mapping
from urllib.parse import unquote_plus

from ..proxy_error import ProxyError

SIGV4 = "AWS4-HMAC-SHA256"
SERVICE = "bedrock"
_REGION_IN_HOST = re.compile(r"bedrock(?:-runtime|-mantle)?(?:-fips)?\.([a-z0-9-]+)\."
                             r"(?:vpce\.)?(?:amazonaws\.com|api\.aws)")
#: Client headers that belong to the client's own signature: never forwarded next to the proxy's.
#: Client key slots go too: no client value rides along next to the proxy's identity.
_CLIENT_SIGNING = ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "x-api-key",
                   "x-goog-api-key", "api-key")
_QUERY_SIGNING = ("x-amz-signature", "x-amz-credential", "x-amz-security-token")
_lock = threading.Lock()
_state: dict[str, Any] = {}


def refuse_client_signature(headers: Mapping[str, str], query: str = "") -> None:
    """A client's own SigV4 (``Authorization: AWS4-HMAC-SHA256 ...`` in any case, or presigned in the query) is
    refused with a pointer to what works instead, rather than forwarded to fail at Bedrock."""
    signed = any(name.lower() == "authorization" and value.strip().upper().startswith(SIGV4)
                 for name, value in headers.items())
    presigned = any(unquote_plus(part.partition("=")[0]).strip().lower() in _QUERY_SIGNING
                    for part in query.split("&") if part)
    if signed or presigned:
        raise ProxyError(400, "SigV4-signed requests cannot be forwarded (the signature covers the proxy's host, "
                              "not Bedrock's): send no AWS credentials and let the proxy sign with its own "
                              "(ARCHESTRA_BEDROCK_AWS_AUTH, e.g. CLAUDE_CODE_SKIP_BEDROCK_AUTH=1), or use a Bedrock "
                              "API key (AWS_BEARER_TOKEN_BEDROCK, sent as Authorization: Bearer).",
                         code="sigv4_not_supported")


def _session() -> Any:
    with _lock:
        if "session" not in _state:
            import botocore.session  # type: ignore[import-untyped]

            _state["session"] = botocore.session.Session()
        return _state["session"]


def _credentials() -> Any:
    with _lock:
        credentials = _state.get("credentials")
    if credentials is None:
        credentials = _session().get_credentials()
        if credentials is None:
            raise ProxyError(502, "The proxy found no AWS credentials to sign the Bedrock request with "
                                  "(environment, shared profile, web identity, container or instance metadata).",
                             kind="upstream_error", code="aws_credentials")
        with _lock:
            _state["credentials"] = credentials
    return credentials


def region_of(settings: Any, url: str) -> str:
    match = _REGION_IN_HOST.search(url)
    region = settings.bedrock_aws_region or (match.group(1) if match else None) or \
        _session().get_config_variable("region")
    if not region:
        raise ProxyError(502, "The proxy cannot tell which AWS region to sign for: set ARCHESTRA_BEDROCK_AWS_REGION.",
                         kind="upstream_error", code="aws_region")
    return str(region)


def sign(settings: Any, method: str, url: str, headers: dict[str, str], body: bytes | None) -> dict[str, str]:
    """``headers`` plus the proxy's SigV4 signature (``url`` with its query string)."""
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
    from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]

    unsigned = {name: value for name, value in headers.items() if name.lower() not in _CLIENT_SIGNING}
    try:
        frozen = _credentials().get_frozen_credentials()
        request = AWSRequest(method=method, url=url, data=body or b"", headers=unsigned)
        SigV4Auth(frozen, SERVICE, region_of(settings, url)).add_auth(request)
    except BotoCoreError as exc:
        raise ProxyError(502, f"Could not obtain AWS credentials ({exc.__class__.__name__}).",
                         kind="upstream_error", code="aws_credentials") from None
    return dict(request.headers.items())


def reset() -> None:
    """Forget the cached session and credentials (tests, and credential rotation)."""
    with _lock:
        _state.clear()
