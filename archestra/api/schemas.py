"""All marshmallow schemas of the management API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate


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
