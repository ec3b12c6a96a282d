"""response chain: remember each relayed response's context (its tool results and unseen context), judged again on
every request that continues it, instead of a trust verdict frozen when it was written

Revision ID: 0013_response_chain_context
Revises: 0012_console
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0013_response_chain_context"
down_revision = "0012_console"
branch_labels = None
depends_on = None


def upgrade():
    # Rows written before keep context NULL: the chain reads them as unseen context (their verdict is not reused).
    with op.batch_alter_table("response_chain") as batch:
        batch.add_column(sa.Column("context", sa.JSON(), nullable=True))
        batch.drop_column("trusted")


def downgrade():
    with op.batch_alter_table("response_chain") as batch:
        # The older code reads ``trusted``: rows written since count as untrusted there (fail closed).
        batch.add_column(sa.Column("trusted", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.drop_column("context")
