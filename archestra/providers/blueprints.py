"""One Flask blueprint per provider, all served by the one pipeline in ``proxy.py``."""
from __future__ import annotations

from flask import Blueprint

from ..proxy import dispatch
from .base import Provider

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def make_blueprint(provider: Provider) -> Blueprint:
    blueprint = Blueprint(f"proxy_{provider.name}", __name__, url_prefix=f"/v1/{provider.name}")

    def view(rest: str = ""):
        return dispatch(provider, rest)

    blueprint.add_url_rule("/", "root", view, methods=METHODS, strict_slashes=False)
    blueprint.add_url_rule("/<path:rest>", "route", view, methods=METHODS)
    return blueprint
