"""policy tests kept by the proxy and their runs (configuration as code, issue 29)

Revision ID: 0019_config_as_code
Revises: 0018_change_log
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0019_config_as_code"
down_revision = "0018_change_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_tests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("scenario", sa.JSON(), nullable=False),
        sa.Column("interaction_id", sa.String(36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "policy_test_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(300), nullable=True),
        sa.Column("generation", sa.BigInteger(), nullable=True),
        sa.Column("config_digest", sa.String(64), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_policy_test_runs_created_at", "policy_test_runs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_policy_test_runs_created_at", table_name="policy_test_runs")
    op.drop_table("policy_test_runs")
    op.drop_table("policy_tests")
