"""The configuration file on the management surfaces: the file-only guard (one ``before_request`` on the API and
the console), the drift notice, and the policy tests' API routes and console pages (run, results, save as test).

Imported by ``create_app`` before the blueprints are registered: it adds to them, they never import it.
"""
from __future__ import annotations

import os
import threading
from typing import Any

from flask import Response, abort, g, request
from sqlalchemy import select

from ..api import api
from ..api.common import get_or_404, json_body
from ..api.errors import ApiError, error_json
from ..api.openapi import EXTRA_PATHS
from ..console import console
from ..console.pages import done, page
from ..extensions import db
from ..models import Interaction, Limit, PolicyTest, PolicyTestRun
from ..runtime import current_runtime
from .file_format import load_file
from .kept_tests import TestProblem, as_yaml, run_kept, save_as_test, validated
from .plan import diff, visible
from .source import FileError
from .state import read_state

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
#: Management API paths (prefixes) and the file section that owns what they change.
API_SECTIONS = (("/api/settings", "settings"), ("/api/policy-templates", "templates"),
                ("/api/tool-call-policies", "profiles"), ("/api/tool-result-policies", "profiles"),
                ("/api/tools", "profiles"), ("/api/limits", "limits"), ("/api/token-prices", "prices"),
                ("/api/optimization-rules", "optimization_rules"), ("/api/model-aliases", "model_aliases"))
#: Console form posts and the section they change.
CONSOLE_SECTIONS = {"console.settings": "settings", "console.profile_create": "profiles",
                    "console.profile_update": "profiles", "console.profile_delete": "profiles",
                    "console.policy_create": "profiles", "console.policy_update": "profiles",
                    "console.policy_delete": "profiles", "console.limit_create": "limits",
                    "console.limit_delete": "limits", "console.price_create": "prices",
                    "console.price_delete": "prices"}
ALL_SECTIONS = ("settings", "templates", "profiles", "limits", "prices", "optimization_rules", "model_aliases",
                "provider_keys")
NAMES = {"settings": "the settings", "templates": "the policy templates", "profiles": "the profiles and their "
         "tool policies", "limits": "the limits", "prices": "the token prices", "optimization_rules":
         "the optimization rules", "model_aliases": "the model aliases", "provider_keys": "the provider keys"}

_owned_lock = threading.Lock()
_owned_cache: dict[str, Any] = {}


def owned_sections(path: str) -> tuple[str, ...]:
    """The sections the file holds (re-read when it changes); every section when it cannot be read: a file that
    is the only source and cannot be read is no reason to let writes in."""
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return ALL_SECTIONS
    with _owned_lock:
        if _owned_cache.get("key") == (path, stamp):
            return _owned_cache["sections"]
    try:
        state = load_file(path, os.environ)[1]  # the ${NAME} it names are this process's environment
        sections = tuple(name for name in ALL_SECTIONS if state.get(name) is not None)
        if any("provider_keys" in profile for profile in state.get("profiles") or ()):
            sections += ("provider_keys",)
    except FileError:
        sections = ALL_SECTIONS
    with _owned_lock:
        _owned_cache.update(key=(path, stamp), sections=sections)
    return sections


def _api_section() -> str | None:
    for prefix, section in API_SECTIONS:
        if request.path == prefix or request.path.startswith(prefix + "/"):
            if section == "limits" and _virtual_key_limit():
                return None
            return section
    parts = request.path.split("/")  # /api/profiles[/{id}]: not its token or virtual keys
    if parts[:3] == ["", "api", "profiles"] and len(parts) <= 4:
        return "profiles"
    if parts[:3] == ["", "api", "profiles"] and len(parts) >= 5 and parts[4] == "provider-keys":
        return "provider_keys"
    return None


def _virtual_key_limit() -> bool:
    """A virtual key's limit: never in the file (keys are issued, not declared)."""
    if request.method == "POST":
        body = request.get_json(silent=True)
        return isinstance(body, dict) and body.get("scope") == "virtual_key"
    row = db.session.get(Limit, request.path.rsplit("/", 1)[-1].lower())
    return row is not None and row.scope == "virtual_key"


def refusal_message(section: str, path: str) -> str:
    return (f"{NAMES[section].capitalize()} are managed by the configuration file {path} "
            "(ARCHESTRA_CONFIG_FILE_ONLY=true): change the file and apply it (python -m archestra.config apply).")


def _file_only_guard():
    """Refuse a write to what the configuration file holds, when the file is the only source (409)."""
    settings = current_runtime().settings
    if not settings.config_file_only or request.method not in WRITES or not settings.config_file:
        return None
    if request.blueprint == "api":
        section = _api_section()
    else:
        section = CONSOLE_SECTIONS.get(request.endpoint or "")
        if request.endpoint == "console.limit_create" and request.form.get("virtual_key_id"):
            section = None
    if section is None or section not in owned_sections(settings.config_file):
        return None
    message = refusal_message(section, settings.config_file)
    if request.blueprint == "api":
        return error_json(409, "config_file_only", message, {"file": settings.config_file, "section": section})
    abort(409, message)


api.before_request(_file_only_guard)
console.before_request(_file_only_guard)


# -- drift ---------------------------------------------------------------------------------------------
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
        source, desired = load_file(settings.config_file, os.environ)
        changes = visible(diff(desired, read_state(db.session), source.where))
        value.update(changes=[change.line().strip() for change in changes], error=None)
    except Exception as exc:  # noqa: BLE001 - an invalid file is shown, not raised on every page
        value.update(changes=[], error=str(exc).splitlines()[0])
    _drift_cache.update(key=key, value=value)
    return value


@console.context_processor
def _config_file_notice() -> dict[str, Any]:
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


# -- policy tests: API ---------------------------------------------------------------------------------
def _test_json(row: PolicyTest) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "scenario": row.scenario, "interaction_id": row.interaction_id,
            "created_at": _iso(row.created_at), "yaml": as_yaml(row.scenario)}


def _run_json(row: PolicyTestRun, results: bool = True) -> dict[str, Any]:
    out = {"id": row.id, "trigger": row.trigger, "actor": row.actor, "generation": row.generation,
           "config_digest": row.config_digest, "passed": row.passed, "total": row.total, "failed": row.failed,
           "created_at": _iso(row.created_at)}
    if results:
        out["results"] = row.results
    return out


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    from datetime import timezone

    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def _commit_test(row: PolicyTest) -> None:
    from sqlalchemy.exc import IntegrityError

    try:
        db.session.add(row)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, "conflict", f"A policy test named {row.name!r} already exists.") from None


@api.get("/policy-tests")
def list_policy_tests():
    rows = db.session.execute(select(PolicyTest).order_by(PolicyTest.name)).scalars()
    return {"data": [_test_json(row) for row in rows]}


@api.post("/policy-tests")
def create_policy_test():
    body = json_body()
    name = body.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        raise ApiError(400, "validation_error", "name (1 to 200 characters) is required.")
    try:
        validated(name, body.get("scenario"))
    except TestProblem as exc:
        raise ApiError(400, "validation_error", "The scenario is invalid.", exc.problems) from None
    row = PolicyTest(name=name, scenario=body["scenario"])
    _commit_test(row)
    return _test_json(row), 201


@api.get("/policy-tests/<item_id>")
def get_policy_test(item_id: str):
    row = get_or_404(PolicyTest, item_id, "Policy test")
    if request.args.get("format") == "yaml":
        return Response(as_yaml(row.scenario), mimetype="application/yaml")
    return _test_json(row)


@api.delete("/policy-tests/<item_id>")
def delete_policy_test(item_id: str):
    db.session.delete(get_or_404(PolicyTest, item_id, "Policy test"))
    db.session.commit()
    return "", 204


@api.post("/policy-test-runs")
def run_policy_tests():
    return _run_json(run_kept("api")), 201


@api.get("/policy-test-runs")
def list_policy_test_runs():
    rows = db.session.execute(select(PolicyTestRun).order_by(PolicyTestRun.created_at.desc()).limit(50)).scalars()
    return {"data": [_run_json(row, results=False) for row in rows]}


@api.get("/policy-test-runs/<item_id>")
def get_policy_test_run(item_id: str):
    return _run_json(get_or_404(PolicyTestRun, item_id, "Policy test run"))


@api.post("/interactions/<item_id>/save-as-test")
def save_interaction_as_test(item_id: str):
    interaction = get_or_404(Interaction, item_id, "Interaction")
    body = request.get_json(silent=True) or {}
    name = body.get("name") if isinstance(body, dict) else None
    if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 200):
        raise ApiError(400, "validation_error", "name is 1 to 200 characters.")
    try:
        row = save_as_test(interaction, name)
    except TestProblem as exc:
        raise ApiError(409, "not_testable", f"This interaction cannot become a test: {exc}") from None
    _commit_test(row)
    return _test_json(row), 201


def _openapi(spec: Any, item_id: dict[str, Any]) -> None:
    error = {"content": {"application/json": {"schema": "Error"}}}
    ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}

    def responses(success: str, *errors: int) -> dict[str, Any]:
        out = {success: ok if success != "204" else {"description": "Deleted"},
               "401": {"description": "Missing or wrong admin token", **error}}
        out.update({str(status): {"description": "Error", **error} for status in errors})
        return out
    tag = ["PolicyTest"]
    body = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    spec.path(path="/policy-tests", operations={
        "get": {"tags": tag, "summary": "Kept policy tests (scenarios)", "responses": responses("200")},
        "post": {"tags": tag, "summary": "Keep a policy test: {name, scenario} (the scenario file format)",
                 "requestBody": body, "responses": responses("201", 400, 409)}})
    spec.path(path="/policy-tests/{item_id}", parameters=[item_id], operations={
        "get": {"tags": tag, "summary": "A kept test (?format=yaml: as a scenario file)",
                "responses": responses("200", 404)},
        "delete": {"tags": tag, "responses": responses("204", 404)}})
    spec.path(path="/policy-test-runs", operations={
        "post": {"tags": tag, "summary": "Run every kept test against the current configuration (kept, with its "
                                         "generation and digest)", "responses": responses("201")},
        "get": {"tags": tag, "summary": "Recent runs, newest first", "responses": responses("200")}})
    spec.path(path="/policy-test-runs/{item_id}", parameters=[item_id], operations={
        "get": {"tags": tag, "responses": responses("200", 404)}})
    spec.path(path="/interactions/{item_id}/save-as-test", parameters=[item_id], operations={
        "post": {"tags": tag, "summary": "Save a recorded interaction as a policy test (optional {name})",
                 "responses": responses("201", 400, 404, 409)}})
    spec.path(path="/config-file/drift", operations={
        "get": {"tags": ["ConfigFile"], "summary": "How the database differs from ARCHESTRA_CONFIG_FILE",
                "responses": responses("200", 404)}})


EXTRA_PATHS.append(_openapi)


# -- policy tests: console -----------------------------------------------------------------------------
@console.get("/policy-tests")
def policy_tests():
    tests = db.session.execute(select(PolicyTest).order_by(PolicyTest.name)).scalars().all()
    runs = db.session.execute(select(PolicyTestRun).order_by(PolicyTestRun.created_at.desc()).limit(20)).scalars()
    return page("policy_tests.html", tests=tests, runs=list(runs))


@console.post("/policy-tests/run")
def policy_tests_run():
    run = run_kept("console")
    return done("console.policy_test_run", "created", item_id=run.id)


@console.get("/policy-test-runs/<item_id>")
def policy_test_run(item_id: str):
    return page("policy_test_run.html", run=get_or_404(PolicyTestRun, item_id, "Policy test run"))


@console.get("/policy-tests/<item_id>")
def policy_test(item_id: str):
    row = get_or_404(PolicyTest, item_id, "Policy test")
    return page("policy_test.html", test=row, text=as_yaml(row.scenario))


@console.post("/policy-tests/<item_id>/delete")
def policy_test_delete(item_id: str):
    db.session.delete(get_or_404(PolicyTest, item_id, "Policy test"))
    db.session.commit()
    return done("console.policy_tests", "deleted")


@console.post("/interactions/<item_id>/save-as-test")
def interaction_save_as_test(item_id: str):
    interaction = get_or_404(Interaction, item_id, "Interaction")
    name = (request.form.get("name") or "").strip()[:200] or None
    try:
        row = save_as_test(interaction, name)
    except TestProblem as exc:
        abort(409, f"This interaction cannot become a test: {exc}")
    try:
        _commit_test(row)
    except ApiError as exc:
        abort(409, exc.message)
    return done("console.policy_test", "created", item_id=row.id)
