"""Who is acting on the management API or the console, for this request.

The sign-in checks (the API's bearer check, the console's session guard, and the identity provider's tokens)
set it once per request; the change log, approvals and policy-test runs read it to record who did what.
Outside a request (the configuration file's ``apply``, migrations, the CLI) the caller sets it explicitly.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import g, has_app_context

ADMIN, OPERATOR, VIEWER = "admin", "operator", "viewer"
ROLES = (ADMIN, OPERATOR, VIEWER)


@dataclass(frozen=True)
class Actor:
    """One caller of the management surfaces.

    ``kind`` says how it signed in: ``admin_token``, ``readonly_token``, ``person`` (an identity provider's
    token or console sign-in), ``config_file`` or ``system``. ``name`` is what records show (``admin token``,
    an e-mail address, a file's path); ``role`` is one of ``ROLES``.
    """
    kind: str
    name: str
    role: str
    person_id: str | None = None


SYSTEM = Actor("system", "system", ADMIN)


def set_actor(actor: Actor) -> None:
    g.archestra_actor = actor


def current_actor() -> Actor | None:
    """The request's actor, or None outside a signed-in request."""
    return g.get("archestra_actor") if has_app_context() else None
