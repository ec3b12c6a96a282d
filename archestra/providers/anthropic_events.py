"""The Anthropic Messages stream events as the official clients read them (the ``events`` of the family's
declared table, ``anthropic_blocks.TABLE``): the stream relay reads the events the SDKs act on, relays the ones
they skip without moving its bookkeeping, and treats an unknown event as the SDKs do."""
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
}
