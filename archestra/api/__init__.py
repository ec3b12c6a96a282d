"""The management API (``/api/...``): admin-token protected JSON, one error shape."""
from __future__ import annotations

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api")

from . import auth, errors, keys, metering, model_aliases, openapi, profiles, replays, security, templates  # noqa: E402,F401  (registers handlers and routes)
from . import packs  # noqa: E402,F401  (policy packs' routes)
