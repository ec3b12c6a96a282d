"""provider keys held by the proxy (encrypted), virtual keys (hashed), and who used which

Revision ID: 0008_provider_keys
Revises: 0007_response_chain
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_provider_keys"
down_revision = "0007_response_chain"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "provider_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("profile_id", sa.String(36), sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("profile_id", "provider", name="uq_provider_keys_profile_provider"),
    )
    op.create_table(
        "virtual_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("profile_id", sa.String(36), sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("profile_id", "name", name="uq_virtual_keys_profile_name"),
    )
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("require_virtual_key", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("virtual_key_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("virtual_key_name", sa.String(200), nullable=True))
        batch.create_index("ix_interactions_virtual_key_id", ["virtual_key_id"])
    with op.batch_alter_table("limits") as batch:
        batch.add_column(sa.Column("virtual_key_id", sa.String(36), sa.ForeignKey(
            "virtual_keys.id", name="fk_limits_virtual_key", ondelete="CASCADE"), nullable=True))
        batch.create_index("ix_limits_virtual_key_id", ["virtual_key_id"])


def downgrade():
    with op.batch_alter_table("limits") as batch:
        batch.drop_index("ix_limits_virtual_key_id")
        batch.drop_constraint("fk_limits_virtual_key", type_="foreignkey")
        batch.drop_column("virtual_key_id")
    with op.batch_alter_table("interactions") as batch:
        batch.drop_index("ix_interactions_virtual_key_id")
        batch.drop_column("virtual_key_name")
        batch.drop_column("virtual_key_id")
    with op.batch_alter_table("profiles") as batch:
        batch.drop_column("require_virtual_key")
    op.drop_table("virtual_keys")
    op.drop_table("provider_keys")
