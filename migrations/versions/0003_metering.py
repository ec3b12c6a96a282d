"""interactions, token prices (with defaults), limits, optimisation rules

Revision ID: 0003_metering
Revises: 0002_security
Create Date: 2026-11-24
"""
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0003_metering"
down_revision = "0002_security"
branch_labels = None
depends_on = None

# USD per million tokens (input, output): public list prices of common models, as a starting point.
# Names are prefixes: "gpt-4o" prices "gpt-4o-2024-08-06" (the longest matching prefix wins).
DEFAULT_PRICES = {
    "gpt-5": (1.25, 10.0), "gpt-5-mini": (0.25, 2.0), "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0), "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0), "gpt-4o-mini": (0.15, 0.60), "o3": (2.0, 8.0), "o4-mini": (1.10, 4.40),
    "claude-opus-4": (15.0, 75.0), "claude-sonnet-4": (3.0, 15.0), "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.80, 4.0), "claude-3-7-sonnet": (3.0, 15.0),
    "gemini-2.5-pro": (1.25, 10.0), "gemini-2.5-flash": (0.30, 2.50), "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.0-flash": (0.10, 0.40),
    "command-a": (2.50, 10.0), "command-r-plus": (2.50, 10.0), "command-r": (0.15, 0.60),
    "mistral-large": (2.0, 6.0), "mistral-medium": (0.40, 2.0), "mistral-small": (0.10, 0.30),
    "codestral": (0.30, 0.90),
    "llama3.1-8b": (0.10, 0.10), "llama-3.3-70b": (0.85, 1.20), "gpt-oss-120b": (0.25, 0.69),
    "glm-4.6": (0.60, 2.20), "glm-4.5": (0.60, 2.20), "glm-4.5-air": (0.20, 1.10),
    "anthropic.claude-3-5-sonnet": (3.0, 15.0), "anthropic.claude-sonnet-4": (3.0, 15.0),
    "amazon.nova-pro": (0.80, 3.20), "amazon.nova-lite": (0.06, 0.24), "amazon.nova-micro": (0.035, 0.14),
}


def _times():
    return [sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)]


def upgrade():
    op.create_table(
        "interactions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("profile_id", sa.String(36), sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("model_used", sa.String(256), nullable=True),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.Column("upstream_request", sa.JSON(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Numeric(18, 8), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("time_to_first_token_ms", sa.Float(), nullable=True),
        sa.Column("blocked", sa.JSON(), nullable=True),
        sa.Column("blocked_count", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(256), nullable=True),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("agent_id", sa.String(256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    for column in ("profile_id", "provider", "model", "session_id", "user_id", "agent_id", "created_at"):
        op.create_index(f"ix_interactions_{column}", "interactions", [column])
    prices = op.create_table(
        "token_prices",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("model", sa.String(256), nullable=False, unique=True),
        sa.Column("input_per_million", sa.Numeric(18, 8), nullable=False),
        sa.Column("output_per_million", sa.Numeric(18, 8), nullable=False),
        *_times(),
    )
    now = datetime.now(timezone.utc)
    op.bulk_insert(prices, [{"id": str(uuid.uuid4()), "model": model, "input_per_million": i,
                             "output_per_million": o, "created_at": now, "updated_at": now}
                            for model, (i, o) in DEFAULT_PRICES.items()])
    op.create_table(
        "limits",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("profile_id", sa.String(36), sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=True),
        sa.Column("max_cost_usd", sa.Numeric(18, 8), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("used_usd", sa.Numeric(18, 8), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        *_times(),
    )
    op.create_index("ix_limits_profile_id", "limits", ["profile_id"])
    op.create_table(
        "optimization_rules",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("max_length", sa.Integer(), nullable=True),
        sa.Column("has_tools", sa.Boolean(), nullable=True),
        sa.Column("target_model", sa.String(256), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        *_times(),
    )
    op.create_index("ix_optimization_rules_provider", "optimization_rules", ["provider"])


def downgrade():
    op.drop_table("optimization_rules")
    op.drop_table("limits")
    op.drop_table("token_prices")
    op.drop_table("interactions")
