"""trust state of each Responses API response the proxy relayed (previous_response_id chains)

Revision ID: 0007_response_chain
Revises: 0006_profile_policy
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_response_chain"
down_revision = "0006_profile_policy"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "response_chain",
        sa.Column("response_id", sa.String(256), primary_key=True),
        sa.Column("profile_id", sa.String(36), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("calls", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade():
    op.drop_table("response_chain")
