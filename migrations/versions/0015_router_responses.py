"""router responses: the neutral conversation of each Responses API answer the Model Router served from a
provider that keeps none, so that ``previous_response_id`` can continue it

Revision ID: 0015_router_responses
Revises: 0014_model_router
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_router_responses"
down_revision = "0014_model_router"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "router_responses",
        sa.Column("id", sa.String(256), primary_key=True),
        sa.Column("profile_id", sa.String(36), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_router_responses_profile_id", "router_responses", ["profile_id"])
    op.create_index("ix_router_responses_created_at", "router_responses", ["created_at"])


def downgrade():
    op.drop_index("ix_router_responses_created_at", table_name="router_responses")
    op.drop_index("ix_router_responses_profile_id", table_name="router_responses")
    op.drop_table("router_responses")
