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

    Most of a stream repeats one event with other text. A relay that keeps such an event as a template
    (``last_template``: a template while the next chunk, if it is one whole event like it, would be read exactly as
    the template says) takes that chunk in ``take_like_last`` without decoding or reading it; the template is asked
    for again after every chunk read in full, since only such a chunk changes what the relay holds.
    """

    #: The body framing this relay reads: ``sse``, ``eventstream`` (AWS), ``json`` (a streamed JSON array) or
    #: ``ndjson`` (one JSON object per line: Ollama's native API).
    framing = "sse"
    #: ``last_template`` after the last chunk read in full, while the decoder holds nothing.
    _fast: Any = None

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
        fast = self._fast
        if fast is not None:
            taken = self.take_like_last(fast, chunk)
            if taken is not None:
                return taken
        self._fast = None
        out: list[bytes] = []
        for event in self._decoder.feed(chunk):
            out += self.feed(event)
        template = self.last_template()
        if template is not None and self._decoder.idle:  # (the template's chunk: one whole event, nothing before)
            self._fast = template
        return out[0] if len(out) == 1 else b"".join(out)

    def last_template(self) -> Any:
        """The template a chunk may now be taken by (``take_like_last``); None: every chunk is read in full."""
        return None

    def take_like_last(self, template: Any, chunk: bytes) -> bytes | None:
        """What the client gets of ``chunk`` when it is the template's event with other values, its values taken
        in as reading it in full would; None: the chunk is read in full."""
        return None

    def finish_bytes(self) -> bytes:
        out = [piece for event in self._decoder.flush() for piece in self.feed(event)]
        return b"".join([*out, *self.finish()])

    def feed(self, event: Any) -> Iterable[bytes]:
        raise NotImplementedError

    def finish(self) -> Iterable[bytes]:
        return ()

    def error_bytes(self, message: str) -> bytes:
        raise NotImplementedError
