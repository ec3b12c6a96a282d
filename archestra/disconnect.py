"""Noticing a client that hangs up while its stream waits on a silent upstream.

A relay only learns that its client left when it next writes to it. While a model thinks (or an upstream
stalls) nothing is written, so the upstream connection, and the provider's generation that is billed by the
token, would run on until the next chunk or the read timeout. Under gunicorn's gevent worker a greenlet
watches the client socket instead: end-of-file there means the client is gone, and ``on_gone`` runs at once.
"""
from __future__ import annotations

import os
import socket
from typing import Any, Callable


def watch_client(environ: dict[str, Any], on_gone: Callable[[], None]) -> Callable[[], None]:
    """Start watching the request's client socket; returns the function that stops watching."""
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return _nothing  # not under gunicorn (the development server): writes still notice
    try:
        import gevent
        from gevent.monkey import is_module_patched
        from gevent.socket import wait_read
    except ImportError:
        return _nothing
    if not is_module_patched("socket"):
        return _nothing

    def watch() -> None:
        try:
            fd = sock.fileno()
            wait_read(fd)
            # Peek below TLS, on a duplicate descriptor: any bytes (a pipelined request, a TLS alert) stay for
            # the server to read, and mean the client is still there; only end-of-file means it is gone.
            with socket.socket(fileno=os.dup(fd)) as raw:
                data = raw.recv(1, socket.MSG_PEEK)
        except (OSError, ValueError):
            data = b""
        if not data:
            on_gone()

    watcher = gevent.spawn(watch)
    return lambda: watcher.kill(block=False)


def _nothing() -> None:
    pass
