"""Who may call the management API: ``Authorization: Bearer`` with the admin token (``ARCHESTRA_ADMIN_TOKEN``:
everything), or with a token of the company identity provider (``ARCHESTRA_OIDC_ISSUER``) whose groups give a
role (``ARCHESTRA_OIDC_{ADMIN,OPERATOR,VIEWER}_GROUPS``):

* ``viewer``: reads (``GET``) only;
* ``operator``: also writes tool call and result policies, tools, policy templates and replays, and switches
  monitor mode (a ``PATCH`` of a profile's or the settings' ``mode`` alone);
* ``admin``: everything (profiles, keys, limits, prices, people, teams, settings...).

A valid token without a role is a 403; an invalid one a 401.
"""
from __future__ import annotations

import hmac

from flask import request

from ..actor import ADMIN, OPERATOR, VIEWER, Actor, set_actor
from ..identity.oidc import InvalidToken, ProviderUnavailable
from ..identity.roles import may, role_for_groups
from ..runtime import current_runtime
from . import api
from .errors import error_json

PUBLIC = {"/api/openapi.json"}  # the API's description holds no secrets
READS = {"GET", "HEAD", "OPTIONS"}
#: Paths (below /api/) an operator may change.
OPERATOR_PATHS = ("tool-call-policies", "tool-result-policies", "tools", "policy-templates", "policy-replays")
MODE_ONLY = ("profiles/", "settings")


def _needed_role() -> str:
    if request.method in READS:
        return VIEWER
    path = request.path.removeprefix("/api/")
    if path.split("/", 1)[0] in OPERATOR_PATHS:
        return OPERATOR
    if request.method in {"PATCH", "PUT"} and path.startswith(MODE_ONLY) and path.count("/") <= 1:
        body = request.get_json(silent=True)
        if isinstance(body, dict) and set(body) == {"mode"}:
            return OPERATOR  # monitor mode on or off
    return ADMIN


def _identity_provider_actor(token: str):
    """The actor an identity provider token signs in, or an error answer."""
    runtime = current_runtime()
    identity_keys = runtime.identity
    verifier = identity_keys.verifier if identity_keys is not None else None
    if verifier is None or not verifier.is_ours(token):
        return None
    try:
        identity = verifier.verify(token)
    except ProviderUnavailable:
        return error_json(503, "identity_provider_unavailable",
                          "The identity provider cannot be reached to check the token; try again later.")
    except InvalidToken as exc:
        return error_json(401, "invalid_identity_token", f"The identity provider token was refused: {exc}.")
    role = role_for_groups(identity.groups, runtime.settings)
    if role is None:
        return error_json(403, "no_role", "Your identity provider groups give no role on this proxy.")
    person = identity_keys.people.for_identity(identity)
    if person.disabled:
        return error_json(403, "person_disabled", "This person is disabled on this proxy.")
    return Actor("person", identity.email or identity.subject, role, person.id)


@api.before_request
def _require_credentials():
    if request.path in PUBLIC:
        return None
    settings = current_runtime().settings
    expected = settings.admin_token
    if not expected and not settings.oidc_issuer:
        return error_json(503, "admin_api_disabled",
                          "The management API is disabled: set ARCHESTRA_ADMIN_TOKEN to enable it.")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and expected and hmac.compare_digest(token.encode(), expected.encode()):
        set_actor(Actor("admin_token", "admin token", ADMIN))
        return None
    actor = _identity_provider_actor(token) if scheme.lower() == "bearer" and token else None
    if actor is None:
        what = "admin token or identity provider token" if settings.oidc_issuer else "admin token"
        return error_json(401, "unauthorized", f"A valid {what} is required (Authorization: Bearer ...).")
    if not isinstance(actor, Actor):
        return actor  # the refusal
    needed = _needed_role()
    if not may(actor.role, needed):
        return error_json(403, "forbidden", f"This needs the {needed} role; yours is {actor.role}.")
    set_actor(actor)
    return None
