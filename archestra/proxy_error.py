"""The error the proxy itself answers: raised anywhere on the request path, rendered by the pipeline in the
caller's own wire format (the route's API family, else the provider's default family)."""
from __future__ import annotations


class ProxyError(Exception):
    """An error the proxy itself answers, rendered in the caller's provider format."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.param = param
        self.headers: dict[str, str] = {}  # extra response headers (``Retry-After``...)
