"""Policy packs in the console: the packs page (on offer, where applied, apply to every profile or to one) and the
profile page's packs section. Changes go through ``packs/apply.py``, as the API's and the configuration file's."""
from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import select

from ..api.errors import ApiError
from ..api.packs import offered
from ..api.profiles import all_profiles, find_profile
from ..extensions import db
from ..models import AppliedPack
from ..packs import catalog as pack_catalog  # the module: see packs/apply.py
from ..packs.apply import apply_packs, packs_dir, remove_pack
from . import console
from .forms import attempt
from .pages import done, page


def _change(change) -> Any:
    try:
        return change()
    except pack_catalog.PackError as exc:
        raise ApiError(400, "unknown_pack", str(exc)) from None


def profile_packs(profile_id: str) -> dict[str, Any]:
    """For the profile page: the packs applied to the profile, to every profile, and the ones on offer."""
    rows = db.session.execute(select(AppliedPack).where(
        (AppliedPack.profile_id == profile_id) | AppliedPack.profile_id.is_(None))
        .order_by(AppliedPack.created_at)).scalars().all()
    return {"own": [row for row in rows if row.profile_id], "all": [row for row in rows if not row.profile_id],
            "offered": sorted(pack_catalog.catalog(packs_dir()))}


console.add_app_template_global(profile_packs, "profile_packs")


@console.get("/packs")
def packs():
    return _packs_page({})


def _packs_page(errors: dict, status: int = 200):
    return page("packs.html", status, packs=offered(), profiles=all_profiles(), errors=errors,
                names={profile.id: profile.slug or profile.name for profile in all_profiles()})


@console.post("/packs/<name>/all-profiles")
def pack_apply_all(name: str):
    outcome = attempt(lambda: _change(lambda: apply_packs(None, [name])))
    return _packs_page(outcome.errors, 400) if not outcome.ok else done("console.packs", "saved")


@console.post("/packs/<name>/all-profiles/delete")
def pack_remove_all(name: str):
    remove_pack(None, name)
    return done("console.packs", "deleted")


@console.post("/packs/<name>/profile")
def pack_apply_profile(name: str):
    profile = find_profile(request.form.get("profile_id", ""))
    outcome = attempt(lambda: _change(lambda: apply_packs(profile.id, [name])))
    return _packs_page(outcome.errors, 400) if not outcome.ok else done("console.packs", "saved")


@console.post("/profiles/<item_id>/packs")
def profile_pack_apply(item_id: str):
    profile = find_profile(item_id)
    outcome = attempt(lambda: _change(lambda: apply_packs(profile.id, [request.form.get("pack", "")])))
    if not outcome.ok:
        return _packs_page(outcome.errors, 400)
    return done("console.profile", "saved", item_id=profile.id)


@console.post("/profiles/<item_id>/packs/<name>/delete")
def profile_pack_remove(item_id: str, name: str):
    profile = find_profile(item_id)
    remove_pack(profile.id, name)
    return done("console.profile", "deleted", item_id=profile.id)
