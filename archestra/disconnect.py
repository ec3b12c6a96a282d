"""Noticing a client that hangs up while its stream waits on a silent upstream.

A relay only learns that its client left when it next writes to it. While a model thinks (or an upstream
stalls) nothing is written, so the upstream connection, and the provider's generation that is billed by the
token, would run on until the next chunk or the read timeout. Under gunicorn's gevent worker a greenlet
watches the client socket instead: the client's FIN means it is gone, and ``on_gone`` runs at once.
"""
from __future__ import annotations

import os
import select
import socket
from typing import Any, Callable

# How often to look again for the client's FIN when bytes it sent are waiting unread in front of it (a TLS
# close_notify alert, a pipelined request): readiness no longer tells anything then.
RECHECK_SECONDS = 0.25
_RDHUP = getattr(select, "POLLRDHUP", 0)  # Linux: the peer's FIN, even behind unread bytes
_HUNG_UP = _RDHUP | select.POLLHUP | select.POLLERR | select.POLLNVAL


def watch_client(environ: dict[str, Any], on_gone: Callable[[], None]) -> Callable[[], None]:
    """Start watching the request's client socket; returns the function that stops watching."""
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return _nothing  # not under gunicorn (the development server): writes still notice
    try:
        import gevent
        from gevent.monkey import get_original, is_module_patched
        from gevent.socket import wait_read
    except ImportError:
        return _nothing
    if not is_module_patched("socket"):
        return _nothing
    poll = get_original("select", "poll")

    def watch() -> None:
        try:
            fd = sock.fileno()
            wait_read(fd)
            while not _hung_up(fd, poll):
                gevent.sleep(RECHECK_SECONDS)
        except (OSError, ValueError):
            pass
        on_gone()

    watcher = gevent.spawn(watch)
    return lambda: watcher.kill(block=False)


def _hung_up(fd: int, poll: Callable[[], Any]) -> bool:
    """True once the peer has shut its side (FIN), whatever bytes it sent before are still unread."""
    if _RDHUP:
        poller = poll()
        poller.register(fd, select.POLLIN | _HUNG_UP)
        return any(mask & _HUNG_UP for _, mask in poller.poll(0))
    # Without POLLRDHUP: peek below TLS on a duplicate descriptor; only end-of-file with nothing in front of it
    # can be told apart (the bytes stay for the server to read).
    with socket.socket(fileno=os.dup(fd)) as raw:
        raw.setblocking(False)
        try:
            return raw.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False


def _nothing() -> None:
    pass
