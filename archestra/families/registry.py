"""The translation codecs by family name: what the Model Router can read from clients (fronts) and send to
providers (upstreams). A family missing here is refused by the router with a clear 400, never half-served."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from .anthropic_messages import ANTHROPIC_BEDROCK, ANTHROPIC_MESSAGES, ANTHROPIC_VERTEX
from .bedrock_converse import BEDROCK_CONVERSE
from .cohere_chat import COHERE
from .gemini_generate import GEMINI
from .openai_chat import OPENAI_CHAT
from .responses_front import RESPONSES_FRONT

#: Front codecs by the front's name (``openai_chat``, ``anthropic_messages``, ``responses``).
FRONTS: dict[str, Any] = {codec.name: codec for codec in (OPENAI_CHAT, ANTHROPIC_MESSAGES, RESPONSES_FRONT)}
#: Upstream codecs by the upstream family's name (see ``router/targets.upstream_family``).
UPSTREAMS: dict[str, Any] = {codec.name: codec for codec in (OPENAI_CHAT, ANTHROPIC_MESSAGES, ANTHROPIC_BEDROCK,
                                                                ANTHROPIC_VERTEX, COHERE, BEDROCK_CONVERSE, GEMINI)}
#: Chat completions as OpenAI-compatible servers other than OpenAI take it: ``max_tokens`` (OpenAI's own
#: ``max_completion_tokens`` is what its reasoning models need, and what Mistral and older servers reject).
OPENAI_COMPATIBLE_CHAT = replace(OPENAI_CHAT, max_tokens_field="max_tokens")


def upstream_codec(family: str, provider: str) -> Any:
    """The codec that writes ``family`` for ``provider`` (None: the router cannot send that family yet)."""
    if family == "openai_chat" and provider != "openai":
        return OPENAI_COMPATIBLE_CHAT
    return UPSTREAMS.get(family)
