"""Applying policy packs to one profile or to every profile (as templates), and taking them off.

:func:`apply_packs` is the one entry point the management API, the console and the configuration file use. The
pack's document is stored as it is in its file at that moment (``AppliedPack.document``): every worker and
instance then decides with the same rules; applying it again takes the version on offer now. Each change bumps the
configuration generation in its transaction, so it holds on every worker from the next request.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from sqlalchemy import select

from ..api.common import commit as commit_change
from ..extensions import db
from ..models import AppliedPack, Profile
from ..profiles import UUID_RE
from ..runtime import current_runtime

# The module, not its names: importing the catalog loads the API's schemas, whose package imports this module.
from . import catalog

if TYPE_CHECKING:
    from .catalog import Pack


def packs_dir() -> str | None:
    """The operator's pack folder (``ARCHESTRA_PACKS_DIR``), from the validated settings."""
    return current_runtime().settings.packs_dir


def resolve_profile(key: str | None) -> str | None:
    """The id of the profile ``key`` names (id or slug); None stays None (every profile)."""
    if key is None:
        return None
    key = str(key).lower()
    column = Profile.id if UUID_RE.fullmatch(key) else Profile.slug
    found = db.session.execute(select(Profile.id).where(column == key)).scalar()
    if found is None:
        raise catalog.PackError(f"Profile {key or '(none)'} does not exist.")
    return found


def applied(profile_id: str | None) -> list[AppliedPack]:
    """The packs applied to ``profile_id`` (None: those applied to every profile), oldest first."""
    condition = AppliedPack.profile_id.is_(None) if profile_id is None else AppliedPack.profile_id == profile_id
    return list(db.session.execute(select(AppliedPack).where(condition).order_by(AppliedPack.created_at)).scalars())


def apply_packs(profile_id_or_none: str | None, names: Iterable[str], *, exclusive: bool = False,
                commit: bool = True) -> list[AppliedPack]:
    """Apply the packs ``names`` to the profile (id or slug) or, with None, to every profile as templates. A pack
    already applied there is brought to the version on offer. ``exclusive``: also take off the packs applied
    there that ``names`` does not list (the configuration file's declarative form). ``commit=False`` leaves the
    changes in the session for the caller's own transaction (which must bump the configuration generation, as
    ``api.common.commit`` does). Raises :class:`PackError` for an unknown pack or profile; nothing is changed
    then. Returns the packs applied there afterwards."""
    names = list(names)
    profile_id = resolve_profile(profile_id_or_none)
    packs = catalog.find(names, packs_dir())
    current = {row.name: row for row in applied(profile_id)}
    for pack in packs:
        _store(current.get(pack.name), pack, profile_id)
    if exclusive:
        for name, row in current.items():
            if name not in names:
                db.session.delete(row)
    if commit:
        commit_change("This pack is already applied there.")
    else:
        db.session.flush()
    return applied(profile_id)


def remove_pack(profile_id_or_none: str | None, name: str, *, commit: bool = True) -> bool:
    """Take the pack ``name`` off the profile (id or slug) or off every profile (None); False if not applied."""
    profile_id = resolve_profile(profile_id_or_none)
    row = next((row for row in applied(profile_id) if row.name == name), None)
    if row is None:
        return False
    db.session.delete(row)
    if commit:
        commit_change()
    return True


def _store(row: AppliedPack | None, pack: "Pack", profile_id: str | None) -> None:
    if row is None:
        db.session.add(AppliedPack(name=pack.name, version=pack.version, profile_id=profile_id,
                                   document=pack.document()))
    else:
        row.version, row.document = pack.version, pack.document()
