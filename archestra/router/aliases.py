"""Model Router aliases as the request path reads them: cached per worker until the configuration changes."""
from __future__ import annotations

from sqlalchemy import or_, select

from ..extensions import db
from ..generation import ConfigCache, ConfigGeneration
from ..models import ModelAlias


def _load(key: tuple[str, str]) -> list[str] | None:
    profile_id, name = key
    try:
        rows = db.session.execute(select(ModelAlias.profile_id, ModelAlias.targets).where(
            ModelAlias.name == name, or_(ModelAlias.profile_id == profile_id, ModelAlias.profile_id.is_(None)))).all()
    finally:
        db.session.remove()
    own = [targets for owner, targets in rows if owner is not None]
    shared = [targets for owner, targets in rows if owner is None]
    found = (own or shared or [None])[0]
    return list(found) if found is not None else None


class AliasDirectory:
    """``targets(profile_id, name)``: the alias's ``provider:model`` targets in order (the profile's own alias
    before a global one), or None when no alias has that name."""

    def __init__(self, generation: ConfigGeneration, ttl: float) -> None:
        self._cache: ConfigCache[list[str] | None] = ConfigCache(generation, ttl)

    def invalidate(self) -> None:
        self._cache.clear()

    def targets(self, profile_id: str, name: str) -> list[str] | None:
        return self._cache.get((profile_id, name), _load)

    def visible(self, profile_id: str) -> list[str]:
        """The names of the aliases the profile may use (its own and the global ones)."""
        try:
            return sorted(set(db.session.execute(select(ModelAlias.name).where(
                or_(ModelAlias.profile_id == profile_id, ModelAlias.profile_id.is_(None)))).scalars()))
        finally:
            db.session.remove()
