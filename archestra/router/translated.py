"""An upstream stream translated on the fly: read by the upstream family's codec, written in the client's
format, and handed to the pipeline as if the upstream had streamed that (so the front family's own relay holds
and decides every call on exactly the bytes the client parses)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Iterable, Iterator

from requests.structures import CaseInsensitiveDict

from ..families.events import AnswerCollector
from ..families.neutral import StreamStart


class TranslatedStream:
    """Looks like the ``requests.Response`` of a stream (what ``proxy._stream`` reads), with translated bytes."""

    def __init__(self, upstream: Any, events: Callable[[], Iterable[list[Any]]], writer: Any, content_type: str,
                 on_end: Callable[[AnswerCollector], None] | None = None) -> None:
        self._upstream, self._events, self._writer, self._on_end = upstream, events, writer, on_end
        self.status_code = 200
        self.headers = CaseInsensitiveDict({"Content-Type": content_type})
        self.url = upstream.url
        self.raw = upstream.raw
        self.collected = AnswerCollector()

    def iter_content(self, chunk_size: int | None = None) -> Iterator[bytes]:
        write, collect = self._writer.write, self.collected.add
        for batch in self._events():
            out = []
            for event in batch:
                collect(event)
                out.append(write(event))
            if out:
                yield b"".join(out)
        tail = self._writer.finish()
        if tail:
            yield tail
        # Reached once the pipeline asks for more after the last bytes: by then its relay decided every call.
        if self._on_end is not None:
            self._on_end(self.collected)

    def close(self) -> None:
        self._upstream.close()


def stream_events(upstream: Any, reader: Any, model: str, answer_id: str | None = None) -> Iterator[list[Any]]:
    """The neutral events of an upstream stream, batch by upstream chunk, then what is left at its end; the
    stream's model is the one asked when the upstream names none, its id ``answer_id`` when given."""
    for chunk in upstream.iter_content(chunk_size=None):
        yield _named(reader.feed(chunk), model, answer_id)
    yield _named(reader.finish(), model, answer_id)


def _named(events: list[Any], model: str, answer_id: str | None) -> list[Any]:
    return [replace(event, model=event.model or model, id=answer_id or event.id) if isinstance(event, StreamStart)
            else event for event in events]
