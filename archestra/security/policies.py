"""The policies of a profile, cached per worker (plain values only) until the configuration generation moves.

A tool's policies come from the profile, or, when the profile has none of that kind (call or result) for the
tool, from the policy templates whose tool name (exact or glob, compared after normalisation) matches it: a
template applies to every profile, including those whose traffic never declared the tool, and a profile's own
policies on the tool replace it there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Iterable

from sqlalchemy import select

from ..extensions import db
from ..generation import ConfigCache, ConfigGeneration
from ..models import PolicyTemplate, Profile, Setting, Tool, ToolCallPolicy, ToolResultPolicy
from .names import normalize_tool_name

RESTRICTIVE, PERMISSIVE = "restrictive", "permissive"
ENFORCE, MONITOR = "enforce", "monitor"


@dataclass(frozen=True)
class Rule:
    conditions: tuple[dict[str, Any], ...]
    action: str
    reason: str | None
    id: str | None = None
    #: The template's tool name (exact or glob) when the rule comes from a policy template, else None.
    template: str | None = None


@dataclass(frozen=True)
class ProfilePolicies:
    global_policy: str = RESTRICTIVE
    calls: dict[str, tuple[Rule, ...]] = field(default_factory=dict)    # by normalised tool name
    results: dict[str, tuple[Rule, ...]] = field(default_factory=dict)  # by normalised tool name
    #: Monitor mode: every decision is made and recorded (as would-block), nothing is changed on the wire.
    monitor: bool = False
    #: Policy templates, ``(normalised tool name pattern, rule)`` each, for calls and for results.
    call_templates: tuple[tuple[str, Rule], ...] = ()
    result_templates: tuple[tuple[str, Rule], ...] = ()

    def call_rules(self, name: str) -> tuple[Rule, ...]:
        """The call policies of the tool with normalised ``name``: the profile's, else the matching templates."""
        return self.calls.get(name) or _templated(self.call_templates, name)

    def result_rules(self, name: str) -> tuple[Rule, ...]:
        """The result policies of the tool with normalised ``name``: the profile's, else the matching templates."""
        return self.results.get(name) or _templated(self.result_templates, name)


def _templated(templates: tuple[tuple[str, Rule], ...], name: str) -> tuple[Rule, ...]:
    return tuple(rule for pattern, rule in templates if fnmatchcase(name, pattern))


def _rules(rows: Iterable[Any]) -> dict[str, tuple[Rule, ...]]:
    """Rules by normalised tool name: ``Run_Shell`` and ``run_shell`` (or a confusable spelling) are one tool."""
    by_tool: dict[str, list[Rule]] = {}
    for name, conditions, action, reason, rule_id in rows:
        by_tool.setdefault(normalize_tool_name(name), []).append(Rule(tuple(conditions or ()), action, reason,
                                                                      rule_id))
    return {name: tuple(rules) for name, rules in by_tool.items()}


class PolicyDirectory:
    def __init__(self, generation: ConfigGeneration, ttl: float):
        self._cache: ConfigCache[ProfilePolicies] = ConfigCache(generation, ttl)

    def get(self, profile_id: str) -> ProfilePolicies:
        return self._cache.get(profile_id, self.load)

    def invalidate(self) -> None:
        self._cache.clear()

    @staticmethod
    def load(profile_id: str) -> ProfilePolicies:
        """The profile's policies read from the database now (no cache)."""
        try:
            settings = {row.key: row.value for row in db.session.execute(
                select(Setting).where(Setting.key.in_(("global_policy", "mode")))).scalars()}
            own, own_mode = db.session.execute(select(Profile.global_policy, Profile.mode)
                                               .where(Profile.id == profile_id)).one_or_none() or (None, None)
            columns = lambda model: (Tool.name, model.conditions, model.action, model.reason, model.id)  # noqa: E731
            calls = db.session.execute(select(*columns(ToolCallPolicy)).join(Tool, ToolCallPolicy.tool_id == Tool.id)
                                       .where(Tool.profile_id == profile_id)
                                       .order_by(ToolCallPolicy.created_at)).all()
            results = db.session.execute(select(*columns(ToolResultPolicy))
                                         .join(Tool, ToolResultPolicy.tool_id == Tool.id)
                                         .where(Tool.profile_id == profile_id)
                                         .order_by(ToolResultPolicy.created_at)).all()
            templates = db.session.execute(select(PolicyTemplate).order_by(PolicyTemplate.created_at)).scalars().all()
            patterns = {kind: tuple((normalize_tool_name(row.tool_name), Rule(
                tuple(row.conditions or ()), row.action, row.reason, row.id, row.tool_name))
                for row in templates if row.kind == kind) for kind in ("call", "result")}
        finally:
            db.session.remove()
        policy = own or settings.get("global_policy") or RESTRICTIVE
        monitor = (own_mode or settings.get("mode") or ENFORCE) == MONITOR
        return ProfilePolicies(policy, _rules(calls), _rules(results), monitor, patterns["call"],
                               patterns["result"])
