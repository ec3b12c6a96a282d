"""The policies of a profile, cached per worker (plain values only) until the configuration generation moves,
and which of a tool's rules apply to one document (``docs/policy-precedence.md`` is the whole precedence).

A tool's policies are the profile's own, refined from the policy templates whose tool name (exact or glob,
compared after normalisation) matches it: a template applies to every profile, including those whose traffic never
declared the tool. In a profile, a template policy stands unless the profile has a policy of the same kind on the
tool with the same conditions (the profile's replaces it: its own default replaces the template's default, its own
rule on ``to endsWith @corp.com`` replaces the template's rule on exactly that). A template's ``block_always`` is
the exception: only a profile ``block_always`` with the same conditions replaces it (its reason then shows), never
an allow or a trust (deny overrides). So a template's specific guard keeps holding next to a profile's own rules,
and the usual precedence decides between the rules that match (specific before defaults, ``block_always``
always and first). Applied policy packs join the templates' layer with the same rules (``pack_rules.py``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Iterable

from sqlalchemy import select

from ..extensions import db
from ..generation import ConfigCache, ConfigGeneration
from ..models import AppliedPack, PolicyTemplate, Profile, Setting, Tool, ToolCallPolicy, ToolResultPolicy
from .conditions import all_hold
from .names import normalize_tool_name
from .pack_rules import pack_patterns

#: ``Exchange.state`` key of the policies snapshot taken at ``on_request`` (``hooks.policies_of``).
SNAPSHOT = "archestra.policies"
RESTRICTIVE, PERMISSIVE = "restrictive", "permissive"
ENFORCE, MONITOR = "enforce", "monitor"
BLOCK_ALWAYS = "block_always"
#: Actions that grant (trust a result, allow a call in an untrusted context): their conditions must hold for
#: every value a path reaches, read every way it can be read. The others restrict: any value suffices.
GRANTS = frozenset({"mark_as_trusted", "allow_when_context_is_untrusted"})
ADD_LABELS = "add_labels"
BLOCK_WHEN_LABELS, BLOCK_UNLESS_LABELS = "block_when_context_has_labels", "block_unless_context_has_labels"
REQUIRE_APPROVAL = "require_approval"
#: Actions that apply whenever their conditions hold, each on its own, beside the trust and allow decision: they
#: never take part in the choice of specific rules over defaults (so adding one changes nothing else), and no
#: allow or trust lifts them (deny overrides).
STANDALONE = frozenset({ADD_LABELS, BLOCK_WHEN_LABELS, BLOCK_UNLESS_LABELS, REQUIRE_APPROVAL})


@dataclass(frozen=True)
class Rule:
    conditions: tuple[dict[str, Any], ...]
    action: str
    reason: str | None
    id: str | None = None
    #: The template's tool name (exact or glob) when the rule comes from a policy template or a pack, else None.
    template: str | None = None
    #: The labels of an ``add_labels`` / ``block_*_context_has_labels`` rule.
    labels: tuple[str, ...] = ()
    #: ``name@version`` of the policy pack the rule comes from (``pack_rules.py``), else None.
    pack: str | None = None

    @property
    def standalone(self) -> bool:
        """A label or approval rule: it applies whenever its conditions hold (see :data:`STANDALONE`)."""
        return self.action in STANDALONE

    @property
    def grant(self) -> bool:
        """A trust or an allow: its conditions hold only when every value they reach matches."""
        return self.action in GRANTS

    def holds(self, document: Any) -> bool:
        """Whether the rule's conditions hold on ``document`` (a grant's on every value, others' on any)."""
        return all_hold(document, self.conditions, every=self.grant)


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
        """The call policies of the tool with normalised ``name``: the profile's, then the templates' it keeps."""
        return _refined(self.calls.get(name, ()), self.call_templates, name)

    def result_rules(self, name: str) -> tuple[Rule, ...]:
        """The result policies of the tool with normalised ``name``: the profile's, then the templates' it keeps."""
        return _refined(self.results.get(name, ()), self.result_templates, name)


def matching(rules: tuple[Rule, ...], document: Any) -> list[Rule]:
    """The rules that decide on ``document``: those whose conditions hold, else the defaults (no conditions);
    and every ``block_always`` that holds, a default one included: a specific allow or trust refines a
    default, it never lifts a block (deny overrides). Label and approval rules are not among them
    (:func:`standalone`)."""
    rules = tuple(rule for rule in rules if not rule.standalone)
    specific = [rule for rule in rules if rule.conditions and rule.holds(document)]
    if not specific:
        return [rule for rule in rules if not rule.conditions]
    return specific + [rule for rule in rules if not rule.conditions and rule.action == BLOCK_ALWAYS]


def standalone(rules: tuple[Rule, ...], document: Any) -> list[Rule]:
    """The label and approval rules whose conditions hold on ``document`` (any value suffices: they restrict),
    defaults included."""
    return [rule for rule in rules if rule.standalone and rule.holds(document)]


def _refined(own: tuple[Rule, ...], templates: tuple[tuple[str, Rule], ...], name: str) -> tuple[Rule, ...]:
    """The profile's rules, then each matching template rule whose conditions no profile rule restates (a
    template ``block_always`` is restated only by a profile ``block_always``)."""
    if not templates:
        return own
    restated: dict[frozenset[str], set[str]] = {}
    for rule in own:
        restated.setdefault(_conditions_key(rule.conditions), set()).add(rule.action)
    same = {(rule.action, _conditions_key(rule.conditions), frozenset(rule.labels)) for rule in own if rule.standalone}
    return own + tuple(rule for pattern, rule in templates
                       if fnmatchcase(name, pattern) and not _replaced(rule, restated, same))


def _replaced(template: Rule, restated: dict[frozenset[str], set[str]],
              same: set[tuple[str, frozenset[str], frozenset[str]]]) -> bool:
    """A template ``block_always`` is restated only by a profile ``block_always`` with the same conditions; a label
    or approval rule only by the same rule (action, conditions and labels: labels add up, a profile never drops a
    template's); a trust or allow by any trust, allow or block of the profile with the same conditions (label and
    approval rules stand beside those and restate none of them)."""
    conditions = _conditions_key(template.conditions)
    if template.standalone:
        return (template.action, conditions, frozenset(template.labels)) in same
    actions = restated.get(conditions, set())
    if template.action == BLOCK_ALWAYS:
        return BLOCK_ALWAYS in actions
    return bool(actions - STANDALONE)


def _conditions_key(conditions: tuple[dict[str, Any], ...]) -> frozenset[str]:
    """Conditions compared as a set, values compared as stored (the key and operator are case-sensitive)."""
    return frozenset(json.dumps(condition, sort_keys=True) for condition in conditions)


def _rules(rows: Iterable[Any]) -> dict[str, tuple[Rule, ...]]:
    """Rules by normalised tool name: ``Run_Shell`` and ``run_shell`` (or a confusable spelling) are one tool."""
    by_tool: dict[str, list[Rule]] = {}
    for name, conditions, action, reason, rule_id, labels in rows:
        by_tool.setdefault(normalize_tool_name(name), []).append(Rule(tuple(conditions or ()), action, reason,
                                                                      rule_id, labels=tuple(labels or ())))
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
            columns = lambda model: (Tool.name, model.conditions, model.action, model.reason, model.id,  # noqa: E731
                                     model.labels)
            calls = db.session.execute(select(*columns(ToolCallPolicy)).join(Tool, ToolCallPolicy.tool_id == Tool.id)
                                       .where(Tool.profile_id == profile_id)
                                       .order_by(ToolCallPolicy.created_at)).all()
            results = db.session.execute(select(*columns(ToolResultPolicy))
                                         .join(Tool, ToolResultPolicy.tool_id == Tool.id)
                                         .where(Tool.profile_id == profile_id)
                                         .order_by(ToolResultPolicy.created_at)).all()
            templates = db.session.execute(select(PolicyTemplate).order_by(PolicyTemplate.created_at)).scalars().all()
            patterns = {kind: tuple((normalize_tool_name(row.tool_name), Rule(
                tuple(row.conditions or ()), row.action, row.reason, row.id, row.tool_name, tuple(row.labels or ())))
                for row in templates if row.kind == kind) for kind in ("call", "result")}
            applied = db.session.execute(select(AppliedPack.profile_id, AppliedPack.document).where(
                (AppliedPack.profile_id == profile_id) | AppliedPack.profile_id.is_(None))
                .order_by(AppliedPack.created_at)).all()
            packs = pack_patterns(applied, Rule)
            patterns = {kind: patterns[kind] + packs[kind] for kind in patterns}
        finally:
            db.session.remove()
        policy = own or settings.get("global_policy") or RESTRICTIVE
        monitor = (own_mode or settings.get("mode") or ENFORCE) == MONITOR
        return ProfilePolicies(policy, _rules(calls), _rules(results), monitor, patterns["call"],
                               patterns["result"])
