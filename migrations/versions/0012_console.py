"""admin console: server-side sessions; tools' call counts; daily spend rollup (filled from the interactions already recorded);
indexes for the console's traffic pages (newest first overall, per profile, refused only)

Revision ID: 0012_console
Revises: 0011_rollout_jobs
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0012_console"
down_revision = "0011_rollout_jobs"
branch_labels = None
depends_on = None

REFUSED = "blocked_count > 0 OR refusal IS NOT NULL"  # the filter blocked=true (api/interaction_filters.py)


def upgrade():
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("credential_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "spend_daily",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("profile_id", sa.String(36), primary_key=True),
        sa.Column("model", sa.String(256), primary_key=True),
        sa.Column("profile_name", sa.String(200), nullable=True),
        sa.Column("cost_usd", sa.Numeric(18, 8), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("interactions", sa.Integer(), nullable=False),
    )
    with op.batch_alter_table("tools") as batch:
        batch.add_column(sa.Column("call_count", sa.Integer(), nullable=False, server_default="0"))
    postgres = op.get_bind().dialect.name == "postgresql"
    day = "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')" if postgres else "substr(created_at, 1, 10)"
    op.execute(f"""
        INSERT INTO spend_daily (day, profile_id, model, profile_name, cost_usd, input_tokens, output_tokens,
                                 interactions)
        SELECT {day}, profile_id, COALESCE(model_used, model, ''), MAX(profile_name), COALESCE(SUM(cost_usd), 0),
               COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), COUNT(*)
        FROM interactions GROUP BY {day}, profile_id, COALESCE(model_used, model, '')""")
    op.create_index("ix_interactions_created_id", "interactions", ["created_at", "id"])
    op.create_index("ix_interactions_profile_created", "interactions", ["profile_id", "created_at", "id"])
    op.create_index("ix_interactions_refused", "interactions", ["created_at", "id"],
                    sqlite_where=sa.text(REFUSED), postgresql_where=sa.text(REFUSED))


def downgrade():
    op.drop_index("ix_interactions_refused", "interactions")
    op.drop_index("ix_interactions_profile_created", "interactions")
    op.drop_index("ix_interactions_created_id", "interactions")
    op.drop_table("spend_daily")
    with op.batch_alter_table("tools") as batch:
        batch.drop_column("call_count")
    op.drop_table("console_sessions")
