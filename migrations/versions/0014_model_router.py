"""model router: aliases with ordered fallbacks, and the router's own part of an interaction (front and attempts)

Revision ID: 0014_model_router
Revises: 0013_response_chain_context
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0014_model_router"
down_revision = "0013_response_chain_context"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "model_aliases",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False, index=True),
        sa.Column("profile_id", sa.String(36), sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=True,
                  index=True),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", "profile_id", name="uq_model_aliases_name_profile"),
    )
    op.create_index("uq_model_aliases_global_name", "model_aliases", ["name"], unique=True,
                    sqlite_where=sa.text("profile_id IS NULL"), postgresql_where=sa.text("profile_id IS NULL"))
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("router", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("router")
    op.drop_table("model_aliases")
