"""How an API family reads its wire format: one declared table per family, and the rule for everything else.

Every request part / item / block / field that can carry content or a reference, and every answer part / item
/ event, has one :class:`Reading`. A family declares its table once (a module-level :class:`FamilyTable`) and
its parser asks the table, never a list of its own:

* in a **request**, a type the table does not hold is ``UNSEEN`` (context the proxy cannot read: the context
  becomes untrusted, with the reason said);
* in an **answer**, a type the table does not hold is ``REFUSED`` (the answer is replaced by the refusal
  message, or a stream already under way is cut with an error);
* a stream **event** the client's own parser skips is ``SKIPPED`` (relayed, but it moves none of the proxy's
  bookkeeping); one the table does not hold is treated as the client treats an unknown event, which the
  family's table says in ``unknown_event``.

Never "harmless" by default. ``providers/tables.py`` lists every family's tables; ``docs/security-tables.md`` is
generated from them (``python -m archestra.providers.tables``) and a test keeps it current.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


class Reading(str, enum.Enum):
    """What a part of a wire format is, for the security engine."""

    #: Content the proxy has read (text, inline data it can see): nothing to decide.
    INERT = "inert"
    #: A call the client will execute: decided by the tool-call policies.
    CALL = "call"
    #: A tool result (client-run or provider-run): judged by the tool-result policies; untrusted unless trusted.
    RESULT = "result"
    #: A provider-executed tool (declared in a request, or its call in an answer): decided before the request
    #: goes upstream, its results taint the context after.
    SERVER_TOOL = "server tool"
    #: Context the proxy cannot read (a URL, a file or container id, a stored or cached object): untrusted.
    UNSEEN = "unseen context"
    #: Metadata with no content (ids, usage, reasoning signatures the model alone reads): passes unread.
    OPAQUE = "opaque"
    #: Not understood in an answer: the answer is refused (502 for a stream already under way).
    REFUSED = "refused"
    #: A stream event the client's parser skips: relayed, moves no bookkeeping.
    SKIPPED = "skipped"
    #: A stream event the relay reads (and that the client acts on).
    READ = "read"


@dataclass(frozen=True)
class FamilyTable:
    """One API family's declared table. Keys are ``"<where>:<type>"`` (``"content:image_url"``,
    ``"item:shell_call"``, ``"event:content_block_delta"``): ``where`` names the place in the wire format, so
    that one type name can be read differently in two places. ``notes`` explain a row where its reading needs
    a reason (shown in the generated document)."""

    family: str
    request: Mapping[str, Reading]
    answer: Mapping[str, Reading]
    events: Mapping[str, Reading] = field(default_factory=dict)
    #: What an event name the table does not hold is: how the family's official clients treat one.
    unknown_event: Reading = Reading.REFUSED
    notes: Mapping[str, str] = field(default_factory=dict)
    #: Each place's readings by type name, and their names: worked out once per place (see ``place``).
    _places: dict[tuple[str, str], tuple[Mapping[str, Reading], frozenset[str]]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def in_request(self, where: str, kind: object) -> Reading:
        """The reading of a request part; UNSEEN for anything not declared (a missing or non-string type too)."""
        return self.request.get(f"{where}:{kind}", Reading.UNSEEN) if isinstance(kind, str) else Reading.UNSEEN

    def in_answer(self, where: str, kind: object) -> Reading:
        """The reading of an answer part; REFUSED for anything not declared."""
        return self.answer.get(f"{where}:{kind}", Reading.REFUSED) if isinstance(kind, str) else Reading.REFUSED

    def event(self, name: object) -> Reading:
        """The reading of a stream event by its name (or type)."""
        return self.events.get(f"event:{name}", self.unknown_event) if isinstance(name, str) else self.unknown_event

    def types(self, side: str, where: str) -> frozenset[str]:
        """The declared type names of one place (``side`` is ``request``, ``answer`` or ``events``)."""
        return self._place(side, where)[1]

    def place(self, side: str, where: str) -> Mapping[str, Reading]:
        """The readings of one place by type name: ``place(side, where).get(kind, default)`` is
        ``in_request`` / ``in_answer`` for a ``kind`` that is a string (or any hashable non-string, which no
        key equals), without building ``"<where>:<kind>"`` for every part of every message."""
        return self._place(side, where)[0]

    def _place(self, side: str, where: str) -> tuple[Mapping[str, Reading], frozenset[str]]:
        # Asked for every message and tool call: worked out once per place (the table cannot change, see
        # __post_init__).
        known = self._places.get((side, where))
        if known is None:
            prefix = f"{where}:"
            readings = MappingProxyType({key[len(prefix):]: reading for key, reading in getattr(self, side).items()
                                         if key.startswith(prefix)})
            known = self._places[(side, where)] = (readings, frozenset(readings))
        return known

    def __post_init__(self) -> None:
        # A declared table is a constant: read-only copies, so that what ``place`` remembers stays true.
        for side in ("request", "answer", "events", "notes"):
            object.__setattr__(self, side, MappingProxyType(dict(getattr(self, side))))


def unseen_reason(family: str, where: str, kind: object) -> str:
    """The ``exchange.unseen_context`` entry for a request part the table does not hold."""
    shown = kind if isinstance(kind, str) else type(kind).__name__
    return f"a {family} {where} of type {shown!r} the proxy does not read"


def refused_reason(family: str, where: str, kind: object) -> str:
    """The reason a call is refused when the answer holds a part the table does not hold."""
    shown = kind if isinstance(kind, str) else type(kind).__name__
    return (f"The answer holds a {family} {where} of type {shown!r} that the proxy does not understand; "
            "what it does not understand it does not let through.")


def markdown(tables: list[FamilyTable]) -> str:
    """The tables as one Markdown document (docs/security-tables.md)."""
    lines = ["# What the proxy reads, family by family", "",
             "Generated by `python -m archestra.providers.tables` from the tables in `archestra/providers/`; a test",
             "keeps it current. The rule: in a request, anything not listed is **unseen context** (the context is",
             "untrusted); in an answer, anything not listed is **refused**; a stream event not listed is read the",
             "way the family's official clients read an unknown event (said under each table).", ""]
    for table in tables:
        lines += [f"## {table.family}", "", "| side | where | type | reading | note |", "|---|---|---|---|---|"]
        for side in ("request", "answer", "events"):
            for key, reading in sorted(getattr(table, side).items()):
                where, _, kind = key.partition(":")
                lines.append(f"| {side} | {where} | `{kind}` | {reading.value} | {table.notes.get(key, '')} |")
        lines += ["", f"Unknown stream events: {table.unknown_event.value}.", ""]
    return "\n".join(lines)

