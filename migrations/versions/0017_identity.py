"""people and teams, who called (interactions), keys of a person or team, limits per person / team / model with
rolling and weekly windows, subscription-covered exchanges

Revision ID: 0017_identity
Revises: 0016_provider_prices
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0017_identity"
down_revision = "0016_provider_prices"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "people",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("email", sa.String(320), nullable=True, unique=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("issuer", sa.String(512), nullable=True),
        sa.Column("subject", sa.String(256), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("issuer", "subject", name="uq_people_issuer_subject"),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("idp_group", sa.String(256), nullable=True, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "person_teams",
        sa.Column("person_id", sa.String(36), sa.ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("team_id", sa.String(36), sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True,
                  index=True),
        sa.Column("source", sa.String(8), nullable=False),
    )
    op.create_table(
        "limit_charges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("limit_id", sa.String(36), sa.ForeignKey("limits.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subject", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cost_usd", sa.Numeric(18, 8), nullable=False),
    )
    op.create_index("ix_limit_charges_limit_subject_at", "limit_charges", ["limit_id", "subject", "at"])
    with op.batch_alter_table("virtual_keys") as batch:
        batch.add_column(sa.Column("person_id", sa.String(36), sa.ForeignKey(
            "people.id", name="fk_virtual_keys_person", ondelete="CASCADE"), nullable=True))
        batch.add_column(sa.Column("team_id", sa.String(36), sa.ForeignKey(
            "teams.id", name="fk_virtual_keys_team", ondelete="CASCADE"), nullable=True))
        batch.add_column(sa.Column("identity_only", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index("ix_virtual_keys_person_id", ["person_id"])
        batch.create_index("ix_virtual_keys_team_id", ["team_id"])
    with op.batch_alter_table("limits") as batch:
        batch.add_column(sa.Column("person_id", sa.String(36), sa.ForeignKey(
            "people.id", name="fk_limits_person", ondelete="CASCADE"), nullable=True))
        batch.add_column(sa.Column("team_id", sa.String(36), sa.ForeignKey(
            "teams.id", name="fk_limits_team", ondelete="CASCADE"), nullable=True))
        batch.add_column(sa.Column("model", sa.String(256), nullable=True))
        batch.add_column(sa.Column("window_seconds", sa.Integer(), nullable=True))
        batch.create_index("ix_limits_person_id", ["person_id"])
        batch.create_index("ix_limits_team_id", ["team_id"])
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("person_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("person_email", sa.String(320), nullable=True))
        batch.add_column(sa.Column("team_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("team_name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("subscription", sa.String(32), nullable=True))
        batch.create_index("ix_interactions_person_id", ["person_id"])
        batch.create_index("ix_interactions_team_id", ["team_id"])


def downgrade():
    with op.batch_alter_table("interactions") as batch:
        batch.drop_index("ix_interactions_team_id")
        batch.drop_index("ix_interactions_person_id")
        for column in ("subscription", "team_name", "team_id", "person_email", "person_id"):
            batch.drop_column(column)
    with op.batch_alter_table("limits") as batch:
        batch.drop_index("ix_limits_team_id")
        batch.drop_index("ix_limits_person_id")
        batch.drop_constraint("fk_limits_team", type_="foreignkey")
        batch.drop_constraint("fk_limits_person", type_="foreignkey")
        for column in ("window_seconds", "model", "team_id", "person_id"):
            batch.drop_column(column)
    with op.batch_alter_table("virtual_keys") as batch:
        batch.drop_index("ix_virtual_keys_team_id")
        batch.drop_index("ix_virtual_keys_person_id")
        batch.drop_constraint("fk_virtual_keys_team", type_="foreignkey")
        batch.drop_constraint("fk_virtual_keys_person", type_="foreignkey")
        for column in ("identity_only", "team_id", "person_id"):
            batch.drop_column(column)
    op.drop_index("ix_limit_charges_limit_subject_at", "limit_charges")
    op.drop_table("limit_charges")
    op.drop_table("person_teams")
    op.drop_table("teams")
    op.drop_table("people")
