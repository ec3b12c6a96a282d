"""USD cost limits, per profile, per virtual key and global.

Checked before each request by reading the limit rows (a live read, so every worker and every instance
sharing the database sees the same usage); usage grows by one atomic ``UPDATE ... SET used = used + cost``
when an interaction is written. Requests already in flight when a limit is reached still complete: that is
the overshoot, bounded by the requests in flight. A per-worker cache only remembers *whether any limit
exists*, until the configuration generation moves (archestra/generation.py).
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import and_, func, or_, select, update

from ..extensions import db
from ..generation import ConfigCache, ConfigGeneration
from ..models import Limit
from ..proxy_error import ProxyError

PERIODS = ("total", "day", "month")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_SDK_RETRY_WAIT = 60  # seconds of Retry-After the anthropic SDK honours (openai: 120)
# Plain SQL UPDATEs: no ORM objects are loaded to keep in sync (the session holds none).
CORE_UPDATE = {"synchronize_session": False}


def period_start(period: str, now: datetime | None = None) -> datetime:
    now = now or datetime.now(timezone.utc)
    if period == "day":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return EPOCH


def seconds_to_reset(period: str, now: datetime | None = None) -> int | None:
    """Seconds until a day or month limit starts again (None: a total limit never resets)."""
    now = now or datetime.now(timezone.utc)
    start = period_start(period, now)
    if period == "day":
        end = start + timedelta(days=1)
    elif period == "month":
        end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    else:
        return None
    return max(1, math.ceil((end - now).total_seconds()))


class LimitExceeded(ProxyError):
    """A cost limit refuses the request. Day and month limits answer 429 with ``Retry-After``; a total limit
    never resets, so it answers 402, which no SDK retries (they retry 408, 409, 429 and 5xx). A wait longer
    than the SDKs would sleep also carries ``x-should-retry: false`` (honoured by the openai and anthropic
    SDKs), so they do not retry at once either."""

    def __init__(self, message: str, limit_id: str, period: str):
        retry_after = seconds_to_reset(period)
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


def _applies(profile_id: str, virtual_key_id: str | None):
    scopes = [Limit.scope == "global", and_(Limit.scope == "profile", Limit.profile_id == profile_id)]
    if virtual_key_id is not None:
        scopes.append(and_(Limit.scope == "virtual_key", Limit.virtual_key_id == virtual_key_id))
    return or_(*scopes)


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

    def check(self, profile_id: str, virtual_key_id: str | None = None) -> bool:
        """Raise :class:`LimitExceeded` when a limit that applies to ``profile_id`` (or the request's virtual key) is
        reached.

        Returns whether any limit applies (then the exchange's cost is counted before its answer ends).
        """
        if not self._exists.get(None, _any_limit):
            return False
        try:
            rows = db.session.execute(select(Limit).where(_applies(profile_id, virtual_key_id))).scalars().all()
            for limit in rows:
                used = Decimal(str(limit.used_usd))
                if _aware(limit.period_start) < period_start(limit.period):
                    used = Decimal(0)  # a new period began; the next write resets the row
                if used >= Decimal(str(limit.max_cost_usd)):
                    which = {"global": "global", "virtual_key": f"virtual key {virtual_key_id}"}.get(
                        limit.scope, f"profile {profile_id}")
                    period = "" if limit.period == "total" else f" this {limit.period}"
                    raise LimitExceeded(f"Token cost limit exceeded for the {which} limit {limit.id}: used "
                                        f"${used:.4f}{period} of ${Decimal(str(limit.max_cost_usd)):.4f}.",
                                        limit.id, limit.period)
            return bool(rows)
        finally:
            db.session.remove()


def add_usage(session, profile_id: str, cost: Decimal, virtual_key_id: str | None = None) -> None:
    """Count ``cost`` against every limit that applies; rows whose period ended start again at zero."""
    now = datetime.now(timezone.utc)
    for period in PERIODS[1:]:
        start = period_start(period, now)
        session.execute(update(Limit).where(_applies(profile_id, virtual_key_id), Limit.period == period,
                                            Limit.period_start < start).values(used_usd=0, period_start=start),
                        execution_options=CORE_UPDATE)
    session.execute(update(Limit).where(_applies(profile_id, virtual_key_id)).values(used_usd=Limit.used_usd + cost),
                    execution_options=CORE_UPDATE)
