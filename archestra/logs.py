"""The proxy's log lines: plain text, or one JSON object per line (``ARCHESTRA_LOG_FORMAT=json``), each
carrying the id of the interaction it belongs to (the id of its row in /api/interactions)."""
from __future__ import annotations

import contextvars
import json
import logging
from datetime import datetime, timezone

#: The interaction the current request serves (greenlet-local under gevent, thread-local elsewhere).
interaction_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("archestra_interaction_id",
                                                                            default=None)


def forget_interaction() -> None:
    interaction_id.set(None)


class _InteractionFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "interaction_id"):
            record.interaction_id = interaction_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "interaction_id"[, "exception"]}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage(),
                "interaction_id": getattr(record, "interaction_id", None)}
        if hasattr(record, "summary"):  # the startup summary, as fields
            line["summary"] = record.summary
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        interaction = getattr(record, "interaction_id", None)
        return f"{text} [interaction {interaction}]" if interaction else text


def configure(level: str, form: str) -> None:
    """The ``archestra`` loggers' handler (once per process; an embedding app's own root handler wins)."""
    logger = logging.getLogger("archestra")
    logger.setLevel(level.upper())
    ours = [handler for handler in logger.handlers if getattr(handler, "archestra", False)]
    if not ours and (logger.handlers or logging.getLogger().handlers):
        return
    handler = ours[0] if ours else logging.StreamHandler()
    handler.archestra = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if form == "json" else TextFormatter())
    if not ours:
        handler.addFilter(_InteractionFilter())
        logger.addHandler(handler)
        logger.propagate = False  # a root handler added later (alembic's logging config) would repeat each line
