"""Providers (where requests go and how they authenticate, base.py) and the API families they serve (wire
formats, family.py).

Adding a provider:

* one that speaks OpenAI's chat completions: one :class:`OpenAICompatibleProvider` entry in
  ``openai_compat.ENTRIES`` (its name, the paths it serves besides chat completions, its quirks), and its default
  base URL in config.py;
* any other: one module here with a :class:`Provider` subclass (``name``, ``route`` naming the family of each
  path, ``upstream_request`` / ``sign_request`` / ``check_access`` when it authenticates otherwise than with a key
  header) and one line in ``PROVIDERS``; a new wire format is a :class:`Family` subclass of its own.
"""
from __future__ import annotations

from .anthropic import Anthropic
from .archestra import Archestra
from .azure import AZURE
from .base import Provider
from .bedrock import Bedrock
from .cohere import COHERE
from .family import Family
from .gemini import Gemini
from .ollama_native import OllamaNative
from .openai_compat import ENTRIES, OpenAICompatibleProvider
from .relay import StreamRelay

_SERVED: tuple[Provider, ...] = (*ENTRIES, Anthropic(), COHERE, Gemini(), Bedrock(), OllamaNative(), AZURE)
#: Every provider; ``archestra`` (another archestra instance) fronts all the others.
PROVIDERS: tuple[Provider, ...] = (*_SERVED, Archestra(_SERVED))

__all__ = ["PROVIDERS", "Family", "OpenAICompatibleProvider", "Provider", "StreamRelay"]
