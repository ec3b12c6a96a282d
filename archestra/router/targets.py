"""Which upstreams a Model Router model id names, in the order they are tried.

* ``provider:model`` (``anthropic:claude-sonnet-4-5``, ``bedrock:anthropic.claude-...``, ``gemini:gemini-2.5-pro``):
  that provider's model. ``anthropic-vertex:`` is Anthropic's models on Vertex AI.
* an alias (``/api/model-aliases``): its targets in order, the profile's own alias before a global one;
* a plain id: only when the profile reaches exactly one provider (a held key, or the proxy's cloud credentials).

Each target carries the upstream API family its provider speaks for that model (``UPSTREAM_FAMILY``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..providers import PROVIDERS
from ..providers.base import Provider
from ..proxy_error import ProxyError

BY_NAME: dict[str, Provider] = {provider.name: provider for provider in PROVIDERS}
#: Router-only prefixes: the provider that serves them and the upstream family it speaks.
PSEUDO = {"anthropic-vertex": ("anthropic", "anthropic_vertex")}
#: Bedrock model ids of Anthropic's models (cross-region inference profiles included): InvokeModel with the
#: Messages body, so that Anthropic-front clients reach them without translation loss; other Bedrock models go
#: through Converse.
BEDROCK_ANTHROPIC = re.compile(r"((us|eu|apac|global|us-gov|jp|au)\.)?anthropic\.")


@dataclass(frozen=True)
class Target:
    """One upstream to try: the provider, its model id, and the API family it is spoken in."""

    prefix: str      # the provider name as written in the model id (``anthropic-vertex`` included)
    provider: Provider
    model: str
    family: str      # ``openai_chat``, ``anthropic_messages``, ``anthropic_bedrock``, ``anthropic_vertex``,
                     # ``gemini_generate``, ``bedrock_converse``, ``cohere_chat``

    @property
    def label(self) -> str:
        return f"{self.prefix}:{self.model}"


def upstream_family(prefix: str, provider: Provider, model: str) -> str:
    if prefix in PSEUDO:
        return PSEUDO[prefix][1]
    if provider.name == "bedrock":
        return "anthropic_bedrock" if BEDROCK_ANTHROPIC.match(model) else "bedrock_converse"
    own = {"anthropic": "anthropic_messages", "gemini": "gemini_generate", "cohere": "cohere_chat"}
    if provider.name in own:
        return own[provider.name]
    if not speaks_openai_chat(provider):
        raise ProxyError(400, f"The Model Router does not reach {provider.name}.", code="model_not_found",
                         param="model")
    return "openai_chat"


def speaks_openai_chat(provider: Provider) -> bool:
    """An OpenAI-compatible provider: its own route table serves chat completions."""
    route = provider.route("POST", "chat/completions", {})
    return route is not None and route.kind == "chat"


def prefixes() -> list[str]:
    """Every provider prefix a model id may start with."""
    return [*BY_NAME, *PSEUDO]


def parse_target(text: str) -> Target | None:
    """``provider:model`` as a target, or None when ``text`` does not start with a known provider prefix."""
    prefix, colon, model = text.partition(":")
    if not colon or not model:
        return None
    provider = BY_NAME.get(PSEUDO.get(prefix, (prefix,))[0])
    if provider is None:
        return None
    return Target(prefix, provider, model, upstream_family(prefix, provider, model))


def resolve(model: Any, aliases: Callable[[str], list[str] | None], reachable: Callable[[], list[str]]) -> list[Target]:
    """The targets ``model`` names (see the module docstring); a 400 naming the rules when it names none."""
    if not isinstance(model, str) or not model:
        raise ProxyError(400, "Give the model as provider:model (e.g. anthropic:claude-sonnet-4-5) or an alias.",
                         code="invalid_model", param="model")
    targets = aliases(model)
    if targets is not None:
        return [target for target in (parse_target(t) for t in targets) if target is not None]
    target = parse_target(model)
    if target is not None:
        return [target]
    reached = reachable()
    if len(reached) == 1:
        provider = BY_NAME[reached[0]]
        return [Target(provider.name, provider, model, upstream_family(provider.name, provider, model))]
    raise ProxyError(400, f"Unknown model {model!r} for the Model Router: name it provider:model with a provider "
                          f"among {', '.join(prefixes())}, or use an alias (/api/model-aliases)."
                          + (f" This profile reaches {', '.join(reached)}." if reached else ""),
                     code="model_not_found", param="model")


def validate_targets(targets: Iterable[Any]) -> list[str]:
    """Targets of an alias as the API takes them: each ``provider:model`` with a known provider."""
    checked = []
    for target in targets:
        if not isinstance(target, str) or parse_target(target) is None:
            raise ValueError(f"{target!r} is not provider:model with a provider among {', '.join(prefixes())}.")
        checked.append(target)
    return checked
