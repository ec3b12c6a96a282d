"""Policies by tool name: ``/api/policy-templates`` (for every profile), ``POST /api/tools`` (register a tool for a
profile ahead of its traffic) and ``GET /api/effective-policy`` (the policies that apply to a tool in a profile,
and where they come from)."""
from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import select

from ..extensions import db
from ..models import PolicyTemplate, Profile, Tool
from ..profiles import UUID_RE
from ..runtime import current_runtime
from ..security.names import normalize_tool_name
from ..security.policies import ProfilePolicies, Rule
from . import api
from .common import commit, crud_routes, json_body
from .errors import ApiError
from .schemas import (TOOL_CALL_ACTIONS, TOOL_RESULT_ACTIONS, PolicyTemplateSchema, ToolRegistrationSchema, ToolSchema,
                      check_labels)

ACTIONS = {"call": TOOL_CALL_ACTIONS, "result": TOOL_RESULT_ACTIONS}
DEFAULTS = {  # what applies to a tool without any policy
    ("restrictive", "call"): "allowed in a trusted context, blocked in an untrusted one",
    ("restrictive", "result"): "untrusted",
    ("permissive", "call"): "allowed",
    ("permissive", "result"): "trusted",
}


def _valid_action(values: dict[str, Any]) -> dict[str, Any]:
    if values["action"] not in ACTIONS[values["kind"]]:
        raise ApiError(400, "validation_error", f"A {values['kind']} template's action is one of "
                                                f"{', '.join(ACTIONS[values['kind']])}.")
    problem = check_labels(values["action"], values.get("labels"))
    if problem:
        raise ApiError(400, "validation_error", problem)
    return values


crud_routes(api, "policy-templates", PolicyTemplate, PolicyTemplateSchema, "Policy template", check=_valid_action)


def profile_by_key(key: str | None) -> Profile:
    """A profile by id or slug (400 if none)."""
    key = (key or "").lower()
    column = Profile.id if UUID_RE.fullmatch(key) else Profile.slug
    profile = db.session.execute(select(Profile).where(column == key)).scalar() if key else None
    if profile is None:
        raise ApiError(400, "unknown_profile", f"Profile {key or '(none)'} does not exist.")
    return profile


@api.post("/tools")
def register_tool():
    """A tool for a profile before any traffic declared it, so that profile policies can be set on it."""
    values = ToolRegistrationSchema().load(json_body())
    tool = Tool(profile_id=profile_by_key(values.pop("profile_id")).id, **values)
    db.session.add(tool)
    commit("The profile already has a tool with this name.")
    return ToolSchema().dump(tool), 201


def source_of(rule: Rule) -> str:
    """Where a rule comes from: "profile", "template" or "pack" (a policy pack applied to the profile or to all)."""
    return "pack" if rule.pack else "template" if rule.template is not None else "profile"


def _dump(rules: tuple[Rule, ...]) -> list[dict[str, Any]]:
    return [{"id": rule.id, "action": rule.action, "conditions": list(rule.conditions), "reason": rule.reason,
             "labels": list(rule.labels), "source": source_of(rule), "template": rule.template, "pack": rule.pack}
            for rule in rules]


def effective(policies: ProfilePolicies, kind: str, name: str) -> dict[str, Any]:
    rules = policies.call_rules(name) if kind == "call" else policies.result_rules(name)
    sources = dict.fromkeys(source_of(rule) for rule in rules)  # profile first
    source = " and ".join(sources) or "default"  # "profile", "template", "pack", "profile and pack"... or "default"
    return {"source": source, "policies": _dump(rules), "default": DEFAULTS[(policies.global_policy, kind)]}


@api.get("/effective-policy")
def effective_policy():
    """The policies the proxy applies to ``tool`` in ``profile_id`` (id or slug), exactly as it decides: the
    profile's own, then the matching templates' and applied packs' (``pack``: name@version) that no profile policy
    restates (same kind and conditions; a
    template ``block_always`` is restated only by a profile ``block_always``), and the global policy's default
    where none matches (docs/policy-precedence.md)."""
    profile = profile_by_key(request.args.get("profile_id"))
    tool = request.args.get("tool") or ""
    if not tool:
        raise ApiError(400, "invalid_query", "Give the tool's name in ?tool=.")
    policies = current_runtime().policies.get(profile.id)
    name = normalize_tool_name(tool)
    return {"profile_id": profile.id, "tool": tool, "global_policy": policies.global_policy,
            "mode": "monitor" if policies.monitor else "enforce",
            "call_policies": effective(policies, "call", name),
            "result_policies": effective(policies, "result", name)}
