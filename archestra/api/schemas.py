"""All marshmallow schemas of the management API."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..security.conditions import OPERATORS, ConditionError, validate_condition


class ProfileSchema(Schema):
    id = fields.String(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    is_default = fields.Boolean(dump_only=True)
    consider_context_untrusted = fields.Boolean(load_default=False)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


profile_schema = ProfileSchema()
profiles_schema = ProfileSchema(many=True)
profile_update_schema = ProfileSchema(partial=True)


class ToolSchema(Schema):
    id = fields.String(dump_only=True)
    profile_id = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True, allow_none=True)
    parameters = fields.Raw(dump_only=True, allow_none=True)
    first_seen_at = fields.DateTime(dump_only=True)
    last_seen_at = fields.DateTime(dump_only=True)


class ConditionSchema(Schema):
    key = fields.String(load_default="", validate=validate.Length(max=500))
    operator = fields.String(required=True, validate=validate.OneOf(OPERATORS))
    value = fields.String(required=True, validate=validate.Length(max=10_000))

    @validates_schema
    def _valid(self, data, **kwargs):
        try:
            validate_condition(data)
        except ConditionError as exc:
            raise ValidationError(str(exc)) from None


TOOL_CALL_ACTIONS = ("allow_when_context_is_untrusted", "block_when_context_is_untrusted", "block_always")
TOOL_RESULT_ACTIONS = ("mark_as_trusted", "mark_as_untrusted", "block_always", "sanitize_with_dual_llm")


class _PolicySchema(Schema):
    id = fields.String(dump_only=True)
    tool_id = fields.String(required=True)
    conditions = fields.List(fields.Nested(ConditionSchema), load_default=list, validate=validate.Length(max=50))
    reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class ToolCallPolicySchema(_PolicySchema):
    action = fields.String(required=True, validate=validate.OneOf(TOOL_CALL_ACTIONS))


class ToolResultPolicySchema(_PolicySchema):
    action = fields.String(required=True, validate=validate.OneOf(TOOL_RESULT_ACTIONS))


class SettingsSchema(Schema):
    global_policy = fields.String(required=True, validate=validate.OneOf(("restrictive", "permissive")))


class BlockedToolCallSchema(Schema):
    id = fields.String(dump_only=True)
    profile_id = fields.String(dump_only=True)
    provider = fields.String(dump_only=True)
    model = fields.String(dump_only=True, allow_none=True)
    tool = fields.String(dump_only=True)
    arguments = fields.Raw(dump_only=True)
    reason = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
