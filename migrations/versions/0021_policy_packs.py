"""policy packs: which packs are applied to which profile (or to every profile), with the pack as applied

Revision ID: 0021_policy_packs
Revises: 0020_labels_approvals
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0021_policy_packs"
down_revision = "0020_labels_approvals"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "applied_packs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, index=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("profile_id", sa.String(36), sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=True,
                  index=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", "profile_id", name="uq_applied_packs_name_profile"),
    )
    op.create_index("uq_applied_packs_global_name", "applied_packs", ["name"], unique=True,
                    sqlite_where=sa.text("profile_id IS NULL"), postgresql_where=sa.text("profile_id IS NULL"))


def downgrade():
    op.drop_table("applied_packs")
