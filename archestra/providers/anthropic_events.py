"""The Anthropic Messages stream events as the official clients read them (the ``events`` of the family's
declared table, ``anthropic_blocks.TABLE``).

What the clients do (anthropic Python 2.x ``_streaming.Stream`` and ``lib/streaming/_messages.py``; the
TypeScript ``@anthropic-ai/sdk`` ``core/streaming.ts`` and ``lib/MessageStream`` / ``BetaMessageStream``, which
Claude Code uses): an event without an ``event:`` line, or named ``ping``, is skipped whatever its data; one
named ``error`` raises and ends the stream; every other named event with data is parsed and acted on by its
data's ``type`` (the name is not looked at again), and an event type or delta type they do not know is handed
to the application unaccumulated. ``event:<name>`` rows are the events by name (the relay requires the name and
the data's ``type`` to agree for every event the clients act on: some clients dispatch by the name, the current
ones by the type); ``delta:<type>`` rows are the ``delta`` types of ``content_block_delta``.

Anything not here is :data:`UNKNOWN_EVENT`: the stream is cut with an error. A type the proxy does not know may
be one a newer client acts on (a new delta kind that writes a call's input, a new block event), and the
application sees it either way; a new event type then fails the SDK-type test and breaks streams visibly
instead of passing unread.
"""
from __future__ import annotations

from .shapes import Reading

EVENTS: dict[str, Reading] = {
    "event:message_start": Reading.READ,
    "event:content_block_start": Reading.READ,
    "event:content_block_delta": Reading.READ,
    "event:content_block_stop": Reading.READ,
    "event:message_delta": Reading.READ,
    "event:message_stop": Reading.READ,
    "event:error": Reading.READ,
    "event:ping": Reading.SKIPPED,
    "delta:text_delta": Reading.READ,
    "delta:input_json_delta": Reading.READ,
    "delta:citations_delta": Reading.OPAQUE,
    "delta:thinking_delta": Reading.OPAQUE,
    "delta:signature_delta": Reading.OPAQUE,
    "delta:compaction_delta": Reading.OPAQUE,
}

#: An event name / type or a delta type not in :data:`EVENTS`: the stream is cut (see the module docstring).
UNKNOWN_EVENT = Reading.REFUSED

#: Why some rows read as they do (for the family table's ``notes``).
NOTES: dict[str, str] = {
    "event:ping": "skipped by name whatever its data (a ping carrying a block adds no block for the clients)",
    "event:error": "the clients raise and read no further: held calls are dropped, nothing after it is relayed",
    "delta:citations_delta": "a citation added to a text block: no call, relayed unread",
    "delta:thinking_delta": "reasoning text: no call, relayed unread",
    "delta:signature_delta": "a reasoning signature: relayed unread",
    "delta:compaction_delta": "a compaction block's summary (beta): relayed unread",
}


def reading(key: str) -> Reading:
    """The reading of an ``event:<name>`` or ``delta:<type>`` key: :data:`UNKNOWN_EVENT` when not declared."""
    return EVENTS.get(key, UNKNOWN_EVENT)
