"""Policy tests kept in the database (``policy_tests``): made with "save as test" from a recorded interaction or
sent to the API, run on demand (API, console) and after every ``apply``; each run is kept (``policy_test_runs``)
with the configuration it ran against (generation number and digest of the exported configuration)."""
from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml
from sqlalchemy import select, text

from ..actor import current_actor
from ..extensions import db
from ..models import Interaction, PolicyTest, PolicyTestRun, Profile
from .export import export_state
from .recorded import steps_from_exchange
from .scenarios import ScenarioResult, parse_scenario, run_scenario, state_resolver
from .source import Source, field_name
from .state import read_state, without_ids


class TestProblem(ValueError):
    """A scenario or interaction that cannot become a test; ``problems`` name the fields."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def validated(name: str, scenario: Any) -> dict[str, Any]:
    """A scenario sent as JSON, checked like a file (TestProblem otherwise)."""
    source = Source(f"policy test {name}", scenario)
    parsed = parse_scenario(source, name)
    if source.problems:
        raise TestProblem([f"{field_name(problem.path)}: {problem.message}" for problem in source.problems])
    return parsed


def kept() -> list[tuple[Source, dict[str, Any]]]:
    """Every kept test, parsed (a test that no longer parses keeps its problems on its source)."""
    out = []
    for row in db.session.execute(select(PolicyTest).order_by(PolicyTest.name)).scalars():
        source = Source(f"policy test {row.name}", row.scenario)
        out.append((source, parse_scenario(source, row.name)))
    return out


def current_resolver():
    return state_resolver(without_ids(read_state(db.session)))


def digest(state: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(export_state(state), sort_keys=True, default=str).encode()).hexdigest()


def run_kept(trigger: str) -> PolicyTestRun:
    """Run every kept test against the database's configuration now, and keep the run."""
    state = read_state(db.session)
    generation = db.session.execute(text("SELECT generation FROM config_generation WHERE id = 1")).scalar()
    resolve = state_resolver(without_ids(state))
    results: list[ScenarioResult] = []
    for source, scenario in kept():
        if source.problems:  # reported as a failed test, never a failed run
            results.append(ScenarioResult(source.name, source.name, error="; ".join(
                f"{field_name(p.path)}: {p.message}" for p in source.problems)))
        else:
            results.append(run_scenario(source, scenario, resolve))
    actor = current_actor()
    failed = sum(1 for result in results if not result.passed)
    run = PolicyTestRun(trigger=trigger, actor=actor.name if actor else None, generation=generation,
                        config_digest=digest(state), passed=failed == 0, total=len(results), failed=failed,
                        results=[result.as_dict() for result in results])
    db.session.add(run)
    db.session.commit()
    return run


def save_as_test(interaction: Interaction, name: str | None) -> PolicyTest:
    """A kept test from a recorded interaction: its conversation as neutral steps, each call and result
    expecting what the current policies decide (edit the expectations to what should happen)."""
    profile = db.session.get(Profile, interaction.profile_id)
    if profile is None:
        raise TestProblem([f"the interaction's profile {interaction.profile_name or interaction.profile_id} no "
                           "longer exists"])
    columns = {key: getattr(interaction, key) for key in ("provider", "request", "response", "model", "path",
                                                         "stream", "flags", "blocked", "router")}
    try:
        neutral = steps_from_exchange(columns)
    except ValueError as exc:
        raise TestProblem([str(exc)]) from None
    if not neutral["steps"]:
        raise TestProblem(["the interaction has no messages, calls or results to test"])
    name = name or f"interaction {interaction.id[:8]}"
    scenario = {"name": name, "description": f"saved from interaction {interaction.id} ({interaction.provider}, "
                                              f"{interaction.created_at:%Y-%m-%d %H:%M} UTC)",
                "profile": profile.slug or profile.name, "tools": neutral["tools"], "steps": neutral["steps"]}
    parsed = validated(name, scenario)
    run_scenario(Source(name, scenario), parsed, current_resolver(), record=True)
    scenario["steps"] = parsed["steps"]
    test = PolicyTest(name=name, scenario=scenario, interaction_id=interaction.id)
    db.session.add(test)
    return test


def as_yaml(scenario: dict[str, Any]) -> str:
    """A kept test as a scenario file (for the policy repository: ``python -m archestra.config test``)."""
    return yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True, width=120)
