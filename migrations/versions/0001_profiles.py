"""profiles, with the default profile

Revision ID: 0001_profiles
Revises:
Create Date: 2026-11-24
"""
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0001_profiles"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    profiles = op.create_table(
        "profiles",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False, unique=True),
        sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("consider_context_untrusted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_profiles_is_default", "profiles", ["is_default"])
    now = datetime.now(timezone.utc)
    op.bulk_insert(profiles, [{
        "id": str(uuid.uuid4()), "name": "default", "is_default": True,
        "consider_context_untrusted": False, "created_at": now, "updated_at": now,
    }])


def downgrade():
    op.drop_index("ix_profiles_is_default", table_name="profiles")
    op.drop_table("profiles")
