"""optional access tokens for profiles (only their SHA-256 is stored)

Revision ID: 0004_profile_tokens
Revises: 0003_metering
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_profile_tokens"
down_revision = "0003_metering"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("token_hash", sa.String(64), nullable=True))


def downgrade():
    with op.batch_alter_table("profiles") as batch:
        batch.drop_column("token_hash")
