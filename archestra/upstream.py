"""Talking to upstream providers: one pooled HTTP session per process, header hygiene, safe URLs."""
from __future__ import annotations

from typing import Iterable, Mapping
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

from .proxy_error import ProxyError

# RFC 9110 hop-by-hop headers, plus those the proxy recomputes itself.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length",
})
# Not forwarded upstream: the proxy's own headers, encodings it negotiates itself (identity: no decompression
# cost, no buffering of streams), cookies, and anything describing the client's hop or asking for a rewrite.
_NOT_UPSTREAM = HOP_BY_HOP | {"accept-encoding", "cookie", "forwarded", "x-real-ip", "x-original-url",
                              "x-rewrite-url"}
_NOT_UPSTREAM_PREFIXES = ("x-archestra-", "x-forwarded-")
# requests decodes gzip/deflate bodies, so the upstream's encoding no longer applies.
_NOT_TO_CLIENT = HOP_BY_HOP | {"content-encoding"}

_PATH_SAFE = "/:@-._~!$&'()*+,;="


def request_headers(incoming: Iterable[tuple[str, str]], drop: Iterable[str] = ()) -> dict[str, str]:
    """Client headers to forward: end-to-end headers only, the client's key untouched."""
    incoming = list(incoming)
    named_hop = {part.strip().lower() for name, value in incoming if name.lower() == "connection"
                 for part in value.split(",")}
    dropped = _NOT_UPSTREAM | named_hop | {name.lower() for name in drop}
    return {name: value for name, value in incoming
            if name.lower() not in dropped and not name.lower().startswith(_NOT_UPSTREAM_PREFIXES)}


def response_headers(upstream: Mapping[str, str]) -> list[tuple[str, str]]:
    """Upstream response headers to give the client (content type included)."""
    return [(name, value) for name, value in upstream.items() if name.lower() not in _NOT_TO_CLIENT]


def host_of(url: str | None) -> str:
    """``host[:port]`` of an upstream URL, for error messages: never its path or query (keys travel there)."""
    parts = urlsplit(url or "")
    return parts.netloc.rpartition("@")[2] or "the upstream"


def join_url(base: str, path: str) -> str:
    """``base`` + ``path``; the path can never leave the configured base (no ``..``, no new host)."""
    segments = path.split("/")
    if any(segment in {".", ".."} for segment in segments) or "\\" in path or "\x00" in path:
        raise ProxyError(400, "The request path is not allowed.", code="invalid_path")
    if not path:
        return base
    return base.rstrip("/") + "/" + quote(path, safe=_PATH_SAFE)


class Upstream:
    """Pooled ``requests`` connections with the configured timeouts.

    Requests go straight to the transport adapter rather than through a ``requests.Session``: a session
    keeps a cookie jar, so a cookie one upstream answer sets would ride along on every other client's
    requests; it would also read proxy settings from the environment and follow redirects. None of that
    belongs in a proxy (and skipping it is a good part of the per-request cost).
    """

    def __init__(self, connect_timeout: float, read_timeout: float, max_response_bytes: int = 64 * 1024 * 1024,
                 pool_size: int = 256):
        self.adapter = HTTPAdapter(pool_connections=16, pool_maxsize=pool_size, max_retries=0)
        self.timeout = (connect_timeout, read_timeout)
        self.max_response_bytes = max_response_bytes

    def read_body(self, response: requests.Response) -> bytes:
        """The whole (non-streamed) body, at most ``max_response_bytes``; 502/504 when it breaks off."""
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(chunk_size=65536):
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise ProxyError(502, f"The upstream response is larger than the proxy's limit of "
                                          f"{self.max_response_bytes} bytes (upstream: {host_of(response.url)}).",
                                     kind="upstream_error",
                                     code="upstream_response_too_large")
                chunks.append(chunk)
        except requests.RequestException as exc:
            host = host_of(response.url)
            if _is_timeout(exc):
                raise ProxyError(504, f"The upstream provider stopped sending its answer (read timeout; upstream: "
                                      f"{host}).",
                                 kind="upstream_error", code="upstream_timeout") from None
            raise ProxyError(502, f"The upstream response broke off before it was complete (upstream: {host}).",
                             kind="upstream_error", code="upstream_broken") from None
        return b"".join(chunks)

    def send(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str],
             params: str = "") -> requests.Response:
        """Send and return the response with its body unread (``stream=True``).

        Raises :class:`ProxyError` 504 on timeout and 502 when the upstream cannot be reached.
        """
        if params:
            url = f"{url}?{params}"
        try:
            return self.adapter.send(_prepare(method, url, headers, body), stream=True, timeout=self.timeout)
        except requests.Timeout:
            raise ProxyError(504, f"The upstream provider did not answer in time (upstream: {host_of(url)}).",
                             kind="upstream_error", code="upstream_timeout") from None
        except requests.RequestException as exc:
            raise ProxyError(502, f"The upstream provider could not be reached ({_reason(exc)}; upstream: "
                                  f"{host_of(url)}).", kind="upstream_error", code="upstream_unreachable") from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return exc.__class__.__name__


def _is_timeout(exc: BaseException) -> bool:
    """requests wraps a read timeout met while streaming the body in a ConnectionError."""
    from urllib3.exceptions import ReadTimeoutError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (requests.Timeout, ReadTimeoutError, TimeoutError)):
            return True
        seen = seen.__context__ or seen.__cause__ or (seen.args[0] if seen.args and isinstance(
            seen.args[0], BaseException) else None)
    return False


def _prepare(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> requests.PreparedRequest:
    """``PreparedRequest.prepare`` without its cookie, auth and hook steps: the proxy uses none of them."""
    prepared = requests.PreparedRequest()
    prepared.prepare_method(method)
    prepared.prepare_url(url, None)
    prepared.prepare_headers(headers)
    prepared.prepare_body(body or None, None)
    return prepared
