"""token prices of the OpenAI-compatible services' popular models (OpenRouter, Groq, DeepSeek, xAI, Perplexity,
Kimi, MiniMax)

Revision ID: 0016_provider_prices
Revises: 0015_router_responses
Create Date: 2026-12-05
"""
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0016_provider_prices"
down_revision = "0015_router_responses"
branch_labels = None
depends_on = None

# USD per million tokens (input at a cache miss, output): the services' list prices (their pricing pages,
# 2025-12), as a starting point. Names are prefixes as in 0003 (the longest matching prefix wins); a vendor
# prefix is not part of the name (OpenRouter's and Groq's "moonshotai/kimi-k2-instruct" is priced as
# "kimi-k2-instruct"), so OpenRouter's models are priced by the rows of their makers (0003 and these).
PRICES = {
    # DeepSeek (api-docs.deepseek.com/quick_start/pricing: one price for both since 2025-09-05)
    "deepseek-chat": (0.56, 1.68), "deepseek-reasoner": (0.56, 1.68),
    # xAI (docs.x.ai models page; reasoning tokens are billed as output, see chat_usage.py)
    "grok-4.20": (2.0, 6.0), "grok-4-1-fast": (0.20, 0.50), "grok-4-fast": (0.20, 0.50), "grok-4": (3.0, 15.0),
    "grok-code-fast-1": (0.20, 1.50), "grok-3": (3.0, 15.0), "grok-3-mini": (0.30, 0.50),
    # Perplexity Sonar (token prices; its per-request search fees are not token prices)
    "sonar": (1.0, 1.0), "sonar-pro": (3.0, 15.0), "sonar-reasoning": (1.0, 5.0),
    "sonar-reasoning-pro": (2.0, 8.0), "sonar-deep-research": (2.0, 8.0),
    # Kimi (platform.moonshot.ai pricing, international)
    "kimi-k2": (0.60, 2.50), "kimi-k2.5": (0.60, 3.0),
    # MiniMax (platform.minimax.io pricing)
    "MiniMax-M2": (0.30, 1.20),
    # Groq's own names (groq.com/pricing)
    "llama-3.3-70b-versatile": (0.59, 0.79), "llama-3.1-8b-instant": (0.05, 0.08), "qwen3-32b": (0.29, 0.59),
    "kimi-k2-instruct": (1.0, 3.0),
}


def upgrade():
    prices = sa.table("token_prices", sa.column("id", sa.String), sa.column("model", sa.String),
                      sa.column("input_per_million", sa.Numeric), sa.column("output_per_million", sa.Numeric),
                      sa.column("created_at", sa.DateTime(timezone=True)),
                      sa.column("updated_at", sa.DateTime(timezone=True)))
    # A name an operator already priced keeps the operator's price.
    taken = {row[0] for row in op.get_bind().execute(sa.select(prices.c.model))}
    now = datetime.now(timezone.utc)
    op.bulk_insert(prices, [{"id": str(uuid.uuid4()), "model": model, "input_per_million": i,
                             "output_per_million": o, "created_at": now, "updated_at": now}
                            for model, (i, o) in PRICES.items() if model not in taken])


def downgrade():
    # Rows still at the price this migration set are removed; prices an operator changed stay.
    prices = sa.table("token_prices", sa.column("model", sa.String), sa.column("input_per_million", sa.Numeric),
                      sa.column("output_per_million", sa.Numeric))
    for model, (i, o) in PRICES.items():
        op.execute(prices.delete().where(prices.c.model == model, prices.c.input_per_million == i,
                                         prices.c.output_per_million == o))
