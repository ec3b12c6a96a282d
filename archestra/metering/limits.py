"""USD cost limits: global, per profile, per virtual key, per person, per team, optionally for one model; over
all time, a calendar window (UTC day, week from Monday, month) or a rolling window (the last N seconds).

Checked before each request by reading the limit rows (a live read, so every worker and every instance
sharing the database sees the same usage). Usage is counted when an interaction's cost is known, before its
answer ends: a fixed subject's calendar limit is one running total (``UPDATE ... SET used = used + cost``,
atomic); a rolling window, and the default per-person limit (a ``person`` limit without ``person_id``: each
person separately, for those without a limit of their own), keep one charge row per exchange
(``limit_charges``) and add up the window's. Requests already in flight when a limit is reached still
complete: that is the overshoot, bounded by the requests in flight. Exchanges a provider subscription pays for
are neither counted nor refused. A per-worker cache only remembers *whether any limit exists*, until the
configuration generation moves (archestra/generation.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update

from ..extensions import db
from ..generation import ConfigCache, ConfigGeneration
from ..models import Limit, LimitCharge
from ..proxy_error import ProxyError

PERIODS = ("total", "day", "week", "month", "rolling")
CALENDAR = ("day", "week", "month")
SCOPES = ("global", "profile", "virtual_key", "person", "team")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_SDK_RETRY_WAIT = 60  # seconds of Retry-After the anthropic SDK honours (openai: 120)
# Plain SQL UPDATEs: no ORM objects are loaded to keep in sync (the session holds none).
CORE_UPDATE = {"synchronize_session": False}


@dataclass(frozen=True)
class Charged:
    """Whom an exchange's cost counts for: its profile, virtual key, person and team, and its models (asked and
    sent). ``covered``: a provider subscription pays for it (never counted, never refused)."""

    profile_id: str
    virtual_key_id: str | None = None
    person_id: str | None = None
    team_id: str | None = None
    models: tuple[str, ...] = ()
    covered: bool = False


def period_start(period: str, now: datetime | None = None) -> datetime:
    now = now or datetime.now(timezone.utc)
    if period == "day":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        return (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return EPOCH


def seconds_to_reset(period: str, now: datetime | None = None) -> int | None:
    """Seconds until a day, week or month limit starts again (None: a total limit never resets)."""
    now = now or datetime.now(timezone.utc)
    start = period_start(period, now)
    if period == "day":
        end = start + timedelta(days=1)
    elif period == "week":
        end = start + timedelta(days=7)
    elif period == "month":
        end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    else:
        return None
    return max(1, math.ceil((end - now).total_seconds()))


class LimitExceeded(ProxyError):
    """A cost limit refuses the request. Limits that reset (calendar and rolling windows) answer 429 with
    ``Retry-After``; a total limit never resets, so it answers 402, which no SDK retries (they retry 408, 409,
    429 and 5xx). A wait longer than the SDKs would sleep also carries ``x-should-retry: false`` (honoured by
    the openai and anthropic SDKs), so they do not retry at once either."""

    def __init__(self, message: str, limit_id: str, period: str, retry_after: int | None = None):
        retry_after = retry_after if period == "rolling" else seconds_to_reset(period)
        if retry_after is None:
            super().__init__(402, message, kind="billing_error", code="token_cost_limit_exceeded")
        else:
            super().__init__(429, message, kind="rate_limit_error", code="token_cost_limit_exceeded")
            self.headers["Retry-After"] = str(retry_after)
        if retry_after is None or retry_after > MAX_SDK_RETRY_WAIT:
            self.headers["x-should-retry"] = "false"
        self.limit_id = limit_id


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _applies(who: Charged) -> Any:
    scopes = [Limit.scope == "global", and_(Limit.scope == "profile", Limit.profile_id == who.profile_id)]
    if who.virtual_key_id is not None:
        scopes.append(and_(Limit.scope == "virtual_key", Limit.virtual_key_id == who.virtual_key_id))
    if who.person_id is not None:
        scopes.append(and_(Limit.scope == "person", or_(Limit.person_id == who.person_id,
                                                         Limit.person_id.is_(None))))
    if who.team_id is not None:
        scopes.append(and_(Limit.scope == "team", Limit.team_id == who.team_id))
    models = [model for model in dict.fromkeys(who.models) if model]
    return and_(or_(*scopes), or_(Limit.model.is_(None), Limit.model.in_(models)) if models else
                Limit.model.is_(None))


def _rows(session: Any, who: Charged) -> list[Limit]:
    rows = session.execute(select(Limit).where(_applies(who))).scalars().all()
    if any(row.scope == "person" and row.person_id is not None for row in rows):
        # A person's own limit replaces the default per-person limit.
        rows = [row for row in rows if not (row.scope == "person" and row.person_id is None)]
    return rows


def _charged_separately(limit: Limit) -> bool:
    return limit.period == "rolling" or (limit.scope == "person" and limit.person_id is None)


def _subject(limit: Limit, who: Charged) -> str:
    return (who.person_id or "") if limit.scope == "person" and limit.person_id is None else ""


def _since(limit: Limit, now: datetime) -> datetime:
    if limit.period == "rolling":
        return now - timedelta(seconds=int(limit.window_seconds or 0))
    return period_start(limit.period, now)


def _charged_usage(session: Any, limit: Limit, who: Charged, now: datetime) -> Decimal:
    total = session.execute(select(func.coalesce(func.sum(LimitCharge.cost_usd), 0)).where(
        LimitCharge.limit_id == limit.id, LimitCharge.subject == _subject(limit, who),
        LimitCharge.at >= _since(limit, now))).scalar()
    return Decimal(str(total or 0))


def _rolling_wait(session: Any, limit: Limit, who: Charged, used: Decimal, now: datetime) -> int:
    """Seconds until enough of the window's charges have aged out to bring usage under the limit."""
    maximum = Decimal(str(limit.max_cost_usd))
    window = timedelta(seconds=int(limit.window_seconds or 0))
    charges = session.execute(select(LimitCharge.at, LimitCharge.cost_usd).where(
        LimitCharge.limit_id == limit.id, LimitCharge.subject == _subject(limit, who),
        LimitCharge.at >= now - window).order_by(LimitCharge.at)).all()
    for at, cost in charges:
        used -= Decimal(str(cost))
        if used < maximum:
            return max(1, math.ceil((_aware(at) + window - now).total_seconds()))
    return max(1, int(window.total_seconds()))


def _describe(limit: Limit, who: Charged) -> str:
    if limit.scope == "person":
        which = f"person {who.person_id}" + (" (default per-person)" if limit.person_id is None else "")
    else:
        which = {"global": "global", "virtual_key": f"virtual key {who.virtual_key_id}",
                 "team": f"team {who.team_id}"}.get(limit.scope, f"profile {who.profile_id}")
    return which + (f", model {limit.model}" if limit.model else "")


def _window(limit: Limit) -> str:
    if limit.period == "rolling":
        return f" in the last {int(limit.window_seconds or 0)} s"
    return "" if limit.period == "total" else f" this {limit.period}"


def _any_limit(_key: None) -> bool:
    try:
        return bool(db.session.execute(select(func.count()).select_from(Limit)).scalar())
    finally:
        db.session.remove()


class LimitGuard:
    def __init__(self, generation: ConfigGeneration, ttl: float):
        self._exists: ConfigCache[bool] = ConfigCache(generation, ttl)

    def invalidate(self) -> None:
        self._exists.clear()

    def check(self, who: Charged) -> bool:
        """Raise :class:`LimitExceeded` when a limit that applies to ``who`` is reached.

        Returns whether any limit applies (then the exchange's cost is counted before its answer ends).
        """
        if who.covered or not self._exists.get(None, _any_limit):
            return False
        try:
            now = datetime.now(timezone.utc)
            rows = _rows(db.session, who)
            for limit in rows:
                if _charged_separately(limit):
                    used = _charged_usage(db.session, limit, who, now)
                else:
                    used = Decimal(str(limit.used_usd))
                    if _aware(limit.period_start) < period_start(limit.period, now):
                        used = Decimal(0)  # a new period began; the next write resets the row
                maximum = Decimal(str(limit.max_cost_usd))
                if used >= maximum:
                    wait = _rolling_wait(db.session, limit, who, used, now) if limit.period == "rolling" else None
                    raise LimitExceeded(f"Token cost limit exceeded for the {_describe(limit, who)} limit "
                                        f"{limit.id}: used ${used:.4f}{_window(limit)} of ${maximum:.4f}.",
                                        limit.id, limit.period, wait)
            return bool(rows)
        finally:
            db.session.remove()


def add_usage(session: Any, who: Charged, cost: Decimal) -> None:
    """Count ``cost`` against every limit that applies to ``who``; running totals whose period ended start again
    at zero, charges older than their window are dropped."""
    if who.covered:
        return
    now = datetime.now(timezone.utc)
    rows = _rows(session, who)
    totals = [row.id for row in rows if not _charged_separately(row)]
    if totals:
        for period in CALENDAR:
            start = period_start(period, now)
            session.execute(update(Limit).where(Limit.id.in_(totals), Limit.period == period,
                                                Limit.period_start < start).values(used_usd=0, period_start=start),
                            execution_options=CORE_UPDATE)
        session.execute(update(Limit).where(Limit.id.in_(totals)).values(used_usd=Limit.used_usd + cost),
                        execution_options=CORE_UPDATE)
    for limit in rows:
        if not _charged_separately(limit):
            continue
        subject = _subject(limit, who)
        session.execute(insert(LimitCharge).values(limit_id=limit.id, subject=subject, at=now, cost_usd=cost))
        if limit.period != "total":
            session.execute(delete(LimitCharge).where(LimitCharge.limit_id == limit.id,
                                                      LimitCharge.subject == subject,
                                                      LimitCharge.at < _since(limit, now)),
                            execution_options=CORE_UPDATE)


def usage(session: Any, limit: Limit, now: datetime | None = None) -> tuple[datetime, dict[str, Decimal]]:
    """Where the limit's current window starts, and its usage there: by person (``person_id`` -> USD) for the
    default per-person limit, else one entry under ``""``."""
    now = now or datetime.now(timezone.utc)
    since = _since(limit, now)
    if not _charged_separately(limit):
        fresh = _aware(limit.period_start) >= period_start(limit.period, now)
        return since, {"": Decimal(str(limit.used_usd)) if fresh else Decimal(0)}
    rows = session.execute(select(LimitCharge.subject, func.sum(LimitCharge.cost_usd)).where(
        LimitCharge.limit_id == limit.id, LimitCharge.at >= since).group_by(LimitCharge.subject)).all()
    return since, {subject: Decimal(str(total or 0)) for subject, total in rows}
