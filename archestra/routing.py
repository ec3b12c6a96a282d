"""What a provider's route table answers for a request path: a :class:`Route`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .providers.base import Provider
    from .providers.family import Family


@dataclass(frozen=True)
class Route:
    """A request the proxy understood: what to do with it and where it goes upstream."""

    kind: str            # "chat" (inspected by hooks), "retrieve" (a stored answer fetched again) or "passthrough"
    upstream_path: str   # appended to the provider's base URL
    stream: bool | None = None  # None: decided by the body (``"stream": true``)
    model: str | None = None    # for providers that name the model in the path (Gemini, Bedrock)
    action: str | None = None   # the path's operation, e.g. ``streamGenerateContent``
    #: The API family that speaks this route's wire format (chat completions, Responses, Messages...), passed by
    #: keyword: every route has one (a passthrough route's renders its errors).
    family: Family = field(kw_only=True)
    #: The provider that sends this route upstream (URL, credentials) when it is not the provider addressed: Anthropic
    #: models on Vertex AI are addressed at the anthropic provider and go to Google's URLs with the proxy's Google
    #: credentials. Decided once, by the addressed provider's ``route``; None: the addressed provider sends it.
    platform: Provider | None = field(default=None, kw_only=True)
