"""``/api/people`` and ``/api/teams``: the people who call models through the proxy and their teams.

People are also created on first sight of an identity provider token, and teams from its groups
(identity/people.py). ``team_ids`` on a person sets the memberships an operator manages (``source: api``);
the identity provider's (``source: idp``) follow its tokens.
"""
from __future__ import annotations

import uuid
from typing import Any

from flask import request
from sqlalchemy import delete, func, or_, select

from ..extensions import db
from ..models import Person, PersonTeam, Team
from ..profiles import UUID_RE
from . import api
from .common import commit, get_or_404, json_body, page_args
from .errors import ApiError
from .schemas import PersonSchema, TeamSchema

person_schema, team_schema = PersonSchema(), TeamSchema()


def _find(model: Any, key: str | None, alternate: Any, label: str) -> str | None:
    if not key:
        return None
    key = key.strip()
    condition = alternate == key if not UUID_RE.fullmatch(key) else or_(model.id == key.lower(), alternate == key)
    found = db.session.execute(select(model.id).where(condition)).scalar()
    if found is None:
        raise ApiError(400, f"unknown_{label}", f"{label.capitalize()} {key} does not exist.")
    return found


def owner_ids(values: dict[str, Any]) -> dict[str, Any]:
    """``person_id`` (an id or e-mail address) and ``team_id`` (an id or name) as the ids they name (400 if
    none)."""
    values["person_id"] = _find(Person, values.get("person_id"), Person.email,
                                "person") if values.get("person_id") else None
    values["team_id"] = _find(Team, values.get("team_id"), Team.name, "team") if values.get("team_id") else None
    return values


def _memberships(person: Person) -> list[dict[str, Any]]:
    rows = db.session.execute(select(Team.id, Team.name, PersonTeam.source).join(
        PersonTeam, PersonTeam.team_id == Team.id).where(PersonTeam.person_id == person.id)
        .order_by(Team.name)).all()
    return [{"id": row.id, "name": row.name, "source": row.source} for row in rows]


def _dump_person(person: Person) -> dict[str, Any]:
    return {**person_schema.dump(person), "teams": _memberships(person)}


def _set_teams(person: Person, team_ids: list[str] | None) -> None:
    if team_ids is None:
        return
    with db.session.no_autoflush:  # the person's own write waits for commit(), which reports its conflicts
        wanted = {_find(Team, team_id, Team.name, "team") for team_id in team_ids}
        db.session.execute(delete(PersonTeam).where(PersonTeam.person_id == person.id, PersonTeam.source == "api",
                                                    PersonTeam.team_id.not_in(wanted)))
        held = set(db.session.execute(select(PersonTeam.team_id).where(
            PersonTeam.person_id == person.id)).scalars())
        for team_id in wanted - held:
            db.session.add(PersonTeam(person_id=person.id, team_id=team_id, source="api"))


def _person(item_id: str) -> Person:
    return get_or_404(Person, item_id, "Person")


@api.get("/people")
def list_people():
    limit, offset = page_args()
    query = select(Person)
    if request_arg("team_id"):
        query = query.join(PersonTeam, PersonTeam.person_id == Person.id).where(
            PersonTeam.team_id == _find(Team, request_arg("team_id"), Team.name, "team"))
    if request_arg("email"):
        query = query.where(Person.email == request_arg("email").strip().lower())
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar()
    rows = db.session.execute(query.order_by(Person.email, Person.id).limit(limit).offset(offset)).scalars().all()
    return {"data": [_dump_person(row) for row in rows], "total": total, "limit": limit, "offset": offset}


def request_arg(name: str) -> str:
    return request.args.get(name, "")


@api.post("/people")
def create_person():
    values = person_schema.load(json_body())
    team_ids = values.pop("team_ids", None)
    person = Person(id=str(uuid.uuid4()), **values)  # its id before the flush: commit() reports conflicts
    db.session.add(person)
    _set_teams(person, team_ids)
    commit("A person with this e-mail address already exists.")
    return _dump_person(person), 201


@api.get("/people/<item_id>")
def get_person(item_id: str):
    return _dump_person(_person(item_id))


@api.route("/people/<item_id>", methods=["PATCH", "PUT"])
def update_person(item_id: str):
    person = _person(item_id)
    values = PersonSchema(partial=True).load(json_body())
    team_ids = values.pop("team_ids", None)
    for name, value in values.items():
        setattr(person, name, value)
    _set_teams(person, team_ids)
    commit("A person with this e-mail address already exists.")
    return _dump_person(person)


@api.delete("/people/<item_id>")
def delete_person(item_id: str):
    """The person, their memberships, keys and limits; their interactions keep their id and e-mail address."""
    db.session.delete(_person(item_id))
    commit()
    return "", 204


def _dump_team(team: Team) -> dict[str, Any]:
    members = db.session.execute(select(func.count()).select_from(PersonTeam).where(
        PersonTeam.team_id == team.id)).scalar()
    return {**team_schema.dump(team), "members": members}


@api.get("/teams")
def list_teams():
    rows = db.session.execute(select(Team).order_by(Team.name)).scalars().all()
    return {"data": [_dump_team(row) for row in rows]}


@api.post("/teams")
def create_team():
    team = Team(**team_schema.load(json_body()))
    db.session.add(team)
    commit("A team with this name or identity provider group already exists.")
    return _dump_team(team), 201


@api.get("/teams/<item_id>")
def get_team(item_id: str):
    return _dump_team(get_or_404(Team, item_id, "Team"))


@api.route("/teams/<item_id>", methods=["PATCH", "PUT"])
def update_team(item_id: str):
    team = get_or_404(Team, item_id, "Team")
    for name, value in TeamSchema(partial=True).load(json_body()).items():
        setattr(team, name, value)
    commit("A team with this name or identity provider group already exists.")
    return _dump_team(team)


@api.delete("/teams/<item_id>")
def delete_team(item_id: str):
    db.session.delete(get_or_404(Team, item_id, "Team"))
    commit()
    return "", 204
