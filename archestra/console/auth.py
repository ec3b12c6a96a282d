"""Sign-in, sign-out, and the guard in front of every console page: a live session for everything (static files
aside), a CSRF token on every form post, and read-only sessions that can change nothing."""
from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import abort, g, make_response, redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from ..actor import Actor, set_actor
from ..api.errors import ApiError
from ..extensions import db
from ..runtime import current_runtime
from . import console
from .sessions import (
    ADMIN,
    COOKIE,
    OIDC,
    OPERATOR,
    close_session,
    find_session,
    oidc_enabled,
    open_session,
    role_for,
)

SIGN_IN_COOKIE = "archestra_console_sign_in"  # double-submit CSRF token of the sign-in form (no session yet)
PUBLIC = {"console.sign_in", "console.static", "console.oidc_start", "console.oidc_callback"}
#: What an operator may change, as through the API (api/auth.py): policies, monitor mode (profile_update and
#: settings keep to ``mode``), policy replays. Everything else that changes something is an admin's.
OPERATOR_POSTS = {"console.profile_update", "console.settings", "console.policy_create", "console.policy_update",
                  "console.policy_delete", "console.replays"}
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


def cookie_args(path: str = "/console") -> dict:
    return {"path": path, "httponly": True, "samesite": "Lax", "secure": request.is_secure}


def _equal(presented: str, expected: str) -> bool:
    """Constant-time, and safe for any text a form may carry (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(presented.encode(), expected.encode())


def _same_origin() -> bool:
    """Browsers send Origin on every form post: one from another site is refused even before the token check."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


@console.before_request
def _guard():
    g.console = None
    if request.endpoint in PUBLIC:
        return None
    settings = current_runtime().settings
    user = find_session(settings, request.cookies.get(COOKIE))
    if user is not None and user.kind == OIDC and not _person_active(user.person_id):
        user = None  # the person was disabled or deleted since signing in: the session ends with them
    if user is None:
        if request.method == "GET":
            return redirect(url_for("console.sign_in", next=request.full_path.rstrip("?")))
        abort(401, "Sign in first.")
    g.console = user
    if user.kind == OIDC:
        set_actor(Actor("person", user.name or "", user.role, user.person_id))
    else:
        read_only = not user.can_edit
        set_actor(Actor("readonly_token" if read_only else "admin_token",
                        "read-only token" if read_only else "admin token", user.role))
    if request.method == "POST":
        if not _same_origin() or not _equal(request.form.get("csrf_token", ""), user.csrf):
            abort(403, "This form is stale or was not sent from the console (CSRF check failed). Reload the page "
                       "and try again.")
        if not may_post(user.role, request.endpoint or ""):
            abort(403, "This session is read-only." if not user.can_operate else
                  "Operators change policies, monitor mode and replays; this takes an admin.")
    return None


def _person_active(person_id: str | None) -> bool:
    person = current_runtime().identity.people.person(person_id) if person_id else None
    return person is not None and not person.disabled


def may_post(role: str, endpoint: str) -> bool:
    """Whether a session of ``role`` may send this form (viewers: only sign out)."""
    return endpoint == "console.sign_out" or role == ADMIN or (role == OPERATOR and endpoint in OPERATOR_POSTS)


@console.after_request
def _headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


def next_page(target: str | None = None) -> str:
    """``target`` (by default the request's ``next``) if it is a page of the console, else the home page: never
    an open redirect to another site."""
    target = (request.values.get("next") if target is None else target) or ""
    if target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.home")


@console.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    settings = current_runtime().settings
    if not settings.admin_token and not settings.console_readonly_token and not oidc_enabled(settings):
        return render_template("console/error.html", status=503, message=(
            "The console is disabled: set ARCHESTRA_ADMIN_TOKEN to enable it.")), 503
    error, status = None, 200
    if request.method == "POST":
        expected = request.cookies.get(SIGN_IN_COOKIE, "")
        if not _same_origin() or not expected or not _equal(request.form.get("csrf_token", ""), expected):
            error, status = "The sign-in form expired or did not come from this console. Try again.", 403
        else:
            role = role_for(settings, request.form.get("token", ""))
            if role is None:
                error, status = "This is not an admin token.", 401
            else:
                response = redirect(next_page())
                response.set_cookie(COOKIE, open_session(settings, role),
                                    max_age=int(settings.console_session_hours * 3600), **cookie_args())
                response.delete_cookie(SIGN_IN_COOKIE, path="/console/sign-in")
                return response
    form_token = secrets.token_urlsafe(24)
    response = make_response(render_template("console/sign_in.html", error=error, form_token=form_token,
                                             next=request.values.get("next", ""), oidc=oidc_enabled(settings),
                                             tokens=bool(settings.admin_token or settings.console_readonly_token)),
                             status)
    response.set_cookie(SIGN_IN_COOKIE, form_token, max_age=3600, **cookie_args("/console/sign-in"))
    return response


@console.post("/sign-out")
def sign_out():
    close_session(request.cookies.get(COOKIE))
    response = redirect(url_for("console.sign_in"))
    response.delete_cookie(COOKIE, path="/console")
    return response


@console.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    db.session.rollback()
    return render_template("console/error.html", status=error.code, message=error.description), error.code


@console.errorhandler(ApiError)
def _api_error(error: ApiError):
    db.session.rollback()
    return render_template("console/error.html", status=error.status, message=error.message), error.status


@console.errorhandler(ValidationError)
def _validation_error(error: ValidationError):
    db.session.rollback()
    return render_template("console/error.html", status=400, message=str(error.messages)), 400
