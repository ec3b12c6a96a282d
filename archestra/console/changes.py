"""The change log in the console: who changed which configuration, when, from what to what, filterable like
``GET /api/change-log`` (the same filters, checked the same way)."""
from __future__ import annotations

from flask import request, url_for
from sqlalchemy import select

from ..api.change_log import change_page
from ..api.errors import ApiError
from ..change_log import ACTIONS, changed_fields, object_types
from ..extensions import db
from ..models import ChangeLog, Profile, Tool
from . import console
from .pages import PAGE_SIZE, page, page_number

FILTERS = ("object_type", "object_id", "action", "actor", "profile_id", "since", "until")


def _filter_args() -> dict[str, str]:
    args = {name: request.args[name].strip() for name in FILTERS if request.args.get(name, "").strip()}
    for name in ("since", "until"):
        if name in args and len(args[name]) == 16:  # <input type="datetime-local">: the console's times are UTC
            args[name] += "+00:00"
    return args


@console.get("/changes")
def changes():
    number = page_number()
    rows, total, error = [], 0, None
    try:
        rows, total = change_page(_filter_args(), PAGE_SIZE, (number - 1) * PAGE_SIZE, extra=())
    except ApiError as exc:
        error = exc.message
    profiles = dict(db.session.execute(select(Profile.id, Profile.name)).all())
    return page("changes.html", 400 if error else 200, rows=rows, total=total, number=number,
                pages=max(1, -(-total // PAGE_SIZE)), error=error, profiles=profiles, types=object_types(),
                actions=ACTIONS, args={name: request.args.get(name, "") for name in FILTERS},
                changed=changed_fields, links=_links(rows, profiles))


def _tool_of(row: ChangeLog) -> str | None:
    if row.object_type == "tool":
        return row.object_id
    if row.object_type in ("tool_call_policy", "tool_result_policy"):
        return (row.after or row.before or {}).get("tool_id")
    return None


def _links(rows: list[ChangeLog], profiles: dict[str, str]) -> dict[int, str]:
    """The console page of each entry's object, where it still has one (its tool's page for a policy, its
    profile's for a key or a limit)."""
    wanted = {tool for tool in map(_tool_of, rows) if tool}
    tools = set(db.session.execute(select(Tool.id).where(Tool.id.in_(wanted))).scalars()) if wanted else set()
    links: dict[int, str] = {}
    for row in rows:
        tool = _tool_of(row)
        if tool in tools:
            links[row.id] = url_for("console.tool", item_id=tool)
        elif row.object_type == "profile" and row.object_id in profiles:
            links[row.id] = url_for("console.profile", item_id=row.object_id)
    return links
