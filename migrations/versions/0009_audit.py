"""audit records outlive profiles (no cascade; profile name kept), refusals and usage estimates recorded,
blocked calls linked to their interaction, metadata-only profiles

Revision ID: 0009_audit
Revises: 0008_provider_keys
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_audit"
down_revision = "0008_provider_keys"
branch_labels = None
depends_on = None

RECORDS = ("interactions", "blocked_tool_calls")
# SQLite's foreign keys have no name: batch mode names them by this convention so they can be dropped.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _drop_profile_foreign_key(table: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table(table, naming_convention=NAMING) as batch:
            batch.drop_constraint(f"fk_{table}_profile_id_profiles", type_="foreignkey")
        return
    for key in sa.inspect(bind).get_foreign_keys(table):
        if key["referred_table"] == "profiles":
            op.drop_constraint(key["name"], table, type_="foreignkey")


def upgrade():
    for table in RECORDS:
        _drop_profile_foreign_key(table)
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("profile_name", sa.String(200), nullable=True))
        op.execute(f"UPDATE {table} SET profile_name = (SELECT name FROM profiles "
                   f"WHERE profiles.id = {table}.profile_id)")
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="chat"))
        batch.add_column(sa.Column("refusal", sa.String(64), nullable=True))
        batch.add_column(sa.Column("limit_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("usage_estimated", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("extra_calls", sa.JSON(), nullable=True))
        batch.create_index("ix_interactions_status_code", ["status_code"])
        batch.create_index("ix_interactions_refusal", ["refusal"])
    with op.batch_alter_table("blocked_tool_calls") as batch:
        batch.add_column(sa.Column("interaction_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("session_id", sa.String(256), nullable=True))
        batch.create_index("ix_blocked_tool_calls_interaction_id", ["interaction_id"])
        batch.create_index("ix_blocked_tool_calls_session_id", ["session_id"])
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("metadata_only", sa.Boolean(), nullable=True))


def downgrade():
    with op.batch_alter_table("profiles") as batch:
        batch.drop_column("metadata_only")
    with op.batch_alter_table("blocked_tool_calls") as batch:
        batch.drop_index("ix_blocked_tool_calls_session_id")
        batch.drop_index("ix_blocked_tool_calls_interaction_id")
        batch.drop_column("session_id")
        batch.drop_column("interaction_id")
    with op.batch_alter_table("interactions") as batch:
        batch.drop_index("ix_interactions_refusal")
        batch.drop_index("ix_interactions_status_code")
        for column in ("extra_calls", "usage_estimated", "limit_id", "refusal", "kind"):
            batch.drop_column(column)
    for table in RECORDS:
        op.execute(f"DELETE FROM {table} WHERE profile_id NOT IN (SELECT id FROM profiles)")
        with op.batch_alter_table(table) as batch:
            batch.drop_column("profile_name")
            batch.create_foreign_key(f"fk_{table}_profile_id_profiles", "profiles", ["profile_id"], ["id"],
                                     ondelete="CASCADE")
