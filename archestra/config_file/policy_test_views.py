"""The kept policy tests on the management API (``/api/policy-tests``, ``/api/policy-test-runs``,
``POST /api/interactions/{id}/save-as-test``) and in the console (the Tests page, Save as test)."""
from __future__ import annotations

from datetime import timezone
from typing import Any

from flask import Response, abort, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..api import api
from ..api.common import get_or_404, json_body
from ..api.errors import ApiError
from ..api.openapi import EXTRA_PATHS
from ..console import console
from ..console.pages import done, page
from ..extensions import db
from ..models import Interaction, PolicyTest, PolicyTestRun
from .kept_tests import TestProblem, as_yaml, run_kept, save_as_test, validated


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
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def _commit_test(row: PolicyTest) -> None:
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

