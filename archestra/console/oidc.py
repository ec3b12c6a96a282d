"""Console sign-in through the company's identity provider: the OIDC authorization code flow with PKCE (Authlib).

``/console/sign-in/oidc`` sends the browser to the provider's authorization endpoint with a fresh ``state``, a
``nonce`` and a PKCE challenge (S256); the three, and the page to return to, wait in a short-lived HttpOnly cookie
of this path only. ``/console/sign-in/oidc/callback`` takes the code back (its ``state`` must be the cookie's),
exchanges it at the token endpoint with the PKCE verifier (and the client's secret, when it has one), verifies
the ID token (signature by the provider's JWKS, issuer, audience = the client id, expiry, the nonce) with the
identity provider's verifier (archestra/identity/oidc.py), maps the person's groups to a console role
(archestra/identity/roles.py), finds the person (archestra/identity/people.py: made on first sight, teams from
the groups; a disabled person is refused) and opens a console session for that person and role. Nothing in the request
chooses a host the proxy talks to: the endpoints come from the configured issuer's discovery document.
"""
from __future__ import annotations

import base64
import hmac
import json
import logging
import threading
import time
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask import make_response, redirect, render_template, request, url_for

from ..config import Settings
from ..identity.oidc import TIMEOUT, InvalidToken, OidcVerifier, ProviderUnavailable, _fetch_json
from ..identity.roles import role_for_groups
from ..runtime import current_runtime
from . import console
from .auth import cookie_args, next_page
from .sessions import COOKIE, OIDC, close_session, oidc_enabled, open_session

log = logging.getLogger("archestra.console")
FLOW_COOKIE = "archestra_console_oidc"
FLOW_PATH = "/console/sign-in/oidc"
FLOW_SECONDS = 600  # the time a person has at the identity provider's sign-in page
SCOPE = "openid email profile"
DISCOVERY_SECONDS = 3600.0

_lock = threading.Lock()
_discovered: dict[str, tuple[float, dict[str, str]]] = {}
_verifiers: dict[tuple[Any, ...], OidcVerifier] = {}


def _endpoints(issuer: str) -> dict[str, str]:
    """The issuer's authorization and token endpoints (its discovery document, cached for an hour)."""
    with _lock:
        found = _discovered.get(issuer)
        if found is not None and time.monotonic() - found[0] < DISCOVERY_SECONDS:
            return found[1]
    document = _fetch_json(requests.get, issuer.rstrip("/") + "/.well-known/openid-configuration")
    if document.get("issuer") != issuer:
        raise ProviderUnavailable("the identity provider's discovery document names another issuer")
    endpoints = {name: document.get(name) for name in ("authorization_endpoint", "token_endpoint")}
    if not all(isinstance(url, str) and url.startswith(("https://", "http://")) for url in endpoints.values()):
        raise ProviderUnavailable("the identity provider's discovery document has no authorization or token "
                                  "endpoint: it does not offer the authorization code flow")
    with _lock:
        _discovered[issuer] = (time.monotonic(), endpoints)  # type: ignore[assignment]
    return endpoints  # type: ignore[return-value]


def _id_token_verifier(settings: Settings) -> OidcVerifier:
    """The identity provider's verifier for ID tokens: their audience is the console's client id."""
    key = (settings.oidc_issuer, settings.oidc_client_id, settings.oidc_email_claim, settings.oidc_groups_claim,
           settings.oidc_jwks_refresh_seconds)
    with _lock:
        if key not in _verifiers:
            _verifiers[key] = OidcVerifier(settings.oidc_issuer or "", settings.oidc_client_id or "",
                                           email_claim=settings.oidc_email_claim,
                                           groups_claim=settings.oidc_groups_claim,
                                           refresh_seconds=settings.oidc_jwks_refresh_seconds)
        return _verifiers[key]


def _client(settings: Settings) -> OAuth2Session:
    return OAuth2Session(settings.oidc_client_id, settings.oidc_client_secret, scope=SCOPE,
                         redirect_uri=settings.oidc_redirect_url or url_for("console.oidc_callback", _external=True),
                         code_challenge_method="S256",
                         token_endpoint_auth_method="client_secret_basic" if settings.oidc_client_secret else "none")


def _refused(status: int, message: str):
    return render_template("console/error.html", status=status, message=message), status


def _read_flow() -> dict[str, str] | None:
    raw = request.cookies.get(FLOW_COOKIE, "")
    if not raw or len(raw) > 4096:
        return None
    try:
        flow = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError:
        return None
    if not isinstance(flow, dict) or not all(isinstance(flow.get(k), str) for k in ("state", "verifier", "nonce")):
        return None
    return flow


@console.get("/sign-in/oidc")
def oidc_start():
    """Off to the identity provider, with a new state, nonce and PKCE challenge."""
    settings = current_runtime().settings
    if not oidc_enabled(settings):
        return _refused(404, "Sign-in through an identity provider is not configured (ARCHESTRA_OIDC_ISSUER, "
                             "ARCHESTRA_OIDC_CLIENT_ID).")
    try:
        endpoint = _endpoints(settings.oidc_issuer or "")["authorization_endpoint"]
    except ProviderUnavailable as exc:
        log.warning("console sign-in: %s", exc)
        return _refused(502, f"The identity provider cannot be reached: {exc}. Sign in with the admin token "
                             "meanwhile.")
    verifier, nonce = generate_token(64), generate_token(32)
    uri, state = _client(settings).create_authorization_url(endpoint, code_verifier=verifier, nonce=nonce)
    flow = {"state": state, "verifier": verifier, "nonce": nonce, "next": next_page()}
    response = redirect(uri)
    response.set_cookie(FLOW_COOKIE, base64.urlsafe_b64encode(json.dumps(flow).encode()).decode(),
                        max_age=FLOW_SECONDS, **cookie_args(FLOW_PATH))
    return response


@console.get("/sign-in/oidc/callback")
def oidc_callback():
    """Back from the identity provider: the code for tokens, the ID token checked, a session for its role."""
    settings = current_runtime().settings
    if not oidc_enabled(settings):
        return _refused(404, "Sign-in through an identity provider is not configured.")
    flow = _read_flow()
    if request.args.get("error"):
        detail = (request.args.get("error_description") or request.args["error"])[:300]
        return _refused(401, f"The identity provider did not sign you in: {detail}")
    state, code = request.args.get("state", ""), request.args.get("code", "")
    if flow is None or not state or not hmac.compare_digest(state.encode(), flow["state"].encode()):
        return _refused(403, "This sign-in expired or was not started from this console. Start again from the "
                             "sign-in page.")
    if not code or len(code) > 4096:
        return _refused(400, "The identity provider sent no authorization code.")
    try:
        endpoint = _endpoints(settings.oidc_issuer or "")["token_endpoint"]
        tokens = _client(settings).fetch_token(endpoint, grant_type="authorization_code", code=code,
                                               code_verifier=flow["verifier"], timeout=TIMEOUT)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise InvalidToken("the identity provider answered without an ID token (is 'openid' allowed?)")
        identity = _id_token_verifier(settings).verify(id_token)
    except (OAuthError, requests.RequestException) as exc:
        log.warning("console sign-in: the token endpoint refused the code (%s)", exc.__class__.__name__)
        return _refused(502, "The identity provider refused to exchange the sign-in code. Start again.")
    except InvalidToken as exc:
        log.warning("console sign-in refused: %s", exc)
        return _refused(401, f"The identity provider's answer was refused: {exc}.")
    if not hmac.compare_digest(str(identity.claims.get("nonce", "")).encode(), flow["nonce"].encode()):
        return _refused(401, "The identity provider's answer does not belong to this sign-in (nonce).")
    role = role_for_groups(identity.groups, settings)
    name = identity.email or identity.subject
    if role is None:
        log.info("console sign-in refused: %s holds no console role", name)
        return _refused(403, f"{name} is in no group that may use the console (ARCHESTRA_OIDC_ADMIN_GROUPS, "
                             "ARCHESTRA_OIDC_OPERATOR_GROUPS, ARCHESTRA_OIDC_VIEWER_GROUPS).")
    person = current_runtime().identity.people.for_identity(identity)  # found, or made on first sight
    if person.disabled:
        return _refused(403, f"{name} is disabled on this proxy.")
    close_session(request.cookies.get(COOKIE))  # a session this browser had before ends: one at a time
    response = make_response(redirect(next_page(str(flow.get("next") or ""))))
    response.set_cookie(COOKIE, open_session(settings, role, kind=OIDC, name=name, person_id=person.id),
                        max_age=int(settings.console_session_hours * 3600), **cookie_args())
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    log.info("console sign-in: %s as %s", name, role)
    return response

