"""Drift: how the database differs from ``ARCHESTRA_CONFIG_FILE`` (changes made by hand, when the file is not the
only source), shown on every console page and at ``GET /api/config-file/drift``."""
from __future__ import annotations

import os
from typing import Any

from flask import g, request

from ..api import api
from ..api.errors import ApiError
from ..console import console
from ..console.pages import page
from ..extensions import db
from ..runtime import current_runtime
from .file_format import load_file
from .plan import diff, visible
from .state import read_state

_drift_cache: dict[str, Any] = {}


def drift() -> dict[str, Any] | None:
    """How the database differs from ARCHESTRA_CONFIG_FILE (None without one): computed once per configuration
    generation and file version in each worker."""
    settings = current_runtime().settings
    if not settings.config_file:
        return None
    try:
        stamp = os.stat(settings.config_file).st_mtime_ns
    except OSError:
        stamp = None
    key = (current_runtime().generation.current(), stamp)
    if _drift_cache.get("key") == key:
        return _drift_cache["value"]
    value: dict[str, Any] = {"file": settings.config_file, "only": settings.config_file_only}
    try:
        # Without the environment (feature code reads settings, not os.environ): ${NAME} references compare as
        # written, and held provider keys are compared by plan, which has the environment.
        source, desired = load_file(settings.config_file, None)
        changes = visible(diff(desired, read_state(db.session), source.where))
        value.update(changes=[change.line().strip() for change in changes], error=None)
    except Exception as exc:  # noqa: BLE001 - an invalid file is shown, not raised on every page
        value.update(changes=[], error=str(exc).splitlines()[0])
    _drift_cache.update(key=key, value=value)
    return value


@console.context_processor
def _config_file_notice() -> dict[str, Any]:
    """The notice on every console page (linking to the differences)."""
    if g.get("console") is None or not (request.endpoint or "").startswith("console."):
        return {}
    try:
        state = drift()
    except Exception:  # noqa: BLE001 - a notice never breaks a page
        return {}
    if state is None:
        return {}
    if state["error"]:
        text = f"The configuration file {state['file']} cannot be read: {state['error']}"
    elif state["changes"]:
        count = len(state["changes"])
        text = (f"The configuration differs from {state['file']} ({count} difference{'s' if count > 1 else ''}): "
                f"see python -m archestra.config plan {state['file']}.")
    elif state["only"]:
        text = f"The configuration is managed by {state['file']}: what it holds is read-only here."
    else:
        return {}
    return {"config_file_notice": text}


@api.get("/config-file/drift")
def config_file_drift():
    state = drift()
    if state is None:
        raise ApiError(404, "no_config_file", "No configuration file is set (ARCHESTRA_CONFIG_FILE).")
    return state



@console.get("/config-file")
def config_file_page():
    """The differences between the database and the configuration file, as ``plan`` prints them."""
    state = drift()
    if state is None:
        raise ApiError(404, "no_config_file", "No configuration file is set (ARCHESTRA_CONFIG_FILE).")
    return page("config_file.html", state=state)
