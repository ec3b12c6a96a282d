"""One call to an upstream on an exchange's behalf, signed, timed and traced: the pipeline's calls and the
proxy-made questions of the dual LLM (completion.py) go through here."""
from __future__ import annotations

import time

import requests

from .metering.interactions import Trace
from .metering.metrics import UPSTREAM_DURATION, child
from .providers.base import Provider
from .proxy_error import ProxyError
from .runtime import Runtime


def send_upstream(runtime: Runtime, provider: Provider, trace: Trace, method: str, url: str, body: bytes | None,
                  headers: dict[str, str], query: str) -> requests.Response:
    """Sign and send (its trace context added first: a signature may cover every header); the time waited is the
    upstream's, not the proxy's."""
    headers = runtime.tracing.start_upstream(trace, method, url, headers)
    headers = provider.sign_request(runtime.settings, method, f"{url}?{query}" if query else url, headers, body)
    started = time.monotonic()
    try:
        return runtime.upstream.send(method, url, body, headers, query)
    except ProxyError as error:
        runtime.tracing.end_upstream(trace, error=error)
        raise
    finally:
        waited = time.monotonic() - started
        trace.upstream_seconds += waited
        child(UPSTREAM_DURATION, provider.name).observe(waited)


def read_upstream(runtime: Runtime, upstream: requests.Response, trace: Trace) -> bytes:
    """A non-streamed upstream body, read to its end (waiting time is the upstream's); the upstream call's span
    ends with it."""
    started = time.monotonic()
    try:
        content = runtime.upstream.read_body(upstream)
    except ProxyError as error:
        runtime.tracing.end_upstream(trace, error=error)
        raise
    finally:
        upstream.close()
        trace.upstream_seconds += time.monotonic() - started
    runtime.tracing.end_upstream(trace, upstream.status_code)
    return content
