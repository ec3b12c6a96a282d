"""The configuration in the database, as the same plain state a file gives (file_format.py). Every object carries
its row id in ``_id`` (for ``apply``); ``export`` drops it."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from ..api.security import SETTINGS

from ..models import (
    AppliedPack,
    Limit,
    ModelAlias,
    OptimizationRule,
    PolicyTemplate,
    Profile,
    ProviderKey,
    Setting,
    TokenPrice,
    Tool,
    ToolCallPolicy,
    ToolResultPolicy,
)
from .file_format import KINDS, RULE_FIELDS, canonical_policy, policy_key, profile_key

SETTINGS_DEFAULTS = SETTINGS  # the /api/settings keys, with their defaults
POLICY_MODELS = {"call": ToolCallPolicy, "result": ToolResultPolicy}


def _number(value: Any) -> Any:
    return float(value) if value is not None else None


def _sorted_policies(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Defaults (no conditions) first, then by content: the same order whatever order the rows were written in."""
    return sorted(entries, key=lambda e: (bool(e.get("conditions")), policy_key({k: v for k, v in e.items()
                                                                                 if k != "_id"})))


def _row_policy(kind: str, row: Any) -> dict[str, Any]:
    values = {name: getattr(row, name, None) for name in ("action", "conditions", "reason")}
    from .file_format import field_default, policy_fields

    for name in policy_fields(kind):
        if name not in values:  # a field other issues add: what a row without it means is the schema's default
            values[name] = getattr(row, name) if hasattr(row, name) else field_default(kind, name)
    return canonical_policy(kind, values)


def stored_packs(session: Any) -> dict[str | None, dict[str, Any]]:
    """The applied packs' documents as stored when applied, by profile id (None: every profile), then by name."""
    out: dict[str | None, dict[str, Any]] = {}
    for row in session.execute(select(AppliedPack).order_by(AppliedPack.created_at)).scalars():
        out.setdefault(row.profile_id, {})[row.name] = row.document
    return out


def read_state(session: Any) -> dict[str, Any]:
    """The whole configuration the file format covers, from ``session``."""
    stored = {row.key: row.value for row in session.execute(select(Setting)).scalars()}
    settings = {key: stored.get(key, default) for key, default in SETTINGS_DEFAULTS.items()}

    templates: dict[str, list[dict[str, Any]]] = {"call": [], "result": []}
    for row in session.execute(select(PolicyTemplate)).scalars():
        if row.kind in templates:
            templates[row.kind].append({"tool": row.tool_name, **_row_policy(row.kind, row), "_id": row.id})
    templates = {kind: sorted(entries, key=lambda e: (e["tool"], bool(e["conditions"]), policy_key(
        {k: v for k, v in e.items() if k != "_id"}))) for kind, entries in templates.items()}

    profiles_rows = list(session.execute(select(Profile)).scalars())
    keys = {row.id: profile_key({"slug": row.slug, "name": row.name}) for row in profiles_rows}
    tools: dict[str, list[dict[str, Any]]] = {}
    tool_rows = {row.id: row for row in session.execute(select(Tool)).scalars()}
    policies: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for kind, model in POLICY_MODELS.items():
        for row in session.execute(select(model)).scalars():
            policies.setdefault(row.tool_id, {"call": [], "result": []})[kind].append(
                {**_row_policy(kind, row), "_id": row.id})
    for tool in sorted(tool_rows.values(), key=lambda t: t.name):
        own = policies.get(tool.id, {"call": [], "result": []})
        tools.setdefault(tool.profile_id, []).append({
            "name": tool.name, "description": tool.description, "_id": tool.id,
            **{key: _sorted_policies(own[kind]) for kind, key in KINDS.items()}})
    held: dict[str, dict[str, dict[str, Any]]] = {}
    for key_row in session.execute(select(ProviderKey)).scalars():  # fingerprints only: never the keys
        held.setdefault(key_row.profile_id, {})[key_row.provider] = {
            "fingerprint": key_row.fingerprint, "last4": key_row.last4, "_id": key_row.id}
    applied = stored_packs(session)
    profiles = []
    for row in sorted(profiles_rows, key=lambda r: (not r.is_default, keys[r.id])):
        profiles.append({"slug": row.slug, "name": row.name, "default": bool(row.is_default), "mode": row.mode,
                         "consider_context_untrusted": bool(row.consider_context_untrusted),
                         "global_policy": row.global_policy, "require_virtual_key": bool(row.require_virtual_key),
                         "metadata_only": row.metadata_only, "packs": sorted(applied.get(row.id, {})),
                         "pack_documents": applied.get(row.id, {}), "tools": tools.get(row.id, []),
                         "provider_keys": held.get(row.id, {}), "_id": row.id})

    limits = [{"scope": row.scope, "profile": keys.get(row.profile_id) if row.profile_id else None,
               "period": row.period, "max_cost_usd": _number(row.max_cost_usd), "_id": row.id}
              for row in session.execute(select(Limit)).scalars() if row.scope != "virtual_key"]
    limits.sort(key=lambda e: (e["scope"], e["profile"] or "", e["period"], e["max_cost_usd"]))
    prices = sorted(({"model": row.model, "input_per_million": _number(row.input_per_million),
                      "output_per_million": _number(row.output_per_million), "_id": row.id}
                     for row in session.execute(select(TokenPrice)).scalars()), key=lambda e: e["model"])
    rules = sorted(({**{key: getattr(row, key) for key in RULE_FIELDS}, "_id": row.id}
                    for row in session.execute(select(OptimizationRule)).scalars()),
                   key=lambda e: (e["provider"], e["priority"], json.dumps(e, sort_keys=True, default=str)))
    aliases = sorted(({"name": row.name, "profile": keys.get(row.profile_id) if row.profile_id else None,
                       "targets": list(row.targets or ()), "_id": row.id}
                      for row in session.execute(select(ModelAlias)).scalars()),
                     key=lambda e: (e["name"], e["profile"] or ""))
    return {"settings": settings, "packs": sorted(applied.get(None, {})), "pack_documents": applied.get(None, {}),
            "templates": templates, "profiles": profiles, "limits": limits,
            "prices": prices, "optimization_rules": rules, "model_aliases": aliases}


def without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_ids(item) for key, item in value.items() if key != "_id"}
    if isinstance(value, list):
        return [without_ids(item) for item in value]
    return value
