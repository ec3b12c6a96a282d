"""Every management API call needs ``Authorization: Bearer $ARCHESTRA_ADMIN_TOKEN``."""
from __future__ import annotations

import hmac

from flask import request

from ..actor import ADMIN, Actor, set_actor
from ..runtime import current_runtime
from . import api
from .errors import error_json

PUBLIC = {"/api/openapi.json"}  # the API's description holds no secrets


@api.before_request
def _require_admin_token():
    if request.path in PUBLIC:
        return None
    expected = current_runtime().settings.admin_token
    if not expected:
        return error_json(503, "admin_api_disabled",
                          "The management API is disabled: set ARCHESTRA_ADMIN_TOKEN to enable it.")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return error_json(401, "unauthorized", "A valid admin token is required (Authorization: Bearer ...).")
    set_actor(Actor("admin_token", "admin token", ADMIN))
    return None
