"""InvokeModelWithResponseStream: the AWS event stream as an envelope around a model family's own stream.

Each ``chunk`` event's payload is ``{"bytes": base64(one event of the model's own stream, as JSON)}`` (plus
padding); the last one also carries ``amazon-bedrock-invocationMetrics``. The envelope unwraps every chunk
and feeds the event to the family's own relay (Anthropic Messages, Converse-shaped Nova, plain text), whose
decisions hold for both: what the relay passes or replays is the original frame, byte for byte; what it
writes itself (a refusal, a rewritten end event) is wrapped in a new ``chunk`` frame with valid checksums.
A chunk the proxy cannot read is never passed: the stream ends with an error frame. While the family's relay takes
a text event like its last one without reading it whole (``text_template``), a frame that is the last chunk frame
with another ``bytes`` (and padding), whose checksums hold and whose event is such a text event, is taken without
being unwrapped whole (``last_template``): what reading it whole would take in, and the same frame passed.

Frames are read as botocore reads them (the boto3 client and the Anthropic SDK's Bedrock client both use its
parser): ``:message-type`` ``exception`` or ``error`` raises in the client and ends the stream (nothing after
it is relayed); every other frame is an event named by ``:event-type``, whatever its other headers say; a
name other than ``chunk`` yields nothing the client acts on (passed in its place, moving nothing).
"""
from __future__ import annotations

import base64
import binascii
from typing import Any, Callable, Iterable

from ..exchange import Exchange, Usage
from ..streaming.event_template import EventTemplate
from ..streaming.eventstream import (PRELUDE, EventMessage, EventStreamDecoder, encode_event, encode_exception,
                                     payload_if_like)
from ..streaming.sse import SSEDecoder
from ..strict_json import loads_strict
from .relay import StreamRelay
from .shapes import FamilyTable, Reading
from .wire import compact_json

METRICS = "amazon-bedrock-invocationMetrics"
#: The envelope's events (botocore's ``ResponseStream`` members): every body kind's table holds them.
EVENTS = {"event:chunk": Reading.READ, **{f"event:{name}": Reading.SKIPPED for name in (
    "internalServerException", "modelStreamErrorException", "validationException", "throttlingException",
    "modelTimeoutException", "serviceUnavailableException")}}
TABLE = FamilyTable("Bedrock InvokeModel event stream", {}, {}, EVENTS, unknown_event=Reading.SKIPPED)
#: ``(original frame, the event's JSON, the event's text)`` -> the event the family's relay reads.
InnerEvent = Callable[[bytes, dict[str, Any], str], Any]


def chunk_frame(event_json: str) -> bytes:
    """A ``chunk`` event carrying one model stream event."""
    encoded = base64.b64encode(event_json.encode()).decode()
    return encode_event("chunk", compact_json({"bytes": encoded}).encode())


def chunk_event(message: EventMessage) -> tuple[dict[str, Any], str]:
    """The model event a ``chunk`` frame carries (ValueError when it cannot be read exactly)."""
    envelope = loads_strict(message.payload)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("bytes"), str):
        raise ValueError("a chunk event without its bytes")
    try:
        text = _decoded(envelope["bytes"]).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("a chunk event whose bytes are not base64 UTF-8") from None
    data = loads_strict(text)
    if not isinstance(data, dict):
        raise ValueError("a chunk event that is not a JSON object")
    return data, text


def _decoded(text: str) -> bytes:
    """Base64 read strictly, as ``base64.b64decode(validate=True)`` reads it (binascii.Error; ValueError when the
    text is not ASCII), without its wrapper."""
    return binascii.a2b_base64(text, strict_mode=True)


class ChunkEnvelope(StreamRelay):
    framing = "eventstream"

    def __init__(self, exchange: Exchange, inner: StreamRelay, inner_event: InnerEvent,
                 error_event: Callable[[EventMessage], Any] = lambda message: message, writes_frames: bool = False):
        """``inner_event`` and ``error_event`` turn a chunk / an exception frame into what ``inner`` reads;
        ``writes_frames``: ``inner`` writes event-stream frames of its own (the Converse relay), not SSE."""
        # No StreamRelay.__init__: the family's relay owns the exchange's response view.
        self._decoder = EventStreamDecoder()
        self.inner, self._inner_event, self._error_event = inner, inner_event, error_event
        self._writes_frames = writes_frames
        self.response, self.text = inner.response, inner.text
        self.ended = False  # the family's relay says (kept in step after every event)
        self._closed = False  # an exception frame came: the client raised, nothing more is relayed
        self._last_chunk: EventMessage | None = None  # the last chunk frame read whole
        self._metered: Any = None  # a text template of the family's relay that an event with the metrics kept

    def sync_view(self) -> Any:
        return self.inner.sync_view()

    def feed(self, message: EventMessage) -> Iterable[bytes]:
        data: dict[str, Any] = {}
        if self._closed:
            return []
        if message.is_exception:  # the family's own error path
            self._closed = True
            event = self._error_event(message)
        elif TABLE.event(message.event_type) is Reading.READ:
            data, text = chunk_event(message)
            event = self._inner_event(message.raw, data, text)
            self._last_chunk = message
        else:  # botocore yields nothing for it: in its place among held frames, read by no one
            hold = getattr(self.inner, "pass_or_hold", None)
            return hold(message.raw) if hold is not None else [message.raw]
        out = self._wrap(self.inner.feed(event))
        self.ended = self.inner.ended
        if METRICS in data:
            # A text template the family's relay may have made of this event: its copies carry the metrics too,
            # so they are read whole (the usage below is set again from each)
            self._metered = self._text_template()
        metrics = data.get(METRICS)
        if isinstance(metrics, dict):  # what Bedrock billed: the usage of record
            self.response.usage = Usage(metrics.get("inputTokenCount"), metrics.get("outputTokenCount"))
        return out

    def _text_template(self) -> EventTemplate | None:
        template = getattr(self.inner, "text_template", None)
        return template() if template is not None else None

    def last_template(self) -> tuple[bytes, EventTemplate, int, EventTemplate] | None:
        """While the family's relay would take a text event like its last one (``text_template``): a chunk frame
        like the last one read whole (the same header block, the same payload JSON with another ``bytes`` and
        padding) whose event is such a text event is taken without being unwrapped whole."""
        inner, last = self._text_template(), self._last_chunk
        if inner is None or last is None or self._closed or inner is self._metered:
            return None
        payload = EventTemplate.of(last.payload, strings=("bytes", "p")) or \
            EventTemplate.of(last.payload, strings=("bytes",))
        if payload is None:
            return None
        return last.raw[PRELUDE:len(last.raw) - len(last.payload) - 4], payload, payload.names.index("bytes"), inner

    def take_like_last(self, template: tuple[bytes, EventTemplate, int, EventTemplate], chunk: bytes) -> bytes | None:
        headers, payload, place, inner = template
        body = payload_if_like(chunk, headers)
        values = payload.match(body) if body is not None else None
        if values is None:
            return None
        try:
            event = _decoded(values[place])
        except (binascii.Error, ValueError):  # read whole: refused there
            return None
        return chunk if self.inner.take_text(inner, event) else None  # type: ignore[attr-defined]

    def finish(self) -> Iterable[bytes]:
        return self._wrap(self.inner.finish())

    def error_bytes(self, message: str) -> bytes:
        return encode_exception("internalServerException", message)

    def _wrap(self, pieces: Iterable[bytes]) -> list[bytes]:
        """Original frames as they came; events the family's relay wrote, each in a new chunk frame."""
        out = []
        for piece in pieces:
            if piece.startswith((b"event:", b"data:")):  # written by an SSE family (Anthropic)
                out += [chunk_frame(event.data) for event in SSEDecoder().feed(piece) if event.data]
                continue
            written = [m for m in EventStreamDecoder().feed(piece)
                       if m.message_type == "event" and m.event_type != "chunk"] if self._writes_frames else []
            if written:  # written by the Converse family (Nova): {"<event type>": payload}
                out += [chunk_frame(f'{{"{m.event_type}":{m.payload.decode()}}}') for m in written]
            else:
                out.append(piece)
        return out
