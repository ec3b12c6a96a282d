"""A JSON Schema of the configuration file (``python -m archestra.config schema``), for editors and CI linters:
built from the same marshmallow schemas that validate the file, so it never drifts from them. (``validate`` remains
the authority: it also checks references between entries and names the line of each error.)"""
from __future__ import annotations

from typing import Any

from apispec.ext.marshmallow.openapi import OpenAPIConverter
from marshmallow import Schema

from ..api.schemas import (
    LimitSchema,
    ModelAliasSchema,
    OptimizationRuleSchema,
    ProfileSchema,
    SettingsSchema,
    TokenPriceSchema,
)
from ..packs.catalog import NAME_RE, catalog
from .file_format import VERSION, policy_schema
from .scenarios import CALL_DECISIONS, RESULT_DECISIONS, SOURCES, STEP_KINDS

_CONVERTER = OpenAPIConverter(openapi_version="3.1.0", schema_name_resolver=lambda schema: None, spec=None)


def _object(schema: Schema, extra: dict[str, Any] | None = None, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The schema's loadable fields (read-only ones left out), with ``extra`` properties."""
    converted = _CONVERTER.schema2jsonschema(schema)
    properties = {name: value for name, value in converted["properties"].items()
                  if not value.get("readOnly") and name not in drop}
    properties.update(extra or {})
    out = {"type": "object", "properties": properties, "additionalProperties": False}
    required = [name for name in converted.get("required", ()) if name in properties]
    if required:
        out["required"] = required
    return out


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def config_schema() -> dict[str, Any]:
    tool_name = {"type": "string", "minLength": 1, "maxLength": 256}
    profile_ref = {"type": ["string", "null"], "description": "a profile's slug (or name)"}
    policies = {kind: _list(_object(policy_schema(kind))) for kind in ("call", "result")}
    tool = {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
        "name": tool_name, "description": {"type": ["string", "null"]},
        "call_policies": policies["call"], "result_policies": policies["result"]}}
    packs = _list({"type": "string", "pattern": NAME_RE.pattern.join("^$")}) | {
        "uniqueItems": True, "examples": [sorted(catalog())],
        "description": "policy packs (shipped, or of ARCHESTRA_PACKS_DIR); present, even empty, the file owns them"}
    profile = _object(ProfileSchema(), {"default": {"type": "boolean", "default": False}, "packs": packs,
                                        "tools": _list(tool), "provider_keys": {
                                            "type": "object", "additionalProperties": {
                                                "type": "string", "pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$"},
                                            "description": "provider -> ${ENV_NAME} holding its key"}})
    profile.pop("required", None)  # a slug or a name
    profile["anyOf"] = [{"required": ["slug"]}, {"required": ["name"]}]
    limit = _object(LimitSchema(), {"profile": profile_ref}, drop=("profile_id", "virtual_key_id"))
    limit["properties"]["scope"] = {"type": "string", "enum": ["profile", "global"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "archestra configuration file (docs/configuration-as-code.md)",
        "type": "object", "required": ["version"], "additionalProperties": False,
        "properties": {
            "version": {"const": VERSION},
            "settings": _object(SettingsSchema()),
            "packs": packs,
            "templates": {"type": "object", "additionalProperties": False, "properties": {
                f"{kind}_policies": _list(_object(policy_schema(kind), {"tool": tool_name}) | {
                    "required": ["tool", "action"]}) for kind in ("call", "result")}},
            "profiles": _list(profile),
            "limits": _list(limit),
            "prices": _list(_object(TokenPriceSchema())),
            "optimization_rules": _list(_object(OptimizationRuleSchema())),
            "model_aliases": _list(_object(ModelAliasSchema(), {"profile": profile_ref}, drop=("profile_id",))),
        },
    }


def scenario_schema() -> dict[str, Any]:
    def expect(decisions: tuple[str, ...]) -> dict[str, Any]:
        return {"anyOf": [{"enum": list(decisions)}, {
            "type": "object", "required": ["decision"], "additionalProperties": False, "properties": {
                "decision": {"enum": list(decisions)}, "reason_source": {"enum": list(SOURCES)},
                "reason_contains": {"type": "string"}}}]}
    steps = [
        {"required": ["user"], "properties": {"user": {"type": "string"}}},
        {"required": ["assistant"], "properties": {"assistant": {"type": "string"}}},
        {"required": ["call"], "properties": {"call": {"type": "object", "required": ["tool"], "properties": {
            "tool": {"type": "string"}, "arguments": {}, "id": {"type": "string"}}},
            "expect": expect(CALL_DECISIONS)}},
        {"required": ["result"], "properties": {"result": {"type": "object", "properties": {
            "tool": {"type": "string"}, "content": {}, "id": {"type": "string"}, "is_error": {"type": "boolean"}}},
            "expect": expect(RESULT_DECISIONS)}},
        {"required": ["exchange"], "properties": {"exchange": {"type": "object", "required": ["provider", "request"]}}},
    ]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "archestra policy test scenario (docs/configuration-as-code.md#policy-tests)",
        "type": "object", "required": ["profile", "steps"],
        "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                       "profile": {"type": ["string", "object"]}, "tools": _list({"type": "string"}),
                       "recorded": {}, "steps": {"type": "array", "minItems": 1, "items": {
                           "type": "object", "oneOf": steps, "propertyNames": {"enum": [*STEP_KINDS, "expect"]}}}},
        "additionalProperties": False,
    }
