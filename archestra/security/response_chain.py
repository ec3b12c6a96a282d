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

The state is written in the ``on_response`` stage, before the answer's last bytes reach the client, so the
client's next request always finds it. A background response is remembered when it is created (its request's
context) and again, never more trusted, when it is retrieved.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..exchange import Exchange
from ..extensions import db
from ..models import ResponseLink

#: ``exchange.state`` key the Responses family fills with ``previous_response_id`` and ``conversation``.
PREVIOUS = "archestra.responses.previous"
log = logging.getLogger("archestra.security")
_TABLE = ResponseLink.__table__
_INSERTS = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}


def _conversation_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


class ResponseChain:
    def __init__(self, recorder: Any):
        self._recorder = recorder

    def continue_context(self, exchange: Exchange) -> None:
        """``on_request``: mark the context untrusted when it continues one the proxy cannot vouch for."""
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

    @staticmethod
    def lookup(response_id: str) -> ResponseLink | None:
        try:
            row = db.session.get(ResponseLink, response_id)
            return None if row is None else ResponseLink(response_id=row.response_id, profile_id=row.profile_id,
                                                         trusted=row.trusted, calls=row.calls)
        finally:
            db.session.remove()

    def remember(self, exchange: Exchange) -> None:
        """``on_response``: store whether this response's context was trusted (never raising it later). A
        response the provider does not store (``store: false``, as Codex sends) can be neither continued nor
        retrieved: nothing to remember."""
        previous = exchange.state.get(PREVIOUS)
        if previous is None or previous.get("store") is False or exchange.response is None \
                or not exchange.response.id:
            return
        calls = {call.id: call.name for call in exchange.response.tool_calls if call.id}
        self.store(exchange.response.id, exchange.profile.id, exchange.context_trusted, calls)

    def store(self, response_id: str, profile_id: str, trusted: bool, calls: dict[str, str] | None = None) -> None:
        row = {"response_id": response_id, "profile_id": profile_id, "trusted": trusted, "calls": calls or None,
               "created_at": datetime.now(timezone.utc)}

        def write(connection: Any) -> None:
            # One INSERT in the common case (a new response); the merge only when the row exists (a background
            # response created, then retrieved): never more trusted than before, calls added.
            insert = _INSERTS[connection.dialect.name](_TABLE).values(**row).on_conflict_do_nothing()
            if connection.execute(insert).rowcount == 1:
                return
            known = connection.execute(select(_TABLE.c.profile_id, _TABLE.c.trusted, _TABLE.c.calls)
                                       .where(_TABLE.c.response_id == response_id)).first()
            if known is None:
                return
            connection.execute(update(_TABLE).where(_TABLE.c.response_id == response_id).values(
                trusted=known.trusted and trusted and known.profile_id == profile_id,
                calls={**(known.calls or {}), **(calls or {})} or None))
        try:
            self._recorder.run_on_connection(write)
        except Exception:
            # Fail closed by omission: a response the proxy does not remember is continued as untrusted.
            log.exception("remembering the trust state of response %s failed", response_id)

def _tie_results(exchange: Exchange, calls: dict[str, str]) -> None:
    """Name the results that answer calls of the previous response (not of this request)."""
    own = {call.id for message in exchange.messages for call in message.tool_calls if call.id}
    for result in exchange.tool_results:
        if result.name is None and result.tool_call_id and result.tool_call_id not in own:
            result.name = calls.get(result.tool_call_id)
