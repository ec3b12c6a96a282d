"""Database models (SQLAlchemy 2.0 typed). Every schema change comes with a migration."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db

DEFAULT_PROFILE_NAME = "default"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _new_id() -> str:
    return str(uuid.uuid4())


class Profile(db.Model):
    """A set of agents sharing policies, limits and metering; named in the proxy URL by its id."""

    __tablename__ = "profiles"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    consider_context_untrusted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class Tool(db.Model):
    """A tool an agent declared through a profile (tool discovery)."""

    __tablename__ = "tools"
    __table_args__ = (UniqueConstraint("profile_id", "name", name="uq_tools_profile_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    profile_id: Mapped[str] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    parameters: Mapped[Any] = mapped_column(JSON, nullable=True)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ToolCallPolicy(db.Model):
    """When a call of ``tool`` with arguments matching ``conditions`` is allowed or blocked."""

    __tablename__ = "tool_call_policies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    tool_id: Mapped[str] = mapped_column(ForeignKey("tools.id", ondelete="CASCADE"), index=True)
    conditions: Mapped[Any] = mapped_column(JSON, default=list)
    action: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class ToolResultPolicy(db.Model):
    """Whether a result of ``tool`` matching ``conditions`` is trusted, blocked or sanitised."""

    __tablename__ = "tool_result_policies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    tool_id: Mapped[str] = mapped_column(ForeignKey("tools.id", ondelete="CASCADE"), index=True)
    conditions: Mapped[Any] = mapped_column(JSON, default=list)
    action: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class Setting(db.Model):
    """Global settings, one row per key (``global_policy``)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class BlockedToolCall(db.Model):
    """A tool call the proxy refused: which tool, with which arguments, why."""

    __tablename__ = "blocked_tool_calls"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    profile_id: Mapped[str] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    tool: Mapped[str] = mapped_column(String(256))
    arguments: Mapped[Any] = mapped_column(JSON, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
