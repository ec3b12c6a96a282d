"""``/api/openapi.json``: the management API described from its marshmallow schemas (apispec).

The operations are listed once here; request and response bodies come from ``schemas.py``, so the document
follows the code it describes.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from . import api, packs
from .schemas import (
    ApprovalDecisionSchema,
    ApprovalSchema,
    BlockedToolCallSchema,
    ChangeLogSchema,
    InteractionSchema,
    LimitSchema,
    ModelAliasSchema,
    NewVirtualKeySchema,
    OptimizationRuleSchema,
    PersonSchema,
    PolicyReplaySchema,
    PolicyTemplateSchema,
    ProfileSchema,
    ProfileTokenSchema,
    ProviderKeyInputSchema,
    ProviderKeySchema,
    SettingsSchema,
    SpendRowSchema,
    TeamSchema,
    TokenPriceSchema,
    ToolCallPolicySchema,
    ToolRegistrationSchema,
    ToolResultPolicySchema,
    ToolSchema,
    VirtualKeySchema,
    VirtualKeyUpdateSchema,
)


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Raw()


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


def _schema_name(schema: Any) -> str:
    """Components are named after the schema class; partial (update) schemas get an ``Update`` suffix."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    return name + "Update" if not isinstance(schema, type) and schema.partial else name


def _list_of(name: str, item: type[Schema], paged: bool = False) -> type[Schema]:
    members: dict[str, Any] = {"data": fields.List(fields.Nested(item), required=True)}
    if paged:
        members.update(total=fields.Integer(required=True), limit=fields.Integer(required=True),
                       offset=fields.Integer(required=True))
    return Schema.from_dict(members, name=name)


#: CRUD lists answered a page at a time (``total``, ``limit``, ``offset`` beside ``data``).
PAGED_CRUD = {"/people"}
# (path, schema, tag, query parameters of the list)
CRUD = [
    ("/profiles", ProfileSchema, "Profile", []),
    ("/tool-call-policies", ToolCallPolicySchema, "ToolCallPolicy", ["tool_id", "profile_id"]),
    ("/tool-result-policies", ToolResultPolicySchema, "ToolResultPolicy", ["tool_id", "profile_id"]),
    ("/token-prices", TokenPriceSchema, "TokenPrice", []),
    ("/limits", LimitSchema, "Limit", []),
    ("/optimization-rules", OptimizationRuleSchema, "OptimizationRule", []),
    ("/policy-templates", PolicyTemplateSchema, "PolicyTemplate", []),
    ("/model-aliases", ModelAliasSchema, "ModelAlias", ["profile_id"]),
    ("/people", PersonSchema, "Person", ["team_id", "email"]),
    ("/teams", TeamSchema, "Team", []),
]
PAGE = [("limit", {"type": "integer", "minimum": 1, "maximum": 500}), ("offset", {"type": "integer", "minimum": 0,
                                                                                     "maximum": 10_000_000})]
INTERACTION_FILTERS = ["profile_id", "provider", "model", "session_id", "user_id", "agent_id", "virtual_key_id",
                       "kind", "refusal", "person_id", "person_email", "team_id", "team_name", "subscription",
                       ("covered", {"type": "boolean", "description": "Paid for by a provider subscription"}),
                       ("status", {"type": "integer", "minimum": 100, "maximum": 599}),
                       ("since", {"type": "string", "format": "date-time"}),
                       ("until", {"type": "string", "format": "date-time"}),
                       ("blocked", {"type": "boolean", "description": "Refused tool calls or refused requests"}),
                       ("would_block", {"type": "boolean", "description": "Monitor mode: exchanges a decision "
                                                                          "would have changed in enforce mode"}),
                       ("label", {"type": "string", "description": "The context held this label (untrusted "
                                                                  "included)"})]


def _query(names: list[Any]) -> list[dict[str, Any]]:
    out = []
    for name in names:
        schema: dict[str, Any] = {"type": "string"}
        if isinstance(name, tuple):
            name, schema = name
        out.append({"in": "query", "name": name, "required": False, "schema": schema})
    return out


DESCRIPTIONS = {400: "Invalid request", 403: "Forbidden", 404: "Not found", 409: "Conflict"}


def _responses(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": "Error"}}}
    out = {**ok, "401": {"description": "Missing or wrong admin token", **error}}
    for status in errors:
        out[str(status)] = {"description": DESCRIPTIONS[status], **error}
    return out


def _json(schema: Any, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


#: Paths other modules describe, ``add(spec, item_id)`` each (config_file/views.py adds its own on import).
EXTRA_PATHS: list[Any] = []


@lru_cache(maxsize=1)
def build_spec() -> dict[str, Any]:
    spec = APISpec(title="archestra management API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
                   info={"description": "Profiles, tools, policies, interactions, prices, limits and rules."})
    spec.components.security_scheme("adminToken", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=ErrorSchema)
    spec.options["security"] = [{"adminToken": []}]
    item_id = {"in": "path", "name": "item_id", "required": True, "schema": {"type": "string", "format": "uuid"}}
    for path, schema, tag, filters in CRUD:
        spec.components.schema(tag, schema=schema)
        paged = path in PAGED_CRUD
        listing = _list_of(f"{tag}List", schema, paged=paged)
        spec.path(path=path, operations={
            "get": {"tags": [tag], "summary": f"List {tag} records",
                    "parameters": _query(filters) + (_query(PAGE) if paged else []),
                    "responses": _responses({"200": _json(listing, "The records")}, *([400] if paged else []))},
            "post": {"tags": [tag], "summary": f"Create a {tag}", "requestBody": {
                "required": True, "content": {"application/json": {"schema": tag}}},
                "responses": _responses({"201": _json(tag, "Created")}, 400, 409)},
        })
        spec.path(path=f"{path}/{{item_id}}", parameters=[item_id], operations={
            "get": {"tags": [tag], "responses": _responses({"200": _json(tag, "The record")}, 404)},
            "patch": {"tags": [tag], "requestBody": {"required": True, "content": {"application/json": {
                "schema": schema(partial=True)}}},
                "responses": _responses({"200": _json(tag, "Updated")}, 400, 404, 409)},
            "delete": {"tags": [tag], "responses": _responses({"204": {"description": "Deleted"}}, 404, 409)},
        })
    spec.components.schema("ProfileToken", schema=ProfileTokenSchema)
    spec.path(path="/profiles/{item_id}/token", parameters=[item_id], operations={
        "post": {"tags": ["Profile"], "summary": "Set a new access token (returned once; only its hash is kept)",
                 "responses": _responses({"201": _json("ProfileToken", "The new token")}, 404)},
        "delete": {"tags": ["Profile"], "summary": "Remove the access token: the profile is open again",
                   "responses": _responses({"204": {"description": "Removed"}}, 404)},
    })
    spec.components.schema("Tool", schema=ToolSchema)
    spec.path(path="/tools", operations={"get": {
        "tags": ["Tool"], "summary": "Tools agents declared (tool discovery)",
        "parameters": _query(["profile_id", "name"]),
        "responses": _responses({"200": _json(_list_of("ToolList", ToolSchema), "The tools")})}, "post": {
        "tags": ["Tool"], "summary": "Register a tool for a profile ahead of its traffic",
        "requestBody": {"required": True, "content": {"application/json": {"schema": ToolRegistrationSchema}}},
        "responses": _responses({"201": _json("Tool", "Registered")}, 400, 409)}})
    spec.components.schema("PolicyReplay", schema=PolicyReplaySchema)
    spec.path(path="/policy-replays", operations={"post": {
        "tags": ["PolicyReplay"], "summary": "Re-run candidate policy changes over recorded interactions (a "
                                             "background job: poll the returned record)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": "PolicyReplay"}}},
        "responses": _responses({"202": _json("PolicyReplay", "Started")}, 400)}, "get": {
        "tags": ["PolicyReplay"], "summary": "Replay jobs, newest first, without their reports",
        "parameters": _query(PAGE),
        "responses": _responses({"200": _json(_list_of("PolicyReplayList", PolicyReplaySchema, paged=True),
                                              "The jobs")}, 400)}})
    spec.path(path="/policy-replays/{item_id}", parameters=[item_id], operations={"get": {
        "tags": ["PolicyReplay"], "responses": _responses({"200": _json("PolicyReplay", "Its status and report")},
                                                          404)}})
    spec.path(path="/policy-replays/{item_id}/cancel", parameters=[item_id], operations={"post": {
        "tags": ["PolicyReplay"], "summary": "Stop a pending or running replay (at its next heartbeat)",
        "responses": _responses({"202": _json("PolicyReplay", "Cancelling")}, 404, 409)}})
    spec.path(path="/effective-policy", operations={"get": {
        "tags": ["Tool"], "summary": "The policies that apply to a tool in a profile, and where they come from "
                                     "(profile, template or the global policy's default)",
        "parameters": _query(["profile_id", "tool"]),
        "responses": _responses({"200": {"description": "The effective call and result policies"}}, 400)}})
    spec.path(path="/tools/{item_id}", parameters=[item_id], operations={"get": {
        "tags": ["Tool"], "responses": _responses({"200": _json("Tool", "The tool")}, 404)}})
    spec.components.schema("Interaction", schema=InteractionSchema)
    spec.path(path="/interactions", operations={"get": {
        "tags": ["Interaction"], "summary": "Interactions, newest first",
        "parameters": _query(INTERACTION_FILTERS) + _query(PAGE),
        "responses": _responses({"200": _json(_list_of("InteractionList", InteractionSchema, paged=True),
                                              "A page of interactions")}, 400)}, "delete": {
        "tags": ["Interaction"], "summary": "Purge the interactions matching the filters (at least one)",
        "parameters": _query(INTERACTION_FILTERS),
        "responses": _responses({"200": {"description": "How many were deleted", "content": {"application/json": {
            "schema": {"type": "object", "properties": {"deleted": {"type": "integer"}}}}}}}, 400)}})
    spec.path(path="/interactions/{item_id}", parameters=[item_id], operations={"get": {
        "tags": ["Interaction"], "responses": _responses({"200": _json("Interaction", "The interaction")}, 404)}})
    spec.components.schema("BlockedToolCall", schema=BlockedToolCallSchema)
    spec.path(path="/blocked-tool-calls", operations={"get": {
        "tags": ["BlockedToolCall"], "parameters": _query(["profile_id", "tool"]) + _query(PAGE),
        "responses": _responses({"200": _json(_list_of("BlockedToolCallList", BlockedToolCallSchema, paged=True),
                                              "A page of refused tool calls")}, 400)}})
    spec.components.schema("Settings", schema=SettingsSchema)
    spec.path(path="/settings", operations={
        "get": {"tags": ["Settings"], "responses": _responses({"200": _json("Settings", "The settings")})},
        "patch": {"tags": ["Settings"], "requestBody": {"required": True, "content": {"application/json": {
            "schema": "Settings"}}}, "responses": _responses({"200": _json("Settings", "Updated")}, 400)},
    })
    _key_paths(spec, item_id)
    _change_log_paths(spec)
    spec.path(path="/limits/{item_id}/usage", parameters=[item_id], operations={"get": {
        "tags": ["Limit"], "summary": "The limit's spend in its current window (per person for the default "
                                      "per-person limit)",
        "responses": _responses({"200": {"description": "window_start, max_cost_usd and data: person_id, "
                                                        "person_email, used_usd"}}, 404)}})
    spec.components.schema("SpendRow", schema=SpendRowSchema)
    spec.path(path="/spend", operations={"get": {
        "tags": ["Interaction"], "summary": "Spend grouped by person, team, profile, model or virtual key (the "
                                            "interaction filters apply)",
        "parameters": _query([("group_by", {"type": "string", "enum": ["person", "team", "profile", "model",
                                                                        "virtual_key"]})] + INTERACTION_FILTERS),
        "responses": _responses({"200": _json(_list_of("SpendList", SpendRowSchema), "One row per group")}, 400)}})
    for add in EXTRA_PATHS:
        add(spec, item_id)
    _approval_paths(spec, item_id)
    packs.describe(spec, item_id, _responses, _json, _list_of)
    document = spec.to_dict()
    document["servers"] = [{"url": "/api"}]
    return document


def _key_paths(spec: APISpec, item_id: dict[str, Any]) -> None:
    """Provider keys held per profile (write-only) and virtual keys (api/keys.py)."""
    for name, schema in (("ProviderKey", ProviderKeySchema), ("ProviderKeyInput", ProviderKeyInputSchema),
                         ("VirtualKey", VirtualKeySchema), ("NewVirtualKey", NewVirtualKeySchema),
                         ("VirtualKeyUpdate", VirtualKeyUpdateSchema)):
        spec.components.schema(name, schema=schema)
    provider = {"in": "path", "name": "provider", "required": True, "schema": {"type": "string"}}
    tag = ["ProviderKey"]
    spec.path(path="/profiles/{item_id}/provider-keys", parameters=[item_id], operations={"get": {
        "tags": tag, "summary": "The provider keys the profile can use (fingerprints only)",
        "responses": _responses({"200": _json(_list_of("ProviderKeyList", ProviderKeySchema), "The keys")}, 404)}})
    spec.path(path="/profiles/{item_id}/provider-keys/{provider}", parameters=[item_id, provider], operations={
        "put": {"tags": tag, "summary": "Store or rotate the profile's key (encrypted; needs ARCHESTRA_SECRET_KEY)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": "ProviderKeyInput"}}},
                "responses": _responses({"200": _json("ProviderKey", "Rotated"), "201": _json("ProviderKey", "Set")},
                                        400, 404, 409)},
        "delete": {"tags": tag, "responses": _responses({"204": {"description": "Deleted"}}, 404)}})
    spec.path(path="/provider-keys/reencrypt", operations={"post": {
        "tags": tag, "summary": "Encrypt every stored key again with ARCHESTRA_SECRET_KEY (after a rotation)",
        "responses": _responses({"200": _json(Schema.from_dict({"reencrypted": fields.Integer()},
                                                               name="Reencrypted"), "How many")}, 409)}})
    tag = ["VirtualKey"]
    spec.path(path="/virtual-keys", operations={
        "get": {"tags": tag, "parameters": _query(["profile_id", "person_id", "team_id"]),
                "responses": _responses({"200": _json(_list_of("VirtualKeyList", VirtualKeySchema), "The keys")})},
        "post": {"tags": tag, "summary": "Issue a virtual key (the key is in this answer only)",
                 "requestBody": {"required": True, "content": {"application/json": {"schema": "VirtualKey"}}},
                 "responses": _responses({"201": _json("NewVirtualKey", "Created")}, 400, 404, 409)}})
    spec.path(path="/virtual-keys/{item_id}", parameters=[item_id], operations={
        "get": {"tags": tag, "responses": _responses({"200": _json("VirtualKey", "The key")}, 404)},
        "patch": {"tags": tag, "requestBody": {"required": True, "content": {"application/json": {
            "schema": "VirtualKeyUpdate"}}}, "responses": _responses({"200": _json("VirtualKey", "Updated")},
                                                                    400, 404, 409)},
        "delete": {"tags": tag, "summary": "Revoke (the record stays)",
                   "responses": _responses({"204": {"description": "Revoked"}}, 404)}})


def _change_log_paths(spec: APISpec) -> None:
    """The change log (api/change_log.py): read-only."""
    spec.components.schema("ChangeLog", schema=ChangeLogSchema)
    filters = ["object_type", "object_id", ("action", {"type": "string", "enum": ["create", "update", "delete"]}),
               ("actor", {"type": "string", "description": "The actor's name (an e-mail address, admin token)"}),
               "actor_kind", "person_id", "via", "profile_id", ("since", {"type": "string", "format": "date-time"}),
               ("until", {"type": "string", "format": "date-time"})]
    spec.path(path="/change-log", operations={"get": {
        "tags": ["ChangeLog"], "summary": "Configuration changes, newest first (append-only: no write method)",
        "parameters": _query(filters) + _query(PAGE),
        "responses": _responses({"200": _json(_list_of("ChangeLogList", ChangeLogSchema, paged=True),
                                              "A page of changes")}, 400)}})
    spec.path(path="/change-log/{item_id}", parameters=[{"in": "path", "name": "item_id", "required": True,
                                                         "schema": {"type": "integer", "minimum": 0}}],
              operations={"get": {"tags": ["ChangeLog"],
                                  "responses": _responses({"200": _json("ChangeLog", "The change")}, 404)}})


def _approval_paths(spec: APISpec, item_id: dict[str, Any]) -> None:
    """Tool calls held back by require_approval policies (api/approvals.py)."""
    spec.components.schema("Approval", schema=ApprovalSchema)
    spec.components.schema("ApprovalDecision", schema=ApprovalDecisionSchema)
    tag = ["Approval"]
    spec.path(path="/approvals", operations={"get": {
        "tags": tag, "summary": "Held tool calls and their decisions, newest first",
        "parameters": _query(["status", "profile_id", "session_id", "tool", "virtual_key_id", "user_id"]) +
        _query(PAGE), "responses": _responses({"200": _json(_list_of("ApprovalList", ApprovalSchema, paged=True),
                                                           "A page of approvals")}, 400)}})
    spec.path(path="/approvals/{item_id}", parameters=[item_id], operations={"get": {
        "tags": tag, "responses": _responses({"200": _json("Approval", "The approval")}, 404)}})
    for action, summary in (("approve", "Approve: the same call passes once, within the approval window"),
                            ("reject", "Reject: the call stays refused with this reason")):
        spec.path(path=f"/approvals/{{item_id}}/{action}", parameters=[item_id], operations={"post": {
            "tags": tag, "summary": f"{summary} (operator or admin role)",
            "requestBody": {"required": False, "content": {"application/json": {"schema": "ApprovalDecision"}}},
            "responses": _responses({"200": _json("Approval", "Decided")}, 400, 403, 404, 409)}})


@api.get("/openapi.json")
def openapi():
    return build_spec()
