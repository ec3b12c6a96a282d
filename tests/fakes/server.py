"""A scriptable fake upstream HTTP server: records every request, answers what the test says.

Replies are written with chunked transfer encoding and flushed piece by piece, like real providers'
streams, so the proxy sees chunk boundaries exactly where the test puts them.
"""
from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable

from requests.structures import CaseInsensitiveDict


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes] = ()
    delay: float = 0.0          # seconds between chunks
    reset_after: int | None = None  # drop the connection after this many chunks (no terminator)
    hold_open: float = 0.0      # after the chunks, stay silent this long (or until the client goes)
    closed: threading.Event = field(default_factory=threading.Event)  # set when the client went away


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Reply(status, {"Content-Type": "application/json", **(headers or {})}, [data])


def sse_reply(events: Iterable[bytes], **kwargs: Any) -> Reply:
    headers = {"Content-Type": "text/event-stream; charset=utf-8", **kwargs.pop("headers", {})}
    return Reply(200, headers, events, **kwargs)  # consumed lazily: generators pace the stream


def _client_left_within(sock: socket.socket, seconds: float) -> bool:
    """Silent wait: True as soon as the peer closes (or resets) the connection. ``poll``, not ``select``: a test
    process that has opened many sockets hands out descriptors above select's limit of 1024."""
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
    readable = poller.poll(seconds * 1000)
    try:
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except ConnectionResetError:
        return True


class FakeUpstream:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.handler: Callable[[Received], Reply] = lambda r: json_reply({"error": "no reply scripted"}, 500)
        self.last_reply: Reply | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                got = Received(self.command, self.path, CaseInsensitiveDict(self.headers.items()), body)
                fake.received.append(got)
                reply = fake.handler(got)
                fake.last_reply = reply
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for count, chunk in enumerate(reply.chunks):
                        if reply.reset_after is not None and count >= reply.reset_after:
                            self.close_connection = True
                            self.connection.shutdown(2)
                            return
                        if count and reply.delay:
                            time.sleep(reply.delay)
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    if reply.hold_open and _client_left_within(self.connection, reply.hold_open):
                        reply.closed.set()
                        self.close_connection = True
                        return
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    reply.closed.set()
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()

    def reply_with(self, handler: Callable[[Received], Reply] | Reply) -> None:
        self.handler = handler if callable(handler) else (lambda r: handler)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
