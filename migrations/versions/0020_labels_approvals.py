"""data labels (policies' labels, interactions' context labels) and approvals of held tool calls

Revision ID: 0020_labels_approvals
Revises: 0019_config_as_code
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0020_labels_approvals"
down_revision = "0019_config_as_code"
branch_labels = None
depends_on = None

POLICY_TABLES = ("tool_call_policies", "tool_result_policies", "policy_templates")


def upgrade() -> None:
    for table in POLICY_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("labels", sa.JSON(), nullable=True))
        op.execute(sa.text(f"UPDATE {table} SET labels = '[]'"))  # existing policies carry no labels
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("labels", sa.JSON(), nullable=True))
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("profile_id", sa.String(36), nullable=False),
        sa.Column("profile_name", sa.String(200), nullable=True),
        sa.Column("session_id", sa.String(256), nullable=True),
        sa.Column("tool", sa.String(256), nullable=False),
        sa.Column("arguments", sa.JSON(), nullable=True),
        sa.Column("context_labels", sa.JSON(), nullable=True),
        sa.Column("policy_reason", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(32), nullable=True),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("interaction_id", sa.String(36), nullable=True),
        sa.Column("virtual_key_id", sa.String(36), nullable=True),
        sa.Column("virtual_key_name", sa.String(200), nullable=True),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("agent_id", sa.String(256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(320), nullable=True),
        sa.Column("decided_by_kind", sa.String(32), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_interaction_id", sa.String(36), nullable=True),
    )
    for column in ("fingerprint", "status", "profile_id", "session_id", "tool", "created_at"):
        op.create_index(f"ix_approvals_{column}", "approvals", [column])
    op.create_index("uq_approvals_pending_fingerprint", "approvals", ["fingerprint"], unique=True,
                    sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_table("approvals")
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("labels")
    for table in POLICY_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("labels")
