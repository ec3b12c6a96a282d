"""change log: every configuration change with who, when, what, before and after (append-only: triggers refuse
updates and deletes); console sessions of people signed in through the identity provider (name, person, kind)

Revision ID: 0018_change_log
Revises: 0017_identity
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_change_log"
down_revision = "0017_identity"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER change_log_no_{verb} BEFORE {verb.upper()} ON change_log "
    "BEGIN SELECT RAISE(ABORT, 'change_log is append-only'); END"
    for verb in ("update", "delete")
]
POSTGRES_TRIGGER = [
    "CREATE OR REPLACE FUNCTION change_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'change_log is append-only'; END $$",
    "CREATE TRIGGER change_log_append_only BEFORE UPDATE OR DELETE ON change_log "
    "FOR EACH ROW EXECUTE FUNCTION change_log_append_only()",
    "CREATE TRIGGER change_log_no_truncate BEFORE TRUNCATE ON change_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION change_log_append_only()",
]


def upgrade():
    op.create_table(
        "change_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("actor_kind", sa.String(32), nullable=False),
        sa.Column("actor_name", sa.String(320), nullable=False, index=True),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("person_id", sa.String(36), nullable=True),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(256), nullable=False),
        sa.Column("object_name", sa.String(512), nullable=True),
        sa.Column("profile_id", sa.String(36), nullable=True, index=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_index("ix_change_log_object", "change_log", ["object_type", "object_id"])
    for statement in POSTGRES_TRIGGER if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)
    with op.batch_alter_table("console_sessions") as batch:
        # "token" (admin or read-only token) or "oidc" (the identity provider); the name shown and recorded.
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="token"))
        batch.add_column(sa.Column("name", sa.String(320), nullable=True))
        batch.add_column(sa.Column("person_id", sa.String(36), nullable=True))


def downgrade():
    with op.batch_alter_table("console_sessions") as batch:
        batch.drop_column("person_id")
        batch.drop_column("name")
        batch.drop_column("kind")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS change_log_no_truncate ON change_log")
        op.execute("DROP TRIGGER IF EXISTS change_log_append_only ON change_log")
        op.execute("DROP FUNCTION IF EXISTS change_log_append_only()")
    op.drop_table("change_log")
