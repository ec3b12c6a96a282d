"""Provider adapters. Adding a provider: one module here and one line in PROVIDERS."""
from __future__ import annotations

from ..proxy_error import ProxyError
from ..routing import Route
from .anthropic import Anthropic
from .base import Provider, StreamRelay
from .bedrock import Bedrock
from .cohere import Cohere
from .gemini import Gemini
from .openai_compat import VLLM, Cerebras, Mantle, Mistral, Ollama, OpenAI, ZhipuAI

PROVIDERS: tuple[Provider, ...] = (
    OpenAI(),
    Mistral(),
    Cerebras(),
    VLLM(),
    Ollama(),
    ZhipuAI(),
    Anthropic(),
    Cohere(),
    Gemini(),
    Bedrock(),
    Mantle(),
)

__all__ = ["PROVIDERS", "Provider", "ProxyError", "Route", "StreamRelay"]
