"""Spend: cost per day per profile and per model (charts, from the daily rollup metering/spend.py keeps), limits
with their usage, token prices."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import request
from sqlalchemy import func, select

from ..api.common import create_item, delete_item, get_or_404
from ..api.schemas import TokenPriceSchema
from ..extensions import db
from ..metering.limits import usage
from ..metering.spend_groups import spend_by
from ..models import Interaction, Limit, Person, Profile, SpendDaily, Team, TokenPrice, VirtualKey
from . import console
from .chart import stacked
from .forms import attempt, text
from .pages import done, page

RANGES = (7, 30, 90)


def _days() -> int:
    try:
        days = int(request.args.get("days", 30))
    except ValueError:
        return 30
    return days if days in RANGES else 30


def _series(by_profile: bool, first: str, profile_id: str | None,
            names: dict[str, str]) -> list[tuple[str, str, float]]:
    """(day, series, cost): per profile (its current name, else the name it had) or per model."""
    column = SpendDaily.profile_id if by_profile else SpendDaily.model
    query = (select(SpendDaily.day, column, func.max(SpendDaily.profile_name), func.sum(SpendDaily.cost_usd))
             .where(SpendDaily.day >= first).group_by(SpendDaily.day, column))
    if profile_id:
        query = query.where(SpendDaily.profile_id == profile_id)
    rows = []
    for day, key, stored_name, cost in db.session.execute(query):
        name = (names.get(key) or stored_name or key) if by_profile else (key or "(unknown)")
        rows.append((day, name, float(cost or 0)))
    return rows


@console.get("/spend")
def spend(errors: dict | None = None, status: int = 200):
    days = _days()
    profile_id = request.args.get("profile_id") or None
    first = datetime.now(timezone.utc).date() - timedelta(days=days - 1)
    names = dict(db.session.execute(select(Profile.id, Profile.name)).all())
    by_profile = stacked(_series(True, first.isoformat(), profile_id, names), first, days)
    by_model = stacked(_series(False, first.isoformat(), profile_id, names), first, days)
    limits = db.session.execute(select(Limit).order_by(Limit.scope, Limit.created_at)).scalars().all()
    keys = dict(db.session.execute(select(VirtualKey.id, VirtualKey.name)).all())
    prices = db.session.execute(select(TokenPrice).order_by(TokenPrice.model)).scalars().all()
    since = [Interaction.created_at >= datetime.combine(first, datetime.min.time(), timezone.utc)]
    if profile_id:
        since.append(Interaction.profile_id == profile_id)
    by_person, by_team = spend_by(db.session, "person", since), spend_by(db.session, "team", since)
    people = dict(db.session.execute(select(Person.id, Person.email)).all())
    used = {}  # limit id -> (USD in its window, whose: the most spent person of a default per-person limit)
    for item in limits:
        by_subject = usage(db.session, item)[1]
        subject, total = max(by_subject.items(), key=lambda pair: pair[1], default=("", 0))
        used[item.id] = (total, people.get(subject, subject) if subject else None)
    teams = dict(db.session.execute(select(Team.id, Team.name)).all())
    return page("spend.html", status, days=days, ranges=RANGES, profile_id=profile_id, by_profile=by_profile,
                by_model=by_model, limits=limits, names=names, keys=keys, prices=prices, errors=errors or {},
                by_person=by_person, by_team=by_team, people=people, teams=teams, used=used,
                profiles=sorted(names.items(), key=lambda item: item[1]))


@console.post("/token-prices")
def price_create():
    body = {"model": text(request.form, "model"), "input_per_million": text(request.form, "input_per_million"),
            "output_per_million": text(request.form, "output_per_million")}
    outcome = attempt(lambda: create_item(TokenPrice, TokenPriceSchema(), body,
                                          conflict="A price for this model already exists."))
    if not outcome.ok:
        return spend(outcome.errors, 400)
    return done("console.spend", "created", _anchor="prices")


@console.post("/token-prices/<item_id>/delete")
def price_delete(item_id: str):
    delete_item(get_or_404(TokenPrice, item_id, "Token price"))
    return done("console.spend", "deleted", _anchor="prices")
