"""Traffic: interactions with the management API's filters, paged, blocked ones highlighted; one interaction as a
conversation, with its refusals, tokens, cost and timings (and its raw JSON, as the API gives it)."""
from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import defer

from ..api.common import get_or_404
from ..api.errors import ApiError
from ..api.interaction_filters import interaction_filters
from ..api.schemas import InteractionSchema
from ..extensions import db
from ..models import Interaction, Profile
from ..providers import PROVIDERS
from . import console
from .conversation import conversation
from .pages import PAGE_SIZE, page, page_number

FILTERS = ("profile_id", "provider", "model", "session_id", "user_id", "agent_id", "virtual_key_id", "blocked",
           "status", "refusal", "since", "until", "person_email", "team_name", "person_id", "team_id")
BODIES = (defer(Interaction.request), defer(Interaction.upstream_request), defer(Interaction.response))


def _filter_args() -> dict[str, str]:
    """The filters set in the query string (the form sends empty fields too); datetime-local inputs are UTC."""
    args = {name: request.args[name].strip() for name in FILTERS if request.args.get(name, "").strip()}
    for name in ("since", "until"):
        if name in args and len(args[name]) == 16:  # 2026-11-25T10:00 from <input type="datetime-local">
            args[name] += "+00:00"
    return args


@console.get("/traffic")
def traffic():
    args = _filter_args()
    number = page_number()
    rows, total, error = [], 0, None
    try:
        conditions = interaction_filters(args, allowed_extra=())
    except ApiError as exc:
        conditions, error = None, exc.message
    if conditions is not None:
        total = db.session.execute(select(func.count(Interaction.id)).where(*conditions)).scalar() or 0
        # The page's ids first, from the indexes alone (newest first, then per profile, refused only: migration
        # 0012); then only those rows, without their bodies. A deep page never reads the rows it skips.
        newest = (Interaction.created_at.desc(), Interaction.id.desc())
        ids = (select(Interaction.id).where(*conditions).order_by(*newest).limit(PAGE_SIZE)
               .offset((number - 1) * PAGE_SIZE).scalar_subquery())
        rows = db.session.execute(select(Interaction).options(*BODIES).where(Interaction.id.in_(ids))
                                  .order_by(*newest)).scalars().all()
    profiles = db.session.execute(select(Profile.id, Profile.name).order_by(Profile.name)).all()
    query_args = {name: request.args.get(name, "") for name in FILTERS}
    return page("traffic.html", 400 if error else 200, rows=rows, total=total, number=number,
                pages=max(1, -(-total // PAGE_SIZE)), error=error, args=query_args, profiles=profiles,
                providers=[provider.name for provider in PROVIDERS], filters=args)


@console.get("/interactions/<item_id>")
def interaction(item_id: str):
    row = get_or_404(Interaction, item_id, "Interaction")
    return page("interaction.html", row=row, talk=conversation(row))


@console.get("/interactions/<item_id>/raw")
def interaction_json(item_id: str):
    """The raw record, exactly as ``GET /api/interactions/{id}`` shows it."""
    return jsonify(InteractionSchema().dump(get_or_404(Interaction, item_id, "Interaction")))
