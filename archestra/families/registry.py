"""The translation codecs by family name: what the Model Router can read from clients (fronts) and send to
providers (upstreams). A family missing here is refused by the router with a clear 400, never half-served."""
from __future__ import annotations

from typing import Any

from .cohere_chat import COHERE

#: Front codecs by the front's name (``openai_chat``, ``anthropic_messages``, ``responses``).
FRONTS: dict[str, Any] = {}
#: Upstream codecs by the upstream family's name (see ``router/targets.upstream_family``).
UPSTREAMS: dict[str, Any] = {codec.name: codec for codec in (COHERE,)}
