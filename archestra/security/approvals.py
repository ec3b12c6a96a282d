"""Tool calls held back for a person's approval (``require_approval`` call policies).

A call a ``require_approval`` policy matches is refused like a blocked one (the refusal text names its approval),
and a pending approval is stored: profile, session, tool, arguments, the context's labels and who asked (virtual
key, ``X-Archestra-User-Id`` / ``-Agent-Id``). A person with the operator or admin role approves or rejects it
(``/api/approvals``, the console's Approvals page); the webhook (``ARCHESTRA_APPROVAL_WEBHOOK_URL``) is told.

Once approved, the same call (same profile, same session, same tool, same arguments: its :func:`fingerprint`) made
again within ``ARCHESTRA_APPROVAL_WINDOW_SECONDS`` of the approval passes exactly once: the approval is consumed
by one conditional UPDATE (``status = 'approved'`` and not expired, to ``used``), so of two workers racing with
the same retry one passes and the other is refused. A pending approval not decided within the window, or an
approved one not used within it, expires; a rejected call stays refused for the window, with the approver's
reason; after that (and after a use or an expiry) the same call asks for a new approval.
"""
from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..exchange import Exchange, ToolCall
from ..hooks import Block
from ..models import Approval
from .names import normalize_tool_name

log = logging.getLogger("archestra.approvals")
PENDING, APPROVED, REJECTED, USED, EXPIRED = "pending", "approved", "rejected", "used", "expired"
STATUSES = (PENDING, APPROVED, REJECTED, USED, EXPIRED)
#: ``Exchange.state`` key: ``[(call, approval id)]``, the approved calls of the answer being decided, consumed
#: once every call of the answer passed (:meth:`ApprovalGate.consume`).
APPROVED_CALLS = "archestra.approved_calls"


def now() -> datetime:
    return datetime.now(timezone.utc)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands stored UTC times back naive."""
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


def canonical_arguments(arguments: Any) -> str:
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(profile_id: str, session_id: str | None, tool: str, arguments: Any) -> str:
    """What makes two calls "the same call": profile, session (none counts as one), tool (normalised), arguments."""
    parts = [profile_id, session_id or "", normalize_tool_name(tool), canonical_arguments(arguments)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def awaiting_text(approval_id: str, window: float) -> str:
    return (f"This call awaits a person's approval (approval {approval_id}). Once an operator approves it (the "
            f"archestra console's Approvals page, or POST /api/approvals/{approval_id}/approve), make exactly the "
            f"same call again within {_duration(window)} of the approval: it will pass once.")


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours > 1 else ''}"
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes > 1 else ''}"
    return f"{seconds:g} seconds"


class ApprovalGate:
    """The database side of ``require_approval``: finds the call's approval, or asks for one."""

    def __init__(self, run_now: Callable[[Callable[[Any], Any]], None], window: float,
                 notifier: Notifier | None = None):
        self._run_now = run_now
        self.window = window
        self.notifier = notifier

    def check(self, exchange: Exchange, call: ToolCall, reason: str | None) -> None:
        """Returns when an approval of this very call is waiting to be used (noted in ``exchange.state``, consumed
        by :meth:`consume` once the whole answer passed); else raises :class:`Block` saying why (awaiting a new or
        pending approval, rejected)."""
        key = fingerprint(exchange.profile.id, exchange.client.session_id, call.name, call.arguments)
        outcome: dict[str, Any] = {}

        def job(session: Any) -> None:
            moment = now()
            row = session.execute(select(Approval).where(Approval.fingerprint == key)
                                  .order_by(Approval.created_at.desc()).limit(1)).scalar()
            if row is not None and row.status in (PENDING, APPROVED) and aware(row.expires_at) <= moment:
                session.execute(update(Approval).where(Approval.id == row.id, Approval.status == row.status)
                                .values(status=EXPIRED))
                outcome["expired"] = row.id
                row = None
            if row is not None and row.status == APPROVED:
                outcome.update(kind=APPROVED, id=row.id)
                return
            if row is not None and row.status == PENDING:
                outcome.update(kind=PENDING, id=row.id)
                return
            if row is not None and row.status == REJECTED and \
                    aware(row.decided_at or row.created_at) + timedelta(seconds=self.window) > moment:
                outcome.update(kind=REJECTED, id=row.id, by=row.decided_by, reason=row.decision_reason)
                return
            new = Approval(fingerprint=key, status=PENDING, profile_id=exchange.profile.id,
                           profile_name=exchange.profile.name, session_id=exchange.client.session_id,
                           tool=call.name, arguments=call.arguments, context_labels=sorted(exchange.context_labels),
                           policy_reason=reason, provider=exchange.provider, model=exchange.model,
                           interaction_id=exchange.state.get("archestra.interaction_id"),
                           virtual_key_id=exchange.client.virtual_key_id,
                           virtual_key_name=exchange.client.virtual_key_name, user_id=exchange.client.user_id,
                           agent_id=exchange.client.agent_id, created_at=moment,
                           expires_at=moment + timedelta(seconds=self.window))
            try:
                with session.begin_nested():  # another worker may be asking for the same call right now
                    session.add(new)
            except IntegrityError:
                pending = session.execute(select(Approval.id).where(Approval.fingerprint == key,
                                                                    Approval.status == PENDING)).scalar()
                outcome.update(kind=PENDING, id=pending)
                return
            outcome.update(kind="new", id=new.id, record=describe(new))

        self._run_now(job)
        if outcome["kind"] == APPROVED:
            exchange.state.setdefault(APPROVED_CALLS, []).append((call, outcome["id"]))
            return
        if outcome["kind"] == REJECTED:
            said = f": {outcome['reason']}" if outcome.get("reason") else ""
            raise Block(f"This call was rejected by {outcome['by'] or 'an approver'} (approval {outcome['id']})"
                        f"{said}.")
        text = awaiting_text(outcome["id"], self.window)
        if outcome.get("expired"):
            text = f"The earlier approval {outcome['expired']} of this call expired before it was used. {text}"
        if outcome["kind"] == "new":
            log.info("tool call %s of profile %s awaits approval %s", call.name, exchange.profile.id, outcome["id"])
            if self.notifier is not None:
                self.notifier.requested(outcome["record"])
        raise Block(f"{text} {reason}".strip() if reason else text)

    def consume(self, exchange: Exchange, interaction_id: str | None) -> tuple[ToolCall, str] | None:
        """Use the approvals of the answer's approved calls, each at most once: one atomic conditional UPDATE per
        approval. None when all were used by this exchange; else the first call whose approval another request
        used first (or that expired meanwhile), and why it is refused."""
        approved = exchange.state.pop(APPROVED_CALLS, None) or []
        lost: list[tuple[ToolCall, str]] = []

        def job(session: Any) -> None:
            moment = now()
            for call, approval_id in approved:
                used = session.execute(update(Approval).where(Approval.id == approval_id, Approval.status == APPROVED,
                                                              Approval.expires_at > moment)
                                       .values(status=USED, used_at=moment, used_interaction_id=interaction_id))
                if used.rowcount != 1:
                    lost.append((call, f"The approval {approval_id} of this call was already used (an approval "
                                       "lets the call pass once); the call needs a new approval."))

        if approved:
            self._run_now(job)
        return lost[0] if lost else None


def describe(row: Approval) -> dict[str, Any]:
    """An approval as plain values (API, webhook)."""
    return {"id": row.id, "status": row.status, "tool": row.tool, "arguments": row.arguments,
            "context_labels": row.context_labels or [], "profile_id": row.profile_id,
            "profile_name": row.profile_name, "session_id": row.session_id, "virtual_key_id": row.virtual_key_id,
            "virtual_key_name": row.virtual_key_name, "user_id": row.user_id, "agent_id": row.agent_id,
            "policy_reason": row.policy_reason, "created_at": _iso(row.created_at),
            "expires_at": _iso(row.expires_at), "decided_at": _iso(row.decided_at), "decided_by": row.decided_by,
            "decision_reason": row.decision_reason}


def _iso(moment: datetime | None) -> str | None:
    return aware(moment).isoformat() if moment is not None else None  # type: ignore[union-attr]


class Notifier:
    """Posts approval events to the webhook off the request path (one background worker per process, a bounded
    queue, a timeout per post); a failure is logged with the receiver's host only (the URL may hold a secret)."""

    def __init__(self, url: str, timeout: tuple[float, float] = (3.0, 10.0), max_pending: int = 1000):
        self._url, self._timeout = url, timeout
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=max_pending)
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def requested(self, approval: dict[str, Any]) -> None:
        who = approval.get("virtual_key_name") or approval.get("user_id") or approval.get("agent_id") or "a client"
        labels = ", ".join(approval.get("context_labels") or ()) or "none"
        args = canonical_arguments(approval.get("arguments"))
        if len(args) > 500:
            args = args[:500] + "…"
        text = (f"Approval needed: {approval['tool']} {args} (profile {approval.get('profile_name')}, session "
                f"{approval.get('session_id') or 'none'}, asked by {who}; context labels: {labels}). Approve or "
                f"reject approval {approval['id']} in the archestra console (Approvals) or with POST "
                f"/api/approvals/{approval['id']}/approve or /reject.")
        self.send({"text": text, "event": "approval.requested", "approval": approval})

    def decided(self, approval: dict[str, Any]) -> None:
        said = f": {approval['decision_reason']}" if approval.get("decision_reason") else ""
        self.send({"text": f"Approval {approval['id']} ({approval['tool']}) {approval['status']} by "
                           f"{approval.get('decided_by')}{said}.",
                   "event": f"approval.{approval['status']}", "approval": approval})

    def send(self, body: dict[str, Any]) -> None:
        self._ensure_worker()
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            log.error("approval webhook queue full: a notification was dropped")

    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():  # started lazily: after gunicorn forks
            with self._lock:
                if self._worker is None or not self._worker.is_alive():
                    self._worker = threading.Thread(target=self._run, name="archestra-approval-webhook",
                                                    daemon=True)
                    self._worker.start()

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            try:
                answer = requests.post(self._url, json=body, timeout=self._timeout)
                if answer.status_code >= 400:
                    log.warning("the approval webhook (%s) answered HTTP %s", urlsplit(self._url).hostname,
                                answer.status_code)
            except requests.RequestException as exc:
                log.warning("the approval webhook (%s) could not be reached: %s", urlsplit(self._url).hostname,
                            exc.__class__.__name__)
            except Exception:  # noqa: BLE001 - the notifier must outlive any one failure
                log.exception("sending an approval notification failed")


class DecisionError(Exception):
    """An approval that cannot be decided (``status``: 404 unknown, 409 no longer pending)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def expire_stale(session: Any) -> None:
    """Mark the pending approvals not decided in time, and the approved ones not used in time, as expired."""
    session.execute(update(Approval).where(Approval.status.in_((PENDING, APPROVED)), Approval.expires_at <= now())
                    .values(status=EXPIRED))


def decide(session: Any, approval_id: str, approve: bool, reason: str | None, who: str, kind: str,
           window: float) -> Approval:
    """Approve or reject a pending approval, recording who and why (one conditional UPDATE: of two people
    deciding at once, one wins and the other is told it was already decided). An approved call may then be made
    again within ``window`` seconds."""
    moment = now()
    status = APPROVED if approve else REJECTED
    expires = moment + timedelta(seconds=window) if approve else moment
    done = session.execute(update(Approval).where(Approval.id == approval_id, Approval.status == PENDING,
                                                  Approval.expires_at > moment)
                           .values(status=status, decided_at=moment, decided_by=who, decided_by_kind=kind,
                                   decision_reason=reason, expires_at=expires))
    if done.rowcount != 1:
        session.rollback()
        row = session.get(Approval, approval_id)
        if row is None:
            raise DecisionError(404, "not_found", f"Approval {approval_id} does not exist.")
        if row.status in (PENDING, EXPIRED) and row.decided_at is None:  # past its window: no longer decidable
            session.execute(update(Approval).where(Approval.id == approval_id, Approval.status == PENDING)
                            .values(status=EXPIRED))
            session.commit()
            raise DecisionError(409, "approval_expired", f"Approval {approval_id} expired at "
                                                         f"{_iso(row.expires_at)} before it was decided; the "
                                                         "agent's next attempt asks for a new approval.")
        raise DecisionError(409, "approval_decided", f"Approval {approval_id} is {row.status} already"
                                                     + (f" (by {row.decided_by})." if row.decided_by else "."))
    session.commit()
    row = session.get(Approval, approval_id)
    session.refresh(row)
    log.info("approval %s %s by %s", approval_id, status, who)
    return row
