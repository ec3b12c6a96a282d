"""per-profile global policy (restrictive / permissive; NULL follows /api/settings); interaction flags

Revision ID: 0006_profile_policy
Revises: 0005_config_generation
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_profile_policy"
down_revision = "0005_config_generation"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("global_policy", sa.String(16), nullable=True))
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("flags", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("flags")
    with op.batch_alter_table("profiles") as batch:
        batch.drop_column("global_policy")
