"""``GET /api/limits/{id}/usage``: a limit's spend in its current window, per person for the default per-person
limit (whose ``used_usd`` holds no single total), as one figure otherwise (rolling windows included)."""
from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..metering.limits import usage
from ..models import Limit, Person
from . import api
from .common import get_or_404


@api.get("/limits/<item_id>/usage")
def limit_usage(item_id: str):
    limit = get_or_404(Limit, item_id, "Limit")
    since, used = usage(db.session, limit)
    people = [subject for subject in used if subject]
    emails = dict(db.session.execute(select(Person.id, Person.email).where(Person.id.in_(people))).all()) \
        if people else {}
    rows = [{"person_id": subject or None, "person_email": emails.get(subject), "used_usd": float(total)}
            for subject, total in sorted(used.items(), key=lambda item: -item[1])]
    return {"limit_id": limit.id, "period": limit.period, "window_start": since.isoformat(),
            "max_cost_usd": float(limit.max_cost_usd), "data": rows}
