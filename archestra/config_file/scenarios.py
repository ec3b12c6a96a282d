"""Policy tests: scenario files with the decision expected at each step, run offline by the real engine.

A scenario names a profile (of the configuration file or the database, or inline policies) and an ordered
conversation in a neutral form: ``user`` / ``assistant`` messages, tool ``call`` s with their arguments and tool
``result`` s. Each call and result may carry an ``expect``; the steps are decided in order by the built-in policy
hooks (security/hooks.py), exactly as the proxy decides a conversation that reached that point: every result so
far is judged (trusted, untrusted, blocked) and a call is decided against that context. No upstream, no model: a
``sanitize_with_dual_llm`` result counts as trusted (its summary would be). A recorded exchange of any provider
family can be a step too (``exchange: {provider, path, request, response}``): it is read by that family's own
parser into the same neutral steps.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import yaml

from ..exchange import Exchange, Message, ProfileInfo, Tool, ToolCall, ToolResult
from ..hooks import Block
from ..security.conditions import parse_result
from ..security.hooks import SNAPSHOT, CallPolicy, ResultTrust
from ..security.names import normalize_tool_name
from ..security.pack_rules import pack_patterns
from ..security.policies import BLOCK_ALWAYS, RESTRICTIVE, ProfilePolicies, Rule, matching
from .file_format import KINDS, load_text, profile_key
from .source import FileError, Source, read_yaml

CALL_DECISIONS = ("allowed", "refused")
RESULT_DECISIONS = ("trusted", "untrusted", "blocked")
SOURCES = ("profile", "template", "default", "undeclared")
STEP_KINDS = ("user", "assistant", "call", "result", "exchange")
RESULT_RANK = {"block_always": 3, "sanitize_with_dual_llm": 2, "mark_as_untrusted": 1, "mark_as_trusted": 0}


@dataclass
class Effective:
    """The policies a scenario runs against, and the profile's own flags."""

    policies: ProfilePolicies
    consider_context_untrusted: bool = False
    name: str = "scenario"


@dataclass
class StepResult:
    index: int            # 1-based
    kind: str             # call | result
    tool: str | None
    line: int
    decision: str
    source: str | None
    reason: str | None
    expected: dict[str, Any] | None = None
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.index, "kind": self.kind, "tool": self.tool, "line": self.line,
                "decision": self.decision, "source": self.source, "reason": self.reason,
                "expected": self.expected, "ok": self.ok, "differences": self.differences}


@dataclass
class ScenarioResult:
    name: str
    file: str
    steps: list[StepResult] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(step.ok for step in self.steps)

    def failures(self) -> list[str]:
        if self.error is not None:
            return [f"{self.file}: {self.name}: {self.error}"]
        return [f"{self.file}:{step.line}: {self.name}: step {step.index} ({step.kind} {step.tool}): "
                + "; ".join(step.differences) for step in self.steps if not step.ok]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "passed": self.passed, "error": self.error,
                "steps": [step.as_dict() for step in self.steps]}


# -- reading scenarios -----------------------------------------------------------------------------
def parse_scenario(source: Source, default_name: str) -> dict[str, Any]:
    """A scenario's data, validated (problems recorded on ``source``, with lines)."""
    data = source.data
    if not isinstance(data, dict):
        source.error((), "a scenario is a mapping (name:, profile:, steps:)")
        return {}
    for key in data:
        if key not in ("name", "description", "profile", "tools", "steps", "recorded"):
            source.error((key,), "unknown key; a scenario has name, description, profile, tools, steps")
    profile = data.get("profile")
    if not isinstance(profile, (str, dict)):
        source.error(("profile",), "the profile: a slug, or inline policies ({global_policy, tools: [...]})")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        source.error(("steps",), "a list of steps (user, assistant, call, result, exchange) is required")
        steps = []
    for index, step in enumerate(steps):
        _check_step(source, step, ("steps", index))
    tools = data.get("tools")
    if tools is not None and not (isinstance(tools, list) and all(isinstance(t, str) for t in tools)):
        source.error(("tools",), "the tools the agent declares: a list of names")
    return {"name": str(data.get("name") or default_name), "profile": profile, "tools": tools, "steps": steps}


def _check_step(source: Source, step: Any, path: tuple) -> None:
    if not isinstance(step, dict):
        source.error(path, "a step is a mapping with one of " + ", ".join(STEP_KINDS))
        return
    kinds = [key for key in step if key in STEP_KINDS]
    for key in step:
        if key not in STEP_KINDS and key != "expect":
            source.error(path + (key,), "unknown key; a step has one of " + ", ".join(STEP_KINDS) + " and expect")
    if len(kinds) != 1:
        source.error(path, "a step has exactly one of " + ", ".join(STEP_KINDS))
        return
    kind = kinds[0]
    body = step[kind]
    if kind == "call" and not (isinstance(body, dict) and isinstance(body.get("tool"), str)):
        source.error(path + ("call",), "a call is {tool: NAME, arguments: {...}}")
    if kind == "result" and not isinstance(body, dict):
        source.error(path + ("result",), "a result is {tool: NAME, content: ...}")
    if kind == "exchange" and not (isinstance(body, dict) and isinstance(body.get("provider"), str)
                                   and isinstance(body.get("request"), dict)):
        source.error(path + ("exchange",), "an exchange is {provider, path, request, response}")
    if "expect" in step:
        if kind not in ("call", "result", "exchange"):
            source.error(path + ("expect",), "only calls, results and exchanges have an expected decision")
            return
        try:
            expectation("call" if kind == "exchange" else kind, step["expect"])
        except ValueError as exc:
            source.error(path + ("expect",), str(exc))


def expectation(kind: str, value: Any) -> dict[str, Any]:
    """``expect: refused`` or ``expect: {decision: refused, reason_source: profile, reason_contains: ...}``."""
    decisions = CALL_DECISIONS if kind == "call" else RESULT_DECISIONS
    if isinstance(value, str):
        value = {"decision": value}
    if not isinstance(value, dict):
        raise ValueError(f"one of {', '.join(decisions)}, or {{decision, reason_source, reason_contains}}")
    unknown = set(value) - {"decision", "reason_source", "reason_contains"}
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]}; expect has decision, reason_source, reason_contains")
    if value.get("decision") not in decisions:
        raise ValueError(f"decision is one of {', '.join(decisions)}")
    if value.get("reason_source") is not None and value["reason_source"] not in SOURCES:
        raise ValueError(f"reason_source is one of {', '.join(SOURCES)}")
    return value


def load_scenarios(paths: list[str]) -> tuple[list[tuple[Source, dict[str, Any]]], list[str]]:
    """Every scenario file (``*.yaml`` / ``*.yml``) in ``paths`` (files or directories, recursively): the valid
    ones, and the problems of the others."""
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for folder, _dirs, names in sorted(os.walk(path)):
                files += [os.path.join(folder, n) for n in sorted(names) if n.endswith((".yaml", ".yml"))]
        else:
            files.append(path)
    loaded, problems = [], []
    for path in files:
        try:
            with open(path, encoding="utf-8") as handle:
                source = read_yaml(path, handle.read())
        except FileError as exc:
            problems += exc.problems
            continue
        except OSError as exc:
            problems.append(f"{path}: cannot be read ({exc.strerror or exc})")
            continue
        scenario = parse_scenario(source, os.path.splitext(os.path.basename(path))[0])
        if source.problems:
            problems += source.messages()
        else:
            loaded.append((source, scenario))
    return loaded, problems


# -- the effective policy --------------------------------------------------------------------------
def policies_from_state(state: dict[str, Any], profile: Mapping[str, Any]) -> Effective:
    """The policies the engine applies to ``profile`` of a file's state (templates and settings included)."""
    def rules(entries: list[dict[str, Any]], template: str | None = None) -> tuple[Rule, ...]:
        return tuple(Rule(tuple(e.get("conditions") or ()), e["action"], e.get("reason"), None, template)
                     for e in entries)
    by_kind: dict[str, dict[str, tuple[Rule, ...]]] = {"call": {}, "result": {}}
    for tool in profile.get("tools") or ():
        for kind, key in KINDS.items():
            name = normalize_tool_name(tool["name"])
            by_kind[kind][name] = by_kind[kind].get(name, ()) + rules(tool.get(key) or [])
    templates = state.get("templates") or {"call": [], "result": []}
    patterns = {kind: tuple((normalize_tool_name(e["tool"]), rules([e], e["tool"])[0]) for e in templates[kind])
                for kind in KINDS}
    # The packs applied to every profile and to this one, as the engine's template layer holds them.
    applied = [(None, document) for name, document in (state.get("pack_documents") or {}).items()
               if name in (state.get("packs") or ())]
    applied += [(profile_key(profile), document) for name, document in (profile.get("pack_documents") or {}).items()
                if name in (profile.get("packs") or ())]
    packs = pack_patterns(applied, Rule)
    patterns = {kind: patterns[kind] + packs[kind] for kind in KINDS}
    setting = (state.get("settings") or {}).get("global_policy") or RESTRICTIVE
    policies = ProfilePolicies(profile.get("global_policy") or setting, {k: v for k, v in by_kind["call"].items()
                                                                         if v},
                               {k: v for k, v in by_kind["result"].items() if v}, False, patterns["call"],
                               patterns["result"])
    return Effective(policies, bool(profile.get("consider_context_untrusted")),
                     profile.get("slug") or profile.get("name") or "inline")


def inline_profile(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """An inline ``profile: {global_policy, consider_context_untrusted, tools: [...]}``, validated by the file
    format's own profile reader."""
    text = yaml.safe_dump({"version": 1, "profiles": [{"slug": "inline", **data}]})
    _source, state = load_text(where, text, None)
    return state["profiles"][0]


# -- running ---------------------------------------------------------------------------------------
Resolver = Callable[[Any], Effective]


def run_scenario(source: Source, scenario: dict[str, Any], resolve: Resolver,
                 record: bool = False) -> ScenarioResult:
    """Decide every step; with ``record`` the decisions become the expectations (``scenario`` is updated)."""
    result = ScenarioResult(scenario["name"], source.name)
    try:
        effective = resolve(scenario["profile"])
        steps = list(_neutral_steps(scenario["steps"]))
    except (LookupError, FileError, ValueError, TypeError) as exc:
        result.error = str(exc)
        return result
    called = [step["call"]["tool"] for _, step in steps if "call" in step]
    declared = scenario["tools"] if scenario.get("tools") is not None else called
    exchange = Exchange("scenario", ProfileInfo("scenario", effective.name, effective.consider_context_untrusted),
                        "scenario", tools=[Tool(name) for name in dict.fromkeys(declared)])
    exchange.state[SNAPSHOT] = effective.policies
    trust = ResultTrust(None, sanitize=_summarised)  # type: ignore[arg-type]
    decide = CallPolicy(None)  # type: ignore[arg-type]
    last_call: dict[str, Any] | None = None
    for number, (index, step) in enumerate(steps, start=1):
        line = source.line(("steps", index))
        if "user" in step or "assistant" in step:
            role = "user" if "user" in step else "assistant"
            exchange.messages.append(Message(role, str(step[role])))
            continue
        if "call" in step:
            call = ToolCall(step["call"].get("id"), step["call"]["tool"], step["call"].get("arguments") or {})
            last_call = step["call"]
            try:
                decide(exchange, call)
                decision, reason = "allowed", None
            except Block as block:
                decision, reason = "refused", block.reason
            source_name = _call_source(effective.policies, exchange, call) if decision == "refused" else None
            exchange.messages.append(Message("assistant", None, tool_calls=[call]))
            outcome = StepResult(number, "call", call.name, line, decision, source_name, reason)
        else:
            body = step["result"]
            tool = body.get("tool") or (last_call or {}).get("tool")
            content = body.get("content", "")
            text = content if isinstance(content, str) else json.dumps(content)
            item = ToolResult(body.get("id"), tool, text, is_error=bool(body.get("is_error")), _original=text)
            try:
                trust(exchange, item)
                decision, reason = ("trusted" if item.trusted else "untrusted"), None
            except Block as block:
                item.blocked_reason, item.trusted = block.reason, False
                decision, reason = "blocked", block.reason
            source_name = _result_source(effective.policies, item)
            exchange.messages.append(Message("tool", None, tool_results=[item]))
            outcome = StepResult(number, "result", tool, line, decision, source_name, reason)
        if record:
            step["expect"] = {"decision": outcome.decision, **({"reason_source": outcome.source}
                                                               if outcome.decision in ("refused", "blocked") else {})}
        if "expect" in step:
            outcome.expected = expectation(outcome.kind, step["expect"])
            outcome.differences = _compare(outcome.expected, outcome)
        result.steps.append(outcome)
    if record:
        scenario["steps"] = [step for _, step in steps]
    return result


def _neutral_steps(steps: list[dict[str, Any]]):
    """(index in the file, step), an ``exchange`` step expanded into the steps its family reads in it."""
    for index, step in enumerate(steps):
        if "exchange" in step:
            from .recorded import steps_from_exchange

            expanded = [dict(item) for item in steps_from_exchange(step["exchange"])["steps"]]
            calls = [item for item in expanded if "call" in item]
            if "expect" in step and calls:  # an exchange's expectation is about its answer's (last) call
                calls[-1]["expect"] = step["expect"]
            elif "expect" in step:
                raise ValueError(f"step {index + 1}: the exchange has no tool call for its expect")
            for item in expanded:
                yield index, item
        else:
            yield index, step


def _compare(expected: dict[str, Any], outcome: StepResult) -> list[str]:
    differences = []
    if expected["decision"] != outcome.decision:
        differences.append(f"expected {expected['decision']}, got {outcome.decision}"
                           + (f" ({outcome.reason})" if outcome.reason else ""))
    elif expected.get("reason_source") and expected["reason_source"] != outcome.source:
        differences.append(f"expected the reason from {expected['reason_source']}, got it from {outcome.source}")
    if expected.get("reason_contains") and expected["reason_contains"] not in (outcome.reason or ""):
        differences.append(f"expected the reason to contain {expected['reason_contains']!r}, got "
                           f"{outcome.reason!r}")
    return differences


def _summarised(exchange: Exchange, result: ToolResult) -> None:
    result.trusted = True  # sanitize_with_dual_llm: the summary that would replace it is trusted


def _origin(rule: Rule) -> str:
    return "template" if rule.template is not None else "profile"


def _call_source(policies: ProfilePolicies, exchange: Exchange, call: ToolCall) -> str:
    """Where a refusal comes from, by the same precedence as CallPolicy: a ``block_always`` (profile or
    template), an undeclared tool in an untrusted context, a ``block_when_context_is_untrusted``, or the global
    policy's default (no allow policy matched in an untrusted context)."""
    rules = matching(policies.call_rules(normalize_tool_name(call.name)), call.arguments)
    blocking = next((rule for rule in rules if rule.action == BLOCK_ALWAYS), None)
    if blocking is not None:
        return _origin(blocking)
    declared = {normalize_tool_name(tool.name) for tool in exchange.tools}
    if normalize_tool_name(call.name) not in declared:
        return "undeclared"
    untrusted = next((rule for rule in rules if rule.action == "block_when_context_is_untrusted"), None)
    return _origin(untrusted) if untrusted is not None else "default"


def _result_source(policies: ProfilePolicies, result: ToolResult) -> str:
    own = policies.result_rules(normalize_tool_name(result.name)) if result.name else ()
    rules = matching(own, parse_result(result.content))
    if not rules:
        return "default"
    return _origin(max(rules, key=lambda r: RESULT_RANK.get(r.action, 3)))


def run_all(scenarios: list[tuple[Source, dict[str, Any]]], resolve: Resolver) -> list[ScenarioResult]:
    return [run_scenario(source, scenario, resolve) for source, scenario in scenarios]


def state_resolver(state: dict[str, Any] | None, fallback: Resolver | None = None) -> Resolver:
    """Profiles by slug (or name) from a file's state; inline profiles get the state's templates and settings."""
    def resolve(profile: Any) -> Effective:
        if isinstance(profile, dict):
            return policies_from_state(state or {}, inline_profile(profile, "inline profile"))
        for entry in (state or {}).get("profiles") or ():
            if profile in (profile_key(entry), entry["name"]):
                return policies_from_state(state or {}, entry)
        if fallback is not None:
            return fallback(profile)
        raise LookupError(f"no profile {profile!r} in the configuration")
    return resolve


def summary(results: list[ScenarioResult]) -> str:
    failed = [r for r in results if not r.passed]
    steps = sum(len(r.steps) for r in results)
    lines = [failure for r in failed for failure in r.failures()]
    lines.append(f"{len(results)} scenarios ({steps} decisions): {len(results) - len(failed)} passed, "
                 f"{len(failed)} failed")
    return "\n".join(lines)
