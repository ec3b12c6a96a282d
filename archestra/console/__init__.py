"""The admin web console (``/console``): server-rendered pages over the same domain code and marshmallow schemas
as the management API, so a change made here is validated and applied (next request, every worker) exactly as
one made through ``/api``. No JavaScript build, no CDN: it works on an air-gapped network."""
from __future__ import annotations

from flask import Blueprint, redirect, url_for

console = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                    static_folder="static", static_url_path="/static")
#: ``/`` and ``/ui`` lead to the console.
entry = Blueprint("console_entry", __name__)


@entry.get("/")
@entry.get("/ui")
def _to_console():
    return redirect(url_for("console.home"))


from . import approvals, auth, changes, oidc, packs, pages, profiles, replays, spend, tools, traffic  # noqa: E402,F401  (registers the views)
