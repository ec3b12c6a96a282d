"""The stream relay interface: how a family's stream passes through the proxy, decided as it goes."""
from __future__ import annotations

from typing import Any, Iterable

from ..exchange import Exchange, Response
from ..streaming.sse import SSEDecoder


class StreamRelay:
    """Turns upstream stream bytes into bytes for the client, filling ``exchange.response``.

    The pipeline calls ``feed_bytes`` with each upstream chunk and ``finish_bytes`` once at the end.
    Subclasses get decoded events in ``feed`` (SSE by default: override ``make_decoder`` for another
    framing) and may add bytes in ``finish``. ``error_bytes`` renders a mid-stream failure in the
    provider's own stream format.
    """

    #: The body framing this relay reads: ``sse``, ``eventstream`` (AWS), ``json`` (a streamed JSON array) or
    #: ``ndjson`` (one JSON object per line: Ollama's native API).
    framing = "sse"

    def __init__(self, exchange: Exchange) -> None:
        self._decoder = self.make_decoder()
        self.response = exchange.response = Response(model=exchange.model)
        self.text: list[str] = []  # the answer's text so far, refusals included
        #: Set once the provider's terminal event was fed: the answer is complete (usage included).
        self.ended = False

    def sync_view(self) -> Response:
        """Bring ``exchange.response`` up to date with what was relayed (also after an early end)."""
        self.response.text = "".join(self.text)
        return self.response

    def make_decoder(self) -> Any:
        return SSEDecoder()

    def feed_bytes(self, chunk: bytes) -> bytes:
        out: list[bytes] = []
        for event in self._decoder.feed(chunk):
            out += self.feed(event)
        return out[0] if len(out) == 1 else b"".join(out)

    def finish_bytes(self) -> bytes:
        out = [piece for event in self._decoder.flush() for piece in self.feed(event)]
        return b"".join([*out, *self.finish()])

    def feed(self, event: Any) -> Iterable[bytes]:
        raise NotImplementedError

    def finish(self) -> Iterable[bytes]:
        return ()

    def error_bytes(self, message: str) -> bytes:
        raise NotImplementedError
