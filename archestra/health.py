"""Liveness (``/healthz``) and readiness (``/readyz``: database reachable, schema migrated)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from .extensions import db
from .upgrade import head_revision

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():
    return {"status": "ok"}


@health.get("/readyz")
def readyz():
    try:
        current = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # any database failure means not ready
        db.session.rollback()
        return jsonify(status="unavailable", reason=f"database: {exc.__class__.__name__}"), 503
    finally:
        db.session.remove()
    head = head_revision()
    if current != head:
        return jsonify(status="unavailable", reason=f"schema at {current}, expected {head}"), 503
    return {"status": "ready", "schema": current}
