"""The context carried along Responses API chains (``previous_response_id``, ``conversation``, compactions).

With ``previous_response_id`` a client sends only its new input items: the provider holds the rest of the
conversation and the proxy does not see it again. So the proxy remembers, for every response it relayed, the
**context** it was made in, not a verdict on it: the tool results the model had read (the request's, the ones
remembered from earlier in the chain, the hosted results of the answer), as the provider holds them, and the
unseen context it referenced. A request continuing it gets that context back and every remembered result is
judged again by the policies as they are now (``on_tool_result``, like the request's own results): an operator
who deletes or changes a trust policy changes the running sessions on their next request, on every worker
(the rows are in the database), in both directions.

* the previous response was relayed for this profile: its remembered results join the view (as messages the
  family never writes back: the provider holds them) and its unseen context stays unseen;
* it was relayed through another profile (whose policies may trust what this one does not), or the proxy
  never relayed it: unseen context;
* ``conversation``: its items are stored at the provider and can be added to outside the proxy (the
  Conversations API), so a request naming one is always unseen context.

The calls the client received in a response are remembered too (``{call_id: tool}``): the outputs a request
sends back with ``previous_response_id`` answer calls that are not in the request, and are tied to their tool
through the previous response (when the request itself does not name that call id), so that a trust policy on
that tool applies to them.

The context is recorded in the ``on_response`` stage, off the request path (the background recorder, batched
with the interaction rows). The worker that relayed the response knows it at once; a request that reaches
another worker before the row is written waits for it (polling, at most ``wait`` seconds) and, if it never
appears, counts as not relayed: untrusted, never the reverse. A background response is remembered when it is
created (its request's context) and again when it is retrieved (the contexts merged: never less); a lookup
combines what the database holds with what this worker still has to write. A context larger than
``MAX_CONTEXT`` characters is remembered as unseen (fail closed), and a row written before contexts were
remembered (no ``context``) counts as unseen context too.

Compactions (``compaction`` items: encrypted summaries the client carries, from ``/responses/compact`` or an answer
to a ``compaction_trigger``) are remembered the same way, under a digest of their encrypted content, with the
context they summarise: in a later request, one relayed for the same profile is no longer unseen context, its
remembered context is judged again instead; any other stays unseen, with the reason said.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..exchange import Exchange, Message, ToolResult
from ..extensions import db
from ..models import ResponseLink
from ..providers.responses import PREVIOUS, REMEMBERED  # the family fills one, never writes the other back
from ..providers.responses_items import COMPACTED, COMPACTIONS
from ..providers.wire import compact_json

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
    """What the proxy remembers of one relayed response: the profile, the context its model read (tool
    results as stored dicts, unseen context; ``results`` None: a row from before contexts were remembered) and
    the calls the client received."""

    profile_id: str
    results: tuple[dict[str, Any], ...] | None = ()
    unseen: tuple[str, ...] = ()
    calls: dict[str, str] | None = None

    def merged(self, other: Link | None) -> Link:
        """Everything either holds (never less context); two profiles are unseen context."""
        if other is None:
            return self
        unseen = _distinct([*self.unseen, *other.unseen])
        if other.profile_id != self.profile_id:
            unseen = _distinct([*unseen, "relayed for more than one profile"])
        results = None if self.results is None or other.results is None else \
            tuple(_distinct([*other.results, *self.results]))
        return Link(self.profile_id, results, tuple(unseen), {**(other.calls or {}), **(self.calls or {})} or None)

    def context(self) -> dict[str, Any] | None:
        return None if self.results is None else {"results": list(self.results), "unseen": list(self.unseen)}


#: The largest remembered context (characters of its JSON); larger is remembered as unseen context.
MAX_CONTEXT = 4_000_000


def _distinct(values: list[Any]) -> list[Any]:
    """In order, without repeats (by their JSON: long chains carry hundreds of results)."""
    seen: set[str] = set()
    kept: list[Any] = []
    for value in values:
        key = json.dumps(value, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            kept.append(value)
    return kept


def context_of(exchange: Exchange) -> tuple[tuple[dict[str, Any], ...], tuple[str, ...]]:
    """The context an exchange's answer was made in: every result the model read, with what the provider holds
    (``content``: the request's own as sent upstream, a hook's edit included, the answer's as they were) and the
    tool's own output when that differs (``original``, judged again later), and the unseen context."""
    results: list[dict[str, Any]] = []
    for result in exchange.tool_results:
        ref = result._ref
        if isinstance(ref, tuple) and ref[0] == REMEMBERED:
            results.append(ref[1])  # the provider still holds what it held
            continue
        results.append(_stored(result, result.content))
        if result.edited:
            results[-1]["original"] = result.original_content
    results += [_stored(result, result.original_content) for result in exchange.answer_results]
    unseen = list(exchange.unseen_context)
    if results and len(compact_json(results)) > MAX_CONTEXT:  # no results: "[]", nothing to measure
        results, unseen = [], [*unseen, "a remembered context too large to keep"]
    return tuple(_distinct(results)), tuple(_distinct(unseen))


def _stored(result: ToolResult, held: str) -> dict[str, Any]:
    stored = {"name": result.name, "content": held, "call_id": result.tool_call_id, "error": result.is_error,
              "server": result.server}
    if result.document is not None:  # the tool's own output as conditions read it (edits change the text only)
        stored["document"] = result.document
    return stored


def recall(exchange: Exchange, link: Link, what: str) -> None:
    """Put a remembered context back into the exchange: its unseen context, and its results as messages the
    family never writes back (the provider holds them), judged again like the request's own: the tool's own
    output is what is judged."""
    if link.results is None:
        exchange.unseen_context.append(f"{what} (remembered before the proxy kept contexts)")
        return
    exchange.unseen_context += [entry for entry in link.unseen if entry not in exchange.unseen_context]
    remembered = []
    for stored in link.results:
        output = stored.get("original", stored.get("content")) or ""
        result = ToolResult(stored.get("call_id"), stored.get("name"), output, is_error=bool(stored.get("error")),
                            document=stored.get("document"), server=bool(stored.get("server")),
                            _ref=(REMEMBERED, stored), _original=output)
        remembered.append(Message("assistant" if result.server else "tool", None, tool_results=[result],
                                  _ref=REMEMBERED))
    if remembered:
        exchange.messages[:0] = remembered
        # They are part of the context as parsed, not an edit for the family to write back.
        exchange.freeze_original()


class ResponseChain:
    def __init__(self, recorder: Any, wait: float = 1.0, poll: float = 0.02, remember: int = 10_000):
        self._recorder = recorder
        self._wait, self._poll, self._size = wait, poll, remember
        self._recent: OrderedDict[str, Link] = OrderedDict()  # this worker's own, until long written
        self._lock = threading.Lock()

    def continue_context(self, exchange: Exchange) -> None:
        """``on_request``: put back the context the request continues, or mark it unseen."""
        self._vouch_for_compactions(exchange)
        previous = exchange.state.get(PREVIOUS)
        if not previous:
            return
        response_id = previous.get("previous_response_id")
        if isinstance(response_id, str) and response_id:
            link = self.lookup(response_id)
            if link is None:
                exchange.unseen_context.append(f"previous_response_id {response_id} (not relayed by this proxy)")
            elif link.profile_id != exchange.profile.id:
                exchange.unseen_context.append(f"previous_response_id {response_id} (relayed for another profile)")
            else:
                _tie_results(exchange, link.calls or {})
                recall(exchange, link, f"previous_response_id {response_id}")
        conversation = _conversation_id(previous.get("conversation"))
        if conversation:
            exchange.unseen_context.append(f"conversation {conversation} (its items are stored at the provider)")

    def _vouch_for_compactions(self, exchange: Exchange) -> None:
        """A compaction item the proxy relayed for this profile summarises context the proxy saw: it no longer
        counts as unseen, the context it summarises is put back instead. Any other stays unseen, with the
        reason said."""
        for index, (reason, content) in enumerate(exchange.state.get(COMPACTIONS) or ()):
            link = self.lookup(compaction_key(content), wait=index == 0)
            if link is None or reason not in exchange.unseen_context:
                continue
            if link.profile_id == exchange.profile.id:
                exchange.unseen_context.remove(reason)
                recall(exchange, link, reason)
            else:
                at = exchange.unseen_context.index(reason)
                exchange.unseen_context[at] = f"{reason}: relayed for another profile"

    def lookup(self, response_id: str, wait: bool = True) -> Link | None:
        """The response's remembered context: the database's combined with this worker's pending one; a
        response only this worker does not know yet is waited for (another worker may still be writing it)."""
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
        """``on_response``: store the context this response was made in. A response the provider does not
        store (``store: false``, as Codex sends) can be neither continued nor retrieved: nothing to remember."""
        previous = exchange.state.get(PREVIOUS)
        stored = not (previous is None or previous.get("store") is False or exchange.response is None
                      or not exchange.response.id)
        compacted = exchange.state.get(COMPACTED) or ()
        if not stored and not compacted:
            return  # nothing to remember: the context is not even gathered (Codex sends ``store: false``)
        results, unseen = context_of(exchange)
        # Compactions travel with the client (``encrypted_content``), whatever ``store`` says.
        for content in compacted:
            self.store(compaction_key(content), Link(exchange.profile.id, results, unseen), fresh=True)
        if not stored:
            return
        calls = {call.id: call.name for call in exchange.response.tool_calls if call.id}
        self.store(exchange.response.id, Link(exchange.profile.id, results, unseen, calls or None),
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
        return _IGNORING[session.get_bind().dialect.name], _values(response_id, link)
    return job


def _write(response_id: str, link: Link):
    """A recorder job: one INSERT in the common case (a new response); the merge only when the row exists."""
    def job(session: Any) -> None:
        insert = _INSERTS[session.get_bind().dialect.name](_TABLE).values(**_values(response_id, link)) \
            .on_conflict_do_nothing()
        if session.execute(insert).rowcount == 1:
            return
        stored = _read_in(session, response_id)
        merged = link.merged(stored)
        session.execute(update(_TABLE).where(_TABLE.c.response_id == response_id)
                        .values(calls=merged.calls, context=merged.context()))
    return job


def _values(response_id: str, link: Link) -> dict[str, Any]:
    return {"response_id": response_id, "profile_id": link.profile_id, "calls": link.calls,
            "context": link.context(), "created_at": datetime.now(timezone.utc)}


def _read_in(session: Any, response_id: str) -> Link | None:
    row = session.execute(select(_TABLE.c.profile_id, _TABLE.c.calls, _TABLE.c.context)
                          .where(_TABLE.c.response_id == response_id)).first()
    if row is None:
        return None
    context = row.context if isinstance(row.context, dict) else None
    if context is None:  # written before contexts were remembered: a verdict, which is not re-judged
        return Link(row.profile_id, None, (), row.calls)
    return Link(row.profile_id, tuple(context.get("results") or ()), tuple(context.get("unseen") or ()), row.calls)


def _tie_results(exchange: Exchange, calls: dict[str, str]) -> None:
    """Name the results that answer calls of the previous response (not of this request)."""
    own = {call.id for message in exchange.messages for call in message.tool_calls if call.id}
    for result in exchange.tool_results:
        if result.name is None and result.tool_call_id and result.tool_call_id not in own:
            result.name = calls.get(result.tool_call_id)
