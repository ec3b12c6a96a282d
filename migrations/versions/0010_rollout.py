"""rolling out policies: monitor mode (profiles.mode, blocked_tool_calls.would_block), profile slugs, policy
templates by tool name, policy replay jobs

Revision ID: 0010_rollout
Revises: 0009_audit
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_rollout"
down_revision = "0009_audit"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("mode", sa.String(16), nullable=True))
        batch.add_column(sa.Column("slug", sa.String(64), nullable=True))
        batch.create_index("ix_profiles_slug", ["slug"], unique=True)
    with op.batch_alter_table("blocked_tool_calls") as batch:
        batch.add_column(sa.Column("would_block", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "policy_templates",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False, index=True),
        sa.Column("tool_name", sa.String(256), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "policy_replays",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade():
    op.drop_table("policy_replays")
    op.drop_table("policy_templates")
    with op.batch_alter_table("blocked_tool_calls") as batch:
        batch.drop_column("would_block")
    with op.batch_alter_table("profiles") as batch:
        batch.drop_index("ix_profiles_slug")
        batch.drop_column("slug")
        batch.drop_column("mode")
