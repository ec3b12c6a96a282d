"""Trust carried along Responses API chains (``previous_response_id``, ``conversation``).

With ``previous_response_id`` a client sends only its new input items: the provider holds the rest of the
conversation and the proxy does not see it again. So the proxy remembers, for every response it relayed,
whether that response's context was trusted (in the database: every worker and instance reads the same), and a
request continuing it inherits that state:

* the previous response was relayed and its context trusted: nothing changes;
* it was relayed and its context held untrusted data, or it was relayed through another profile (whose
  policies may trust what this one does not), or the proxy never relayed it: the request's context is
  untrusted (an entry in ``exchange.unseen_context``);
* ``conversation``: its items are stored at the provider and can be added to outside the proxy (the
  Conversations API), so a request naming one is always treated as untrusted context.

The calls the client received in a response are remembered too (``{call_id: tool}``): the outputs a request
sends back with ``previous_response_id`` answer calls that are not in the request, and are tied to their tool
through the previous response (when the request itself does not name that call id), so that a trust policy on
that tool applies to them.

The state is recorded in the ``on_response`` stage, off the request path (the background recorder, batched with
the interaction rows), so a Responses exchange costs no more than a chat one. The worker that relayed the response
knows it at once; a request that reaches another worker before the row is written waits for it (polling, at most
``wait`` seconds) and, if it never appears, counts as not relayed: untrusted, never the reverse. A background
response is remembered when it is created (its request's context) and again, never more trusted, when it is
retrieved; a lookup combines what the database holds with what this worker still has to write.

Compactions (``compaction`` items: encrypted summaries the client carries, from ``/responses/compact`` or an answer
to a ``compaction_trigger``) are remembered the same way, under a digest of their encrypted content, with the
trust of the context they summarise: in a later request, one relayed for the same profile from a trusted context
is no longer unseen context; any other stays unseen, with the reason said.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..exchange import Exchange
from ..extensions import db
from ..models import ResponseLink
from ..providers.responses import PREVIOUS  # the family fills it; the chain reads it
from ..providers.responses_items import COMPACTED, COMPACTIONS

_TABLE = ResponseLink.__table__
_INSERTS = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}
_IGNORING = {name: make(_TABLE).on_conflict_do_nothing() for name, make in _INSERTS.items()}


def compaction_key(encrypted_content: str) -> str:
    """Compactions are remembered under a digest of their encrypted content (they have no stable id)."""
    return "compaction:" + hashlib.sha256(encrypted_content.encode()).hexdigest()


def _conversation_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Link:
    """What the proxy knows of one relayed response."""

    profile_id: str
    trusted: bool
    calls: dict[str, str] | None = None

    def merged(self, other: Link | None) -> Link:
        """Never more trusted than either; calls of both."""
        if other is None:
            return self
        return Link(self.profile_id, self.trusted and other.trusted and self.profile_id == other.profile_id,
                    {**(other.calls or {}), **(self.calls or {})} or None)


class ResponseChain:
    def __init__(self, recorder: Any, wait: float = 1.0, poll: float = 0.02, remember: int = 10_000):
        self._recorder = recorder
        self._wait, self._poll, self._size = wait, poll, remember
        self._recent: OrderedDict[str, Link] = OrderedDict()  # this worker's own, until long written
        self._lock = threading.Lock()

    def continue_context(self, exchange: Exchange) -> None:
        """``on_request``: mark the context untrusted when it continues one the proxy cannot vouch for."""
        self._vouch_for_compactions(exchange)
        previous = exchange.state.get(PREVIOUS)
        if not previous:
            return
        response_id = previous.get("previous_response_id")
        if isinstance(response_id, str) and response_id:
            link = self.lookup(response_id)
            if link is not None and link.profile_id == exchange.profile.id:
                _tie_results(exchange, link.calls or {})
            if link is None:
                exchange.unseen_context.append(f"previous_response_id {response_id} (not relayed by this proxy)")
            elif link.profile_id != exchange.profile.id:
                exchange.unseen_context.append(f"previous_response_id {response_id} (relayed for another profile)")
            elif not link.trusted:
                exchange.unseen_context.append(f"previous_response_id {response_id} (its context held untrusted "
                                               f"data)")
        conversation = _conversation_id(previous.get("conversation"))
        if conversation:
            exchange.unseen_context.append(f"conversation {conversation} (its items are stored at the provider)")

    def _vouch_for_compactions(self, exchange: Exchange) -> None:
        """A compaction item the proxy relayed for this profile from a trusted context summarises context the
        proxy saw and trusted: it no longer counts as unseen. Any other stays unseen, with the reason said."""
        for index, (reason, content) in enumerate(exchange.state.get(COMPACTIONS) or ()):
            link = self.lookup(compaction_key(content), wait=index == 0)
            if link is None or reason not in exchange.unseen_context:
                continue
            if link.profile_id == exchange.profile.id and link.trusted:
                exchange.unseen_context.remove(reason)
            else:
                at = exchange.unseen_context.index(reason)
                why = "relayed for another profile" if link.profile_id != exchange.profile.id else \
                    "the context it summarises held untrusted data"
                exchange.unseen_context[at] = f"{reason}: {why}"

    def lookup(self, response_id: str, wait: bool = True) -> Link | None:
        """The response's state: the database's combined with this worker's pending one; a response only this
        worker does not know yet is waited for (another worker may still be writing it)."""
        local = self._recent.get(response_id)
        deadline = time.monotonic() + (self._wait if wait else 0)
        while True:
            stored = _read(response_id)
            if stored is not None:
                return stored.merged(local)
            if local is not None or time.monotonic() >= deadline:
                return local
            time.sleep(self._poll)

    def remember(self, exchange: Exchange) -> None:
        """``on_response``: store whether this response's context was trusted (never raising it later). A
        response the provider does not store (``store: false``, as Codex sends) can be neither continued nor
        retrieved: nothing to remember."""
        # Compactions travel with the client (``encrypted_content``), whatever ``store`` says.
        for content in exchange.state.get(COMPACTED) or ():
            self.store(compaction_key(content), Link(exchange.profile.id, exchange.context_trusted), fresh=True)
        previous = exchange.state.get(PREVIOUS)
        if previous is None or previous.get("store") is False or exchange.response is None \
                or not exchange.response.id:
            return
        calls = {call.id: call.name for call in exchange.response.tool_calls if call.id}
        self.store(exchange.response.id, Link(exchange.profile.id, exchange.context_trusted, calls or None),
                   fresh=not previous.get("retrieved"))

    def store(self, response_id: str, link: Link, fresh: bool = False) -> None:
        """``fresh``: a response just created (its id is new), written as a plain batched row; otherwise (a
        response fetched again) merged with what is stored."""
        with self._lock:
            known = self._recent.pop(response_id, None)
            link = link.merged(known)
            self._recent[response_id] = link
            while len(self._recent) > self._size:
                self._recent.popitem(last=False)
        self._recorder.submit(_new_row(response_id, link) if fresh and known is None else _write(response_id, link))


def _read(response_id: str) -> Link | None:
    try:
        return _read_in(db.session, response_id)
    finally:
        db.session.remove()


def _new_row(response_id: str, link: Link):
    """A recorder job for a new response: a row in the batch's multi-row INSERT (which ignores a conflict)."""
    def job(session: Any) -> tuple[Any, dict[str, Any]]:
        return _IGNORING[session.get_bind().dialect.name], {
            "response_id": response_id, "profile_id": link.profile_id, "trusted": link.trusted,
            "calls": link.calls, "created_at": datetime.now(timezone.utc)}
    return job


def _write(response_id: str, link: Link):
    """A recorder job: one INSERT in the common case (a new response); the merge only when the row exists."""
    def job(session: Any) -> None:
        values = {"response_id": response_id, "profile_id": link.profile_id, "trusted": link.trusted,
                  "calls": link.calls, "created_at": datetime.now(timezone.utc)}
        insert = _INSERTS[session.get_bind().dialect.name](_TABLE).values(**values).on_conflict_do_nothing()
        if session.execute(insert).rowcount == 1:
            return
        stored = _read_in(session, response_id)
        merged = link.merged(stored)
        session.execute(update(_TABLE).where(_TABLE.c.response_id == response_id)
                        .values(trusted=merged.trusted, calls=merged.calls))
    return job


def _read_in(session: Any, response_id: str) -> Link | None:
    row = session.execute(select(_TABLE.c.profile_id, _TABLE.c.trusted, _TABLE.c.calls)
                          .where(_TABLE.c.response_id == response_id)).first()
    return None if row is None else Link(row.profile_id, row.trusted, row.calls)

def _tie_results(exchange: Exchange, calls: dict[str, str]) -> None:
    """Name the results that answer calls of the previous response (not of this request)."""
    own = {call.id for message in exchange.messages for call in message.tool_calls if call.id}
    for result in exchange.tool_results:
        if result.name is None and result.tool_call_id and result.tool_call_id not in own:
            result.name = calls.get(result.tool_call_id)
