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

The state is written in the ``on_response`` stage, before the answer's last bytes reach the client, so the
client's next request always finds it. A background response is remembered when it is created (its request's
context) and again, never more trusted, when it is retrieved.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from ..exchange import Exchange
from ..extensions import db
from ..models import ResponseLink

#: ``exchange.state`` key the Responses family fills with ``previous_response_id`` and ``conversation``.
PREVIOUS = "archestra.responses.previous"
log = logging.getLogger("archestra.security")


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
                                                         trusted=row.trusted)
        finally:
            db.session.remove()

    def remember(self, exchange: Exchange) -> None:
        """``on_response``: store whether this response's context was trusted (never raising it later)."""
        if PREVIOUS not in exchange.state or exchange.response is None or not exchange.response.id:
            return
        self.store(exchange.response.id, exchange.profile.id, exchange.context_trusted)

    def store(self, response_id: str, profile_id: str, trusted: bool) -> None:
        def job(session: Any) -> None:
            row = session.get(ResponseLink, response_id)
            if row is None:
                with session.begin_nested():  # another worker may store the same response at the same time
                    session.add(ResponseLink(response_id=response_id, profile_id=profile_id, trusted=trusted,
                                             created_at=datetime.now(timezone.utc)))
            else:
                row.trusted = row.trusted and trusted and row.profile_id == profile_id
        try:
            self._recorder.run_now(job)
        except Exception:
            # Fail closed by omission: a response the proxy does not remember is continued as untrusted.
            log.exception("remembering the trust state of response %s failed", response_id)
