"""configuration generation: one row, bumped by every management API write in the write's transaction

Workers and other instances compare it with the generation their caches were built at and drop
their caches when it moved, so a committed change is enforced everywhere without waiting for a TTL.

Revision ID: 0005_config_generation
Revises: 0004_profile_tokens
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_config_generation"
down_revision = "0004_profile_tokens"
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        "config_generation",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "generation": 0}])


def downgrade():
    op.drop_table("config_generation")
