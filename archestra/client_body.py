"""Reading the client's request body: within the size limit and within a deadline.

Under gunicorn's gevent worker a slow upload (slowloris) would otherwise hold a connection slot for as long as
the client likes; the deadline cuts it off with a 408. gunicorn then discards what is left of the body
within its keep-alive timeout and closes the connection.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterator

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from .proxy_error import ProxyError

if TYPE_CHECKING:
    from .config import Settings


class _TooSlow(Exception):
    pass


def read_body(settings: Settings) -> bytes:
    """The whole request body; 413 over ``max_body_bytes``, 408 when it takes longer than
    ``client_body_timeout`` seconds."""
    max_bytes, timeout = settings.max_body_bytes, settings.client_body_timeout
    try:
        with _deadline(timeout):
            return request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise ProxyError(413, f"The request body is larger than the proxy's limit of {max_bytes} bytes.",
                         code="request_too_large") from None
    except _TooSlow:
        raise ProxyError(408, f"The request body did not arrive within {timeout:g} seconds.",
                         code="request_timeout") from None


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    timeout = _gevent_timeout()
    if timeout is None or not seconds:
        yield  # the threaded development server: no way to interrupt a blocking read
        return
    with timeout(seconds, _TooSlow()):
        yield


@lru_cache(maxsize=1)
def _gevent_timeout() -> Any:
    """gevent's Timeout when the process runs on gevent (asked on the first request: after the patching)."""
    try:
        from gevent import Timeout
        from gevent.monkey import is_module_patched
    except ImportError:
        return None
    return Timeout if is_module_patched("socket") else None
