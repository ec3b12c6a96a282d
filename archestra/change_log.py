"""The change log: every configuration change, whoever makes it and however (the management API, the console, the
configuration file's ``apply``, approvals...), recorded by SQLAlchemy session hooks on the tracked models rather
than in each view, so a new writer is logged without doing anything.

``before_flush`` reads the rows about to change or go as the database holds them (and, for a deleted profile or
tool, the rows the database's cascades will take with it); ``after_flush`` adds the new and changed values and
writes the entries in the same transaction as the change: a change that rolls back leaves no entry, and an entry
never describes a change that did not happen. Secrets never reach an entry: each tracked model lists the columns
left out (encrypted keys, key hashes) and the ones shown only as a fingerprint (a profile's token hash).

Changes outside a signed-in request are recorded as the ``system`` actor, except those of models the proxy itself
discovers (tools declared by agents): without an actor those are traffic, not configuration.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from flask import has_request_context, request
from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Session

from .actor import SYSTEM, Actor, current_actor
from .models import (
    ChangeLog,
    Limit,
    ModelAlias,
    OptimizationRule,
    Person,
    PersonTeam,
    PolicyTemplate,
    Profile,
    ProviderKey,
    Setting,
    Team,
    TokenPrice,
    Tool,
    ToolCallPolicy,
    ToolResultPolicy,
    VirtualKey,
)

CREATE, UPDATE, DELETE = "create", "update", "delete"
ACTIONS = (CREATE, UPDATE, DELETE)
#: Columns no entry shows: the log has its own time, and these move by themselves.
NOISE = frozenset({"created_at", "updated_at"})
Row = dict[str, Any]


@dataclass(frozen=True)
class Tracked:
    """How one model appears in the change log."""

    object_type: str
    #: A readable name from the row's values (``lookup(table, id)`` reads another row: a policy's tool).
    name: Callable[[Row, Callable[[Any, Any], Row | None]], str]
    #: Never shown: secrets, their hashes, and counters the proxy moves as traffic flows.
    hidden: frozenset[str] = frozenset()
    #: Shown only through this function (a fingerprint), under the same name.
    masked: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    #: The profile the row belongs to, from its values (and lookups).
    profile: Callable[[Row, Callable[[Any, Any], Row | None]], str | None] = lambda row, _: row.get("profile_id")
    #: Rows the proxy creates and touches itself (discovered tools): logged only when someone acts.
    discovered: bool = False


def _fingerprint(digest: Any) -> str | None:
    """A prefix of a stored SHA-256: enough to see that a token changed, nothing towards the token itself."""
    return f"sha256:{digest[:8]}…" if digest else None


def _tool_row(row: Row, lookup: Callable[[Any, Any], Row | None]) -> Row:
    return lookup(Tool, row.get("tool_id")) or {}


def _policy_name(row: Row, lookup: Callable[[Any, Any], Row | None]) -> str:
    return f"{_tool_row(row, lookup).get('name', row.get('tool_id'))}: {row.get('action')}"


def _limit_name(row: Row, _: Any) -> str:
    return f"{row.get('scope')} limit ${row.get('max_cost_usd')} per {row.get('period')}"


def _membership_name(row: Row, lookup: Callable[[Any, Any], Row | None]) -> str:
    person, team = lookup(Person, row.get("person_id")) or {}, lookup(Team, row.get("team_id")) or {}
    return f"{person.get('email') or person.get('name') or row.get('person_id')} in " \
           f"{team.get('name') or row.get('team_id')}"


def _none(_row: Row, _lookup: Any) -> None:
    return None


TRACKED: dict[type, Tracked] = {
    Profile: Tracked("profile", lambda row, _: row["name"], masked={"token_hash": _fingerprint},
                     profile=lambda row, _: row["id"]),
    Tool: Tracked("tool", lambda row, _: row["name"], hidden=frozenset({"first_seen_at", "last_seen_at",
                                                                          "call_count"}), discovered=True),
    ToolCallPolicy: Tracked("tool_call_policy", _policy_name,
                            profile=lambda row, lookup: _tool_row(row, lookup).get("profile_id")),
    ToolResultPolicy: Tracked("tool_result_policy", _policy_name,
                              profile=lambda row, lookup: _tool_row(row, lookup).get("profile_id")),
    PolicyTemplate: Tracked("policy_template",
                            lambda row, _: f"{row['kind']} template {row['tool_name']}: {row['action']}",
                            profile=lambda row, _: None),
    ProviderKey: Tracked("provider_key", lambda row, _: f"{row['provider']} key …{row['last4']}",
                         hidden=frozenset({"ciphertext"})),
    VirtualKey: Tracked("virtual_key", lambda row, _: row["name"], hidden=frozenset({"key_hash", "last_used_at"})),
    Limit: Tracked("limit", _limit_name, hidden=frozenset({"used_usd", "period_start"})),
    TokenPrice: Tracked("token_price", lambda row, _: row["model"], profile=lambda row, _: None),
    OptimizationRule: Tracked("optimization_rule",
                              lambda row, _: f"{row['provider']} → {row['target_model']}",
                              profile=lambda row, _: None),
    ModelAlias: Tracked("model_alias", lambda row, _: row["name"]),
    Setting: Tracked("setting", lambda row, _: row["key"], profile=lambda row, _: None),
    # People and teams: created through the API (logged) or on first sight of an identity provider token and kept
    # in step with its groups (the identity provider's facts, not someone's change: not logged).
    Person: Tracked("person", lambda row, _: row.get("email") or row.get("name") or row["id"],
                    hidden=frozenset({"last_seen_at"}), profile=_none, discovered=True),
    Team: Tracked("team", lambda row, _: row["name"], profile=_none, discovered=True),
    PersonTeam: Tracked("team_membership", _membership_name, profile=_none, discovered=True),
}
#: What a deleted row takes with it through the database's ``ON DELETE CASCADE`` (no ORM relationship knows).
CASCADES: dict[type, list[tuple[type, str]]] = {
    Profile: [(Tool, "profile_id"), (ProviderKey, "profile_id"), (VirtualKey, "profile_id"),
              (Limit, "profile_id"), (ModelAlias, "profile_id")],
    Tool: [(ToolCallPolicy, "tool_id"), (ToolResultPolicy, "tool_id")],
    VirtualKey: [(Limit, "virtual_key_id")],
    Person: [(PersonTeam, "person_id"), (VirtualKey, "person_id"), (Limit, "person_id")],
    Team: [(PersonTeam, "team_id"), (VirtualKey, "team_id"), (Limit, "team_id")],
}


def track(model: type, tracked: Tracked, cascades: list[tuple[type, str]] | None = None) -> None:
    """Log ``model``'s changes too (people, teams... from the modules that define them)."""
    TRACKED[model] = tracked
    if cascades:
        CASCADES.setdefault(model, []).extend(cascades)


def object_types() -> list[str]:
    return sorted(tracked.object_type for tracked in TRACKED.values())


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _shown(model: type, values: Row) -> Row:
    """The values an entry may show: hidden columns left out, masked ones as their fingerprint."""
    tracked = TRACKED[model]
    out: Row = {}
    for key, value in values.items():
        if key in NOISE or key in tracked.hidden:
            continue
        out[key] = _plain(tracked.masked[key](value) if key in tracked.masked else value)
    return out


def _columns(model: type) -> list[str]:
    return [attr.key for attr in inspect(model).column_attrs]


def _key_names(model: type) -> list[str]:
    return [column.key for column in inspect(model).primary_key]


def _primary_key(obj: Any) -> tuple[Any, ...]:
    identity = inspect(obj).identity
    return tuple(identity) if identity else tuple(getattr(obj, name) for name in _key_names(type(obj)))


def _row_key(model: type, row: Row) -> tuple[Any, ...]:
    return tuple(row[name] for name in _key_names(model))


def _object_id(key: tuple[Any, ...]) -> str:
    """The id an entry names: the primary key, its parts joined by ``/`` when it has several (a membership)."""
    return "/".join(str(part) for part in key)


class _Lookup:
    """Reads rows as the database holds them, through the flush's own connection, each at most once."""

    def __init__(self, session: Session):
        self._session = session
        self._cache: dict[tuple[type, Any], Row | None] = {}

    def __call__(self, model: Any, key: Any) -> Row | None:
        """The row of ``model`` whose primary key is ``key`` (a value, or a tuple for a composite key)."""
        if key is None:
            return None
        key = key if isinstance(key, tuple) else (key,)
        if (model, key) not in self._cache:
            table = model.__table__
            where = [column == part for column, part in zip(table.primary_key.columns.values(), key)]
            found = self._session.connection().execute(select(table).where(*where)).mappings().first()
            self._cache[(model, key)] = self._row(model, found) if found is not None else None
        return self._cache[(model, key)]

    def children(self, model: type, column: str, key: Any) -> list[Row]:
        table = model.__table__
        rows = self._session.connection().execute(select(table).where(table.c[column] == key)).mappings().all()
        return [self._row(model, row) for row in rows]

    @staticmethod
    def _row(model: type, found: Any) -> Row:
        by_column = {attr.columns[0].name: attr.key for attr in inspect(model).column_attrs}
        return {by_column.get(name, name): value for name, value in found.items()}


def _loaded(obj: Any) -> Row:
    """The object's values as the flush wrote them, without loading anything."""
    state = inspect(obj).dict
    return {key: state[key] for key in _columns(type(obj)) if key in state}


def _who() -> tuple[Actor | None, str]:
    actor = current_actor()
    if has_request_context() and request.blueprint in ("api", "console"):
        return actor, request.blueprint
    return actor, (actor.kind if actor else SYSTEM.kind)


@dataclass
class _Pending:
    model: type
    action: str
    key: Any
    before: Row | None
    obj: Any = None               # for creates and updates: the object, read again after the flush
    note: str | None = None
    name: str | None = None       # deletes: named before the rows they name are gone
    profile_id: str | None = None


def _skip(model: type, actor: Actor | None) -> bool:
    return model not in TRACKED or (TRACKED[model].discovered and actor is None)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    session.info.pop("change_log", None)  # each flush afresh: a failed flush leaves nothing behind
    actor, _ = _who()
    tracked = [obj for obj in (*session.new, *session.dirty, *session.deleted) if not _skip(type(obj), actor)]
    if not tracked:
        return
    lookup = _Lookup(session)
    pending: list[_Pending] = []
    session.info["change_log"] = pending
    for obj in tracked:
        model, state = type(obj), inspect(obj)
        if obj in session.new:
            pending.append(_Pending(model, CREATE, None, None, obj))
        elif obj in session.deleted:
            key = _primary_key(obj)
            before = lookup(model, key)
            if before is None:
                continue
            pending.append(_deleted(model, key, before, lookup))
            _cascade(model, before, lookup, pending)
        elif state.persistent and session.is_modified(obj, include_collections=False):
            key = _primary_key(obj)
            pending.append(_Pending(model, UPDATE, key, lookup(model, key), obj))


def _cascade(model: type, row: Row, lookup: _Lookup, pending: list[_Pending]) -> None:
    """The rows the database deletes with ``row`` (and theirs), as deletes of their own."""
    name = TRACKED[model].name(row, lookup)
    for child, column in CASCADES.get(model, []):
        if child not in TRACKED:
            continue
        if column not in child.__table__.c:
            continue
        for found in lookup.children(child, column, _row_key(model, row)[0]):
            entry = _deleted(child, _row_key(child, found), found, lookup)
            entry.note = f"deleted with {TRACKED[model].object_type} {name}"
            pending.append(entry)
            _cascade(child, found, lookup, pending)


def _deleted(model: type, key: Any, row: Row, lookup: _Lookup) -> _Pending:
    tracked = TRACKED[model]
    return _Pending(model, DELETE, key, row, name=tracked.name(row, lookup), profile_id=tracked.profile(row, lookup))


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    pending: list[_Pending] = session.info.pop("change_log", [])
    if not pending:
        return
    actor, via = _who()
    actor = actor or SYSTEM
    lookup = _Lookup(session)
    entries, seen = [], set()
    for item in pending:
        tracked = TRACKED[item.model]
        before = _shown(item.model, item.before) if item.before is not None else None
        after = None
        if item.action != DELETE:
            values = _loaded(item.obj)
            item.key = _primary_key(item.obj)
            after = _shown(item.model, {**(item.before or {}), **values})
            if item.action == UPDATE and before == after:
                continue  # only hidden columns moved (a re-encryption, a counter)
        if (item.model, item.key, item.action) in seen:
            continue  # a row deleted both directly and through a cascade
        seen.add((item.model, item.key, item.action))
        if item.action != DELETE:
            values = {**(item.before or {}), **_loaded(item.obj)}
            item.name, item.profile_id = tracked.name(values, lookup), tracked.profile(values, lookup)
        entries.append(_entry(actor, via, item, before, after))
    if entries:
        session.connection().execute(insert(ChangeLog.__table__), entries)


def _entry(actor: Actor, via: str, item: _Pending, before: Row | None, after: Row | None) -> Row:
    return {"created_at": datetime.now(timezone.utc), "actor_kind": actor.kind, "actor_name": actor.name,
            "actor_role": actor.role, "person_id": actor.person_id, "via": via, "action": item.action,
            "object_type": TRACKED[item.model].object_type, "object_id": _object_id(item.key),
            "object_name": str(item.name)[:512], "profile_id": item.profile_id, "before": before, "after": after,
            "note": item.note}


@event.listens_for(Session, "do_orm_execute")
def _bulk_statement(state: Any) -> Any:
    """``session.execute(delete(Model).where(...))`` / ``update(...)`` on a tracked model, by someone: the rows it
    touches, read before (and after) it runs, logged like the unit of work's changes. Without an actor such
    statements are the proxy's own bookkeeping (last use, spend counters) and run untouched."""
    if not (state.is_delete or state.is_update) or state.bind_mapper is None:
        return None
    model = state.bind_mapper.class_
    actor, via = _who()
    if model not in TRACKED or actor is None:
        return None
    session, table = state.session, model.__table__
    where = state.statement.whereclause
    query = select(table) if where is None else select(table).where(where)
    lookup = _Lookup(session)
    rows = [lookup._row(model, found) for found in session.connection().execute(query).mappings().all()]
    pending = [_deleted(model, _row_key(model, row), row, lookup) for row in rows]
    if state.is_delete:
        for row in rows:
            _cascade(model, row, lookup, pending)
    result = state.invoke_statement()
    entries = []
    for item in pending:
        before = _shown(item.model, item.before or {})
        after = None
        if state.is_update:
            item.action = UPDATE
            fresh = _Lookup(session)(model, item.key)
            after = _shown(model, fresh) if fresh is not None else None
            if after == before:
                continue
        entries.append(_entry(actor, via, item, before, after))
    if entries:
        session.connection().execute(insert(ChangeLog.__table__), entries)
    return result


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("change_log", None)


def changed_fields(before: Row | None, after: Row | None) -> list[str]:
    """The names whose values differ between ``before`` and ``after`` (all of one side for a create/delete)."""
    before, after = before or {}, after or {}
    return sorted(key for key in {*before, *after} if before.get(key) != after.get(key))
