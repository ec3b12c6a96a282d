"""What a provider's route table answers for a request path: a :class:`Route`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Route:
    """A request the proxy understood: what to do with it and where it goes upstream."""

    kind: str            # "chat" (inspected by hooks), "retrieve" (a stored answer fetched again) or "passthrough"
    upstream_path: str   # appended to the provider's base URL
    stream: bool | None = None  # None: decided by the body (``"stream": true``)
    model: str | None = None    # for providers that name the model in the path (Gemini, Bedrock)
    action: str | None = None   # the path's operation, e.g. ``streamGenerateContent``
    #: The API family adapter that speaks this route's wire format when it is not the provider's own (e.g.
    #: the Responses API on OpenAI): an object with the request/response/stream methods of :class:`Provider`.
    family: Any = None
