"""admin console: server-side sessions; indexes for the console's traffic and spend pages

Revision ID: 0012_console
Revises: 0011_rollout_jobs
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0012_console"
down_revision = "0011_rollout_jobs"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("credential_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade():
    op.drop_table("console_sessions")
