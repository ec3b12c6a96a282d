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
from .azure import AZURE
from .base import Provider
from .bedrock import Bedrock
from .cohere import COHERE
from .family import Family
from .gemini import Gemini
from .openai_compat import ENTRIES, OpenAICompatibleProvider
from .relay import StreamRelay

PROVIDERS: tuple[Provider, ...] = (*ENTRIES, Anthropic(), COHERE, Gemini(), Bedrock(), AZURE)

__all__ = ["PROVIDERS", "Family", "OpenAICompatibleProvider", "Provider", "StreamRelay"]
