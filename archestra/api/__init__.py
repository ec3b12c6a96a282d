"""The management API (``/api/...``): admin-token protected JSON, one error shape."""
from __future__ import annotations

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api")

from . import approvals, auth, errors, keys, metering, model_aliases, openapi, profiles, replays, security, templates  # noqa: E402,F401  (registers handlers and routes)
