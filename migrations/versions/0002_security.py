"""tools, tool call/result policies, settings, blocked tool calls

Revision ID: 0002_security
Revises: 0001_profiles
Create Date: 2026-11-24
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0002_security"
down_revision = "0001_profiles"
branch_labels = None
depends_on = None


def _timestamps():
    return [sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)]


def upgrade():
    op.create_table(
        "tools",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("profile_id", sa.String(36), sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("profile_id", "name", name="uq_tools_profile_name"),
    )
    op.create_index("ix_tools_profile_id", "tools", ["profile_id"])
    for table in ("tool_call_policies", "tool_result_policies"):
        op.create_table(
            table,
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column("tool_id", sa.String(36), sa.ForeignKey("tools.id", ondelete="CASCADE"), nullable=False),
            sa.Column("conditions", sa.JSON(), nullable=False),
            sa.Column("action", sa.String(64), nullable=False),
            sa.Column("reason", sa.Text(), nullable=True),
            *_timestamps(),
        )
        op.create_index(f"ix_{table}_tool_id", table, ["tool_id"])
    settings = op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(settings, [{"key": "global_policy", "value": "restrictive",
                               "updated_at": datetime.now(timezone.utc)}])
    op.create_table(
        "blocked_tool_calls",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("profile_id", sa.String(36), sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("tool", sa.String(256), nullable=False),
        sa.Column("arguments", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_blocked_tool_calls_profile_id", "blocked_tool_calls", ["profile_id"])
    op.create_index("ix_blocked_tool_calls_created_at", "blocked_tool_calls", ["created_at"])


def downgrade():
    op.drop_table("blocked_tool_calls")
    op.drop_table("settings")
    op.drop_table("tool_result_policies")
    op.drop_table("tool_call_policies")
    op.drop_table("tools")
