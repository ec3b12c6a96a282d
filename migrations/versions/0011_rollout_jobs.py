"""rolling out policies, continued: would-block counts and the request path on interactions (monitor mode
filters, exact replay routes); policy replay jobs that survive a worker's end (heartbeat, progress, cancel)

Revision ID: 0011_rollout_jobs
Revises: 0010_rollout
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0011_rollout_jobs"
down_revision = "0010_rollout"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("would_block_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("path", sa.String(512), nullable=True))
    with op.batch_alter_table("policy_replays") as batch:
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("processed", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("total", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index("ix_policy_replays_created_at", ["created_at"])


def downgrade():
    with op.batch_alter_table("policy_replays") as batch:
        batch.drop_index("ix_policy_replays_created_at")
        for column in ("cancel_requested", "total", "processed", "attempts", "heartbeat_at", "started_at"):
            batch.drop_column(column)
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("path")
        batch.drop_column("would_block_count")
