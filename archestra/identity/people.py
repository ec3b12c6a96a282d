"""People and teams as the request path sees them: plain values, cached until the configuration generation moves.

A verified identity provider token names a person by its issuer and ``sub``. The first time the proxy sees one,
it creates the person (or links the person an operator created with the same e-mail address) and the teams of
the token's groups; later tokens keep the e-mail address and the identity provider's memberships in step (at
most once per cache lifetime per distinct set of claims). Memberships an operator set (``source = "api"``) are
never removed by a token. Two workers meeting a new person at once both try to insert: the unique constraints
decide, and the loser reads what the winner wrote.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..generation import ConfigCache, ConfigGeneration
from ..models import Person, PersonTeam, Team
from .oidc import Identity

log = logging.getLogger("archestra.identity")
#: Groups beyond this many in one token are not made into teams (some directories put hundreds in a token).
MAX_GROUPS = 50


@dataclass(frozen=True)
class TeamInfo:
    id: str
    name: str


@dataclass(frozen=True)
class PersonInfo:
    """A person and the teams they belong to (plain values, safe to carry into a stream)."""

    id: str
    email: str | None
    disabled: bool
    teams: tuple[TeamInfo, ...] = ()

    def team(self, wanted: str | None = None) -> TeamInfo | None:
        """The team the person's requests count for: ``wanted`` (a team id or name they belong to) when given,
        else their only team, else the first by name (None: no team)."""
        if wanted:
            wanted = wanted.strip().lower()
            for team in self.teams:
                if wanted in (team.id, team.name.lower()):
                    return team
            return None
        return self.teams[0] if self.teams else None


def _teams_of(person_id: str) -> tuple[TeamInfo, ...]:
    rows = db.session.execute(select(Team.id, Team.name).join(PersonTeam, PersonTeam.team_id == Team.id)
                              .where(PersonTeam.person_id == person_id).order_by(Team.name)).all()
    return tuple(TeamInfo(row.id, row.name) for row in rows)


def _info(person: Person) -> PersonInfo:
    return PersonInfo(person.id, person.email, bool(person.disabled), _teams_of(person.id))


def _load_person(person_id: str) -> PersonInfo | None:
    try:
        person = db.session.get(Person, person_id)
        return _info(person) if person is not None else None
    finally:
        db.session.remove()


def _load_team(team_id: str) -> TeamInfo | None:
    try:
        team = db.session.get(Team, team_id)
        return TeamInfo(team.id, team.name) if team is not None else None
    finally:
        db.session.remove()


def _team_for_group(group: str) -> Team:
    team = db.session.execute(select(Team).where(Team.idp_group == group)).scalars().first()
    if team is not None:
        return team
    team = db.session.execute(select(Team).where(Team.name == group)).scalars().first()
    if team is not None and team.idp_group is None:
        team.idp_group = group  # an operator's team of that name: the group's members join it
        return team
    team = Team(name=group if team is None else f"{group} (identity provider)", idp_group=group)
    db.session.add(team)
    db.session.flush()
    return team


def _sync(identity: Identity) -> PersonInfo:
    """Find or create the person ``identity`` names, and bring their identity provider teams in step."""
    person = db.session.execute(select(Person).where(Person.issuer == identity.issuer,
                                                     Person.subject == identity.subject)).scalars().first()
    if person is None and identity.email:
        person = db.session.execute(select(Person).where(Person.email == identity.email,
                                                         Person.subject.is_(None))).scalars().first()
    if person is None:
        person = Person(issuer=identity.issuer, subject=identity.subject)
        db.session.add(person)
    person.issuer, person.subject = identity.issuer, identity.subject
    if identity.email and person.email != identity.email:
        taken = db.session.execute(select(Person.id).where(Person.email == identity.email,
                                                           Person.id != person.id)).scalar()
        if taken is None:
            person.email = identity.email
        else:
            log.warning("person %s: e-mail address %s already belongs to another person", person.id or "new",
                        identity.email)
    person.last_seen_at = datetime.now(timezone.utc)
    db.session.flush()
    wanted = {_team_for_group(group).id for group in identity.groups[:MAX_GROUPS]}
    current = {row.team_id: row.source for row in db.session.execute(
        select(PersonTeam).where(PersonTeam.person_id == person.id)).scalars()}
    stale = [team_id for team_id, source in current.items() if source == "idp" and team_id not in wanted]
    if stale:
        db.session.execute(delete(PersonTeam).where(PersonTeam.person_id == person.id,
                                                    PersonTeam.team_id.in_(stale)))
    for team_id in wanted - set(current):
        db.session.add(PersonTeam(person_id=person.id, team_id=team_id, source="idp"))
    db.session.flush()
    info = _info(person)
    db.session.commit()
    return info


class PeopleDirectory:
    """People by identity (created on first sight) and by id, teams by id."""

    def __init__(self, generation: ConfigGeneration, ttl: float):
        self._by_identity: ConfigCache[PersonInfo] = ConfigCache(generation, ttl)
        self._by_id: ConfigCache[PersonInfo | None] = ConfigCache(generation, ttl)
        self._teams: ConfigCache[TeamInfo | None] = ConfigCache(generation, ttl)

    def invalidate(self) -> None:
        for cache in (self._by_identity, self._by_id, self._teams):
            cache.clear()

    def for_identity(self, identity: Identity) -> PersonInfo:
        key = (identity.issuer, identity.subject, identity.email, identity.groups)
        return self._by_identity.get(key, lambda _key: self._load_identity(identity))

    @staticmethod
    def _load_identity(identity: Identity) -> PersonInfo:
        try:
            for attempt in range(3):
                try:
                    return _sync(identity)
                except IntegrityError:  # another worker created the same person or team just now
                    db.session.rollback()
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")
        finally:
            db.session.remove()

    def person(self, person_id: str) -> PersonInfo | None:
        return self._by_id.get(person_id, _load_person)

    def team(self, team_id: str) -> TeamInfo | None:
        return self._teams.get(team_id, _load_team)


