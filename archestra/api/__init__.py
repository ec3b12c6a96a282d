"""The management API (``/api/...``): admin-token protected JSON, one error shape."""
from __future__ import annotations

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api")

from . import auth, change_log, errors, keys, limit_usage, metering, model_aliases, openapi, people, profiles, replays, security, spend, templates  # noqa: E402,F401  (registers handlers and routes)
