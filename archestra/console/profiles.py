"""Profiles: list and create; one profile's settings, access token, virtual keys, limits and spend."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flask import g, request, url_for
from sqlalchemy import func, or_, select

from ..api.common import create_item, delete_item, get_or_404
from ..api.keys import issue_virtual_key, revoke
from ..api.metering import limit_scope
from ..api.profiles import (
    all_profiles,
    create_profile,
    delete_profile,
    find_profile,
    issue_token,
    remove_token,
    update_profile,
)
from ..api.schemas import LimitSchema
from ..extensions import db
from ..metering.spend import utc_day
from ..models import Limit, SpendDaily, Tool, VirtualKey
from ..profile_tokens import HEADER
from . import console
from .forms import Outcome, attempt, checkbox, choice, text
from .pages import done, page

SPEND_DAYS = 30


def first_day(days: int) -> str:
    """The first UTC day of the last ``days`` days, today included."""
    return utc_day(datetime.now(timezone.utc) - timedelta(days=days - 1))


def _profile_form() -> dict[str, Any]:
    form = request.form
    return {"name": text(form, "name"), "slug": text(form, "slug"),
            "consider_context_untrusted": checkbox(form, "consider_context_untrusted"),
            "require_virtual_key": checkbox(form, "require_virtual_key"),
            "global_policy": choice(form, "global_policy"), "mode": choice(form, "mode"),
            "metadata_only": choice(form, "metadata_only")}


@console.get("/")
def home():
    return _profiles_page({})


def _profiles_page(errors: dict, status: int = 200, values: dict | None = None):
    profiles = all_profiles()
    tools = dict(db.session.execute(select(Tool.profile_id, func.count()).group_by(Tool.profile_id)).all())
    spend = dict(db.session.execute(
        select(SpendDaily.profile_id, func.sum(SpendDaily.cost_usd))
        .where(SpendDaily.day >= first_day(SPEND_DAYS)).group_by(SpendDaily.profile_id)).all())
    return page("profiles.html", status, profiles=profiles, tools=tools, spend=spend, errors=errors,
                values=values or {}, days=SPEND_DAYS)


@console.post("/profiles")
def profile_create():
    values = {"name": text(request.form, "name"), "slug": text(request.form, "slug"),
              "mode": choice(request.form, "mode"),
              "consider_context_untrusted": checkbox(request.form, "consider_context_untrusted")}
    outcome = attempt(lambda: create_profile(values))
    if not outcome.ok:
        return _profiles_page(outcome.errors, 400, values)
    return done("console.profile", "created", item_id=outcome.value.id)


@console.get("/profiles/<item_id>")
def profile(item_id: str):
    return _profile_page(find_profile(item_id))


def _profile_page(profile: Any, status: int = 200, errors: dict | None = None, secret: dict | None = None,
                  key_errors: dict | None = None, limit_errors: dict | None = None):
    keys = db.session.execute(select(VirtualKey).where(VirtualKey.profile_id == profile.id)
                              .order_by(VirtualKey.created_at)).scalars().all()
    limits = db.session.execute(select(Limit).where(or_(Limit.profile_id == profile.id, Limit.scope == "global"))
                                .order_by(Limit.scope, Limit.created_at)).scalars().all()
    key_names = {key.id: key.name for key in keys}
    spend, tokens, count = db.session.execute(
        select(func.sum(SpendDaily.cost_usd), func.sum(SpendDaily.input_tokens + SpendDaily.output_tokens),
               func.sum(SpendDaily.interactions)).where(SpendDaily.profile_id == profile.id,
                                                        SpendDaily.day >= first_day(SPEND_DAYS))).one()
    tool_count = db.session.execute(select(func.count()).where(Tool.profile_id == profile.id)).scalar()
    base = url_for("console.home", _external=True).removesuffix("/console/")
    return page("profile.html", status, profile=profile, keys=keys, limits=limits, key_names=key_names,
                spend=spend, tokens=tokens, count=count, days=SPEND_DAYS, tool_count=tool_count,
                errors=errors or {}, key_errors=key_errors or {}, limit_errors=limit_errors or {},
                secret=secret, header=HEADER, proxy_base=f"{base}/v1/openai/{profile.slug or profile.id}",
                now=datetime.now(timezone.utc))


#: What an operator may change on a profile: monitor mode (as through the API, api/auth.py); the rest is an admin's.
OPERATOR_FIELDS = ("mode",)


@console.post("/profiles/<item_id>")
def profile_update(item_id: str):
    profile = find_profile(item_id)
    values = _profile_form()
    if not g.console.can_edit:
        values = {name: values[name] for name in OPERATOR_FIELDS}
    outcome = attempt(lambda: update_profile(profile, values))
    if not outcome.ok:
        return _profile_page(profile, 400, errors=outcome.errors)
    return done("console.profile", "saved", item_id=profile.id)


@console.post("/profiles/<item_id>/delete")
def profile_delete(item_id: str):
    profile = find_profile(item_id)
    outcome = attempt(lambda: delete_profile(profile))
    if not outcome.ok:
        return _profile_page(profile, 409, errors=outcome.errors)
    return done("console.home", "deleted")


@console.post("/profiles/<item_id>/token")
def profile_token(item_id: str):
    profile = find_profile(item_id)
    token = issue_token(profile)
    return _profile_page(profile, secret={"label": f"Access token (send it in {HEADER})", "value": token})


@console.post("/profiles/<item_id>/token/delete")
def profile_token_delete(item_id: str):
    profile = find_profile(item_id)
    remove_token(profile)
    return done("console.profile", "token_removed", item_id=profile.id)


@console.post("/profiles/<item_id>/virtual-keys")
def virtual_key_create(item_id: str):
    profile = find_profile(item_id)
    body = {"profile_id": profile.id, "name": text(request.form, "name"),
            "expires_at": _expiry(request.form.get("expires_at", ""))}
    outcome: Outcome = attempt(lambda: issue_virtual_key(body))
    if not outcome.ok:
        return _profile_page(profile, 400, key_errors=outcome.errors)
    row, key = outcome.value
    return _profile_page(profile, secret={"label": f"Virtual key {row.name}", "value": key})


def _expiry(value: str) -> str | None:
    """``<input type="datetime-local">`` gives no offset: the console's times are UTC."""
    value = value.strip()
    if not value:
        return None
    return value if ("+" in value[10:] or value.endswith("Z")) else value + "+00:00"


@console.post("/virtual-keys/<item_id>/revoke")
def virtual_key_revoke(item_id: str):
    row = get_or_404(VirtualKey, item_id, "Virtual key")
    revoke(row)
    return done("console.profile", "revoked", item_id=row.profile_id)


@console.post("/profiles/<item_id>/limits")
def limit_create(item_id: str):
    profile = find_profile(item_id)
    key_id = request.form.get("virtual_key_id") or None
    body = {"scope": "virtual_key" if key_id else "profile", "profile_id": None if key_id else profile.id,
            "virtual_key_id": key_id, "max_cost_usd": text(request.form, "max_cost_usd"),
            "period": request.form.get("period", "total")}
    outcome = attempt(lambda: create_item(Limit, LimitSchema(), body, limit_scope))
    if not outcome.ok:
        return _profile_page(profile, 400, limit_errors=outcome.errors)
    return done("console.profile", "created", item_id=profile.id)


@console.post("/limits/<item_id>/delete")
def limit_delete(item_id: str):
    row = get_or_404(Limit, item_id, "Limit")
    back = request.form.get("profile_id") or row.profile_id
    delete_item(row)
    if back:
        return done("console.profile", "deleted", item_id=back)
    return done("console.spend", "deleted")
