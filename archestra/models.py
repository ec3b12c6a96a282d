"""Database models (SQLAlchemy 2.0 typed). Every schema change comes with a migration."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy import text
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
    #: SHA-256 (hex) of the profile's access token; None: anyone who knows the id may use the profile.
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)
    #: "restrictive" or "permissive" for this profile; None follows the global setting (/api/settings).
    global_policy: Mapped[str | None] = mapped_column(String(16), nullable=True, default=None)
    #: Only callers with one of the profile's virtual keys may use it (no pass-through of clients' own keys).
    require_virtual_key: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Record only metadata (no request or response bodies); None follows the global setting.
    metadata_only: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=None)
    #: "enforce" or "monitor" (decisions recorded as would-block, nothing changed on the wire); None follows
    #: the global setting (/api/settings ``mode``).
    mode: Mapped[str | None] = mapped_column(String(16), nullable=True, default=None)
    #: A unique URL name (``/v1/openai/support-agent/...``) besides the id; None: addressed by id only.
    slug: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True, index=True, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class ProviderKey(db.Model):
    """A provider API key the proxy holds for a profile: encrypted (see secretbox.py), never shown again."""

    __tablename__ = "provider_keys"
    __table_args__ = (UniqueConstraint("profile_id", "provider", name="uq_provider_keys_profile_provider"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    profile_id: Mapped[str] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    ciphertext: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(16))  # the first hex digits of the key's SHA-256
    last4: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class VirtualKey(db.Model):
    """A key the proxy issued for a profile; clients send it instead of a provider key. Only its hash is kept."""

    __tablename__ = "virtual_keys"
    __table_args__ = (UniqueConstraint("profile_id", "name", name="uq_virtual_keys_profile_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    profile_id: Mapped[str] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last4: Mapped[str] = mapped_column(String(4))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    #: The person or team the key belongs to (its requests are theirs); None: the profile's alone.
    person_id: Mapped[str | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), nullable=True,
                                                  index=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=True, index=True)
    #: A passthrough identity key: it says who calls (``X-Archestra-Virtual-Key``), never unlocks a held key.
    identity_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())


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
    #: Calls of this tool the model made (refused ones included), counted as interactions are written.
    call_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ToolCallPolicy(db.Model):
    """When a call of ``tool`` with arguments matching ``conditions`` is allowed or blocked."""

    __tablename__ = "tool_call_policies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    tool_id: Mapped[str] = mapped_column(ForeignKey("tools.id", ondelete="CASCADE"), index=True)
    conditions: Mapped[Any] = mapped_column(JSON, default=list)
    action: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    labels: Mapped[Any] = mapped_column(JSON, nullable=True, default=list)  # add_labels, block_*_has_labels
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
    labels: Mapped[Any] = mapped_column(JSON, nullable=True, default=list)  # add_labels, block_*_has_labels
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
    #: No foreign key: audit records outlive the profile (its id and name stay on the row).
    profile_id: Mapped[str] = mapped_column(String(36), index=True)
    profile_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    interaction_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    session_id: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    tool: Mapped[str] = mapped_column(String(256))
    arguments: Mapped[Any] = mapped_column(JSON, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    #: Monitor mode: the call would have been blocked, and went through.
    would_block: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)


class Interaction(db.Model):
    """One exchange, as received, as sent upstream, and as answered, with tokens, cost and timings."""

    __tablename__ = "interactions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    #: No foreign key: audit records outlive the profile (its id and name stay on the row).
    profile_id: Mapped[str] = mapped_column(String(36), index=True)
    profile_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: "chat" (a generative exchange) or "passthrough" (model lists, embeddings...).
    kind: Mapped[str] = mapped_column(String(16), default="chat", server_default="chat")
    provider: Mapped[str] = mapped_column(String(32), index=True)
    model: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)       # as asked
    model_used: Mapped[str | None] = mapped_column(String(256), nullable=True)              # as sent upstream
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Why the proxy refused the exchange (``token_cost_limit_exceeded``, ``request_blocked``...), None if not.
    refusal: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    limit_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # the limit that refused it
    request: Mapped[Any] = mapped_column(JSON, nullable=True)
    upstream_request: Mapped[Any] = mapped_column(JSON, nullable=True)
    response: Mapped[Any] = mapped_column(JSON, nullable=True)
    input_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The provider reported no usage: the tokens are the proxy's estimate.
    usage_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Upstream calls the proxy made for this exchange (dual LLM): model and tokens each, in cost_usd too.
    extra_calls: Mapped[Any] = mapped_column(JSON, nullable=True)
    cost_usd: Mapped[float | None] = mapped_column(Numeric(18, 8), nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    time_to_first_token_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    blocked: Mapped[Any] = mapped_column(JSON, nullable=True)
    blocked_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Monitor mode: decisions that would have changed the exchange (calls, results, whole refusals).
    would_block_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The request path below the profile (``v1/messages``, ``model/{id}/invoke``...): the route it came by.
    path: Mapped[str | None] = mapped_column(String(512), nullable=True)
    #: Security observations that did not block: calls of undeclared tools, context the proxy could not see.
    flags: Mapped[Any] = mapped_column(JSON, nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    user_id: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    agent_id: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    #: The virtual key that authenticated the request (kept when the key is revoked), None without one.
    virtual_key_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    virtual_key_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: Model Router exchanges: ``{"front": the client's API family, "attempts": [{"provider", "model", "status",
    #: "error"}...]}`` (every upstream tried, fallbacks included); None for the providers' own routes.
    router: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: The labels the context held (``untrusted`` included), once the policies decided the exchange.
    labels: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    #: Who called (identity provider token, or a person's or team's virtual key); no foreign keys, like the
    #: profile's: the record outlives them.
    person_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    person_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    team_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    team_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: The provider subscription that covered it (``claude``, ``chatgpt``): billed $0, never counted by limits.
    subscription: Mapped[str | None] = mapped_column(String(32), nullable=True)


class TokenPrice(db.Model):
    """USD per million input/output tokens for a model (or a model-name prefix)."""

    __tablename__ = "token_prices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    model: Mapped[str] = mapped_column(String(256), unique=True)
    input_per_million: Mapped[float] = mapped_column(Numeric(18, 8))
    output_per_million: Mapped[float] = mapped_column(Numeric(18, 8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class Limit(db.Model):
    """A USD cost limit for one profile, one virtual key or everything, over a period (total, day or month)."""

    __tablename__ = "limits"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    scope: Mapped[str] = mapped_column(String(16))  # "profile" | "virtual_key" | "global"
    profile_id: Mapped[str | None] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), nullable=True,
                                                   index=True)
    virtual_key_id: Mapped[str | None] = mapped_column(ForeignKey("virtual_keys.id", ondelete="CASCADE"),
                                                       nullable=True, index=True)
    max_cost_usd: Mapped[float] = mapped_column(Numeric(18, 8))
    period: Mapped[str] = mapped_column(String(16), default="total")
    used_usd: Mapped[float] = mapped_column(Numeric(18, 8), default=0)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)
    #: scope "person" / "team": whose spend; a "person" limit without person_id is the default for each person
    #: who has no limit of their own.
    person_id: Mapped[str | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), nullable=True,
                                                  index=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=True, index=True)
    #: Only exchanges of this model (asked or sent) count and are refused; None: every model.
    model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    #: period "rolling": the window's length in seconds (the spend of the last ``window_seconds``).
    window_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)


class OptimizationRule(db.Model):
    """For ``provider``: when the conditions hold, send ``target_model`` instead of the asked model."""

    __tablename__ = "optimization_rules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    provider: Mapped[str] = mapped_column(String(32), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    max_length: Mapped[int | None] = mapped_column(Integer, nullable=True)   # prompt tokens <= n
    has_tools: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    target_model: Mapped[str] = mapped_column(String(256))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class ResponseLink(db.Model):
    """The context of a Responses API response the proxy relayed (or of a compaction it relayed): a later request
    that names it in ``previous_response_id`` continues that context, which the provider holds and the proxy does
    not see again; its results are judged again on every such request (security/response_chain.py). Rows are
    written before the answer's last bytes reach the client."""

    __tablename__ = "response_chain"

    response_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    profile_id: Mapped[str] = mapped_column(String(36))
    #: ``{"results": [...], "unseen": [...]}``: the tool results its model read, as the provider holds them, and
    #: the unseen context it referenced (None: written before contexts were kept, counts as unseen context).
    context: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: The tool calls the client received in this response, ``{call_id: tool name}``: outputs sent back with
    #: ``previous_response_id`` are tied to them.
    calls: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class PolicyTemplate(db.Model):
    """A tool-call (``kind="call"``) or tool-result (``"result"``) policy for every profile, on the tools whose name
    matches ``tool_name`` (exact, or a glob such as ``mcp:*``): a profile's own policies on a tool replace the
    templates of the same kind for that tool."""

    __tablename__ = "policy_templates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    kind: Mapped[str] = mapped_column(String(8), index=True)
    tool_name: Mapped[str] = mapped_column(String(256))
    conditions: Mapped[Any] = mapped_column(JSON, default=list)
    action: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    labels: Mapped[Any] = mapped_column(JSON, nullable=True, default=list)  # add_labels, block_*_has_labels
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class PolicyReplay(db.Model):
    """A policy replay job: candidate policy changes re-run over recorded interactions (security/replay.py)."""

    __tablename__ = "policy_replays"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    #: pending | running | done | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    spec: Mapped[Any] = mapped_column(JSON)
    report: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: Written by the worker running the job every few seconds: a job whose heartbeat stops is taken over.
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    processed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())


class ConsoleSession(db.Model):
    """A signed-in admin console session. The browser holds a random token; only its SHA-256 is stored, so every
    worker and instance accepts the session and signing out (deleting the row) ends it everywhere at once."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: "admin" (may change everything), "operator" (policies, monitor mode, replay) or "viewer" (read-only).
    role: Mapped[str] = mapped_column(String(16))
    #: The SHA-256 of the credential signed in with: the session ends when that credential is changed.
    credential_hash: Mapped[str] = mapped_column(String(64))
    #: "token" (the admin or read-only token) or "oidc" (signed in through the identity provider).
    kind: Mapped[str] = mapped_column(String(16), default="token", server_default="token")
    #: Who: an e-mail address for "oidc" sessions (None for token sessions), and the person's record if any.
    name: Mapped[str | None] = mapped_column(String(320), nullable=True)
    person_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class SpendDaily(db.Model):
    """Cost and tokens per UTC day, profile and model, added to as each interaction is written: the spend pages
    read these few rows instead of adding up every interaction. Kept when interactions are purged (retention)
    and when the profile is deleted, like the records they sum."""

    __tablename__ = "spend_daily"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)          # YYYY-MM-DD (UTC)
    profile_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model: Mapped[str] = mapped_column(String(256), primary_key=True)       # the model billed; "" when unknown
    profile_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cost_usd: Mapped[float] = mapped_column(Numeric(18, 8), default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    interactions: Mapped[int] = mapped_column(Integer, default=0)


class ModelAlias(db.Model):
    """A Model Router model name (``fast``) standing for an ordered list of ``provider:model`` targets: the first is
    asked, the next ones only when the one before fails before its answer began (429, 5xx, no connection). With a
    ``profile_id`` it applies to that profile only, and wins over a global alias of the same name."""

    __tablename__ = "model_aliases"
    __table_args__ = (
        UniqueConstraint("name", "profile_id", name="uq_model_aliases_name_profile"),
        # NULLs are distinct in a unique constraint: one global alias per name needs an index of its own.
        Index("uq_model_aliases_global_name", "name", unique=True, sqlite_where=text("profile_id IS NULL"),
              postgresql_where=text("profile_id IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    name: Mapped[str] = mapped_column(String(256), index=True)
    profile_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("profiles.id", ondelete="CASCADE"),
                                                   nullable=True, index=True)
    targets: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class RouterResponse(db.Model):
    """The Model Router's memory of a Responses API answer it served from a provider that keeps none: the whole
    neutral conversation up to and including the answer (``messages``, see ``router/response_store.py``), so that
    ``previous_response_id`` continues it, from the same profile only. No foreign key: like the response chain,
    rows go with the retention purge."""

    __tablename__ = "router_responses"

    id: Mapped[str] = mapped_column(String(256), primary_key=True)  # the Response id the client got
    profile_id: Mapped[str] = mapped_column(String(36), index=True)
    model: Mapped[str] = mapped_column(String(256))  # as the client named it
    messages: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)


class ChangeLog(db.Model):
    """One configuration change (a profile, policy, key, limit, price, setting... created, updated or deleted),
    with who made it, through what, and the object's value before and after (secrets never: a fingerprint or
    the last four characters at most). Append-only: written by change_log.py's session hooks, never updated or
    deleted (database triggers refuse both); no foreign key, so entries outlive the objects they describe."""

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    #: archestra.actor.Actor: how it signed in (``admin_token``, ``person``...), who, with which role.
    actor_kind: Mapped[str] = mapped_column(String(32))
    actor_name: Mapped[str] = mapped_column(String(320), index=True)
    actor_role: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: ``api``, ``console``, or the actor's kind outside a request (``config_file``, ``system``).
    via: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(8))  # create | update | delete
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(256))
    object_name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    #: The profile the object belongs to (None for global objects), kept as an id when the profile is gone.
    profile_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: Why it happened when not asked for directly (``deleted with profile Support agent``).
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


# -- people and teams (issue 28): archestra/identity/ -----------------------------------------------------------
class Person(db.Model):
    """Someone who calls models through the proxy: created through ``/api/people`` or on first sight of an
    identity provider token (its issuer and ``sub`` name them; the e-mail address is kept up to date)."""

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_people_issuer_subject"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True, unique=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: The identity provider's ``iss`` and ``sub``; None for people created through the API until they sign in.
    issuer: Mapped[str | None] = mapped_column(String(512), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(256), nullable=True)
    #: A disabled person's tokens and keys are refused.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class Team(db.Model):
    """A group of people; an identity provider group of the same ``idp_group`` maps its members to it."""

    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: The identity provider group whose members belong to this team (their tokens' groups claim).
    idp_group: Mapped[str | None] = mapped_column(String(256), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class PersonTeam(db.Model):
    """Membership: ``source`` is ``api`` (set by an operator) or ``idp`` (from the token's groups, kept in step
    with them at each sign-in)."""

    __tablename__ = "person_teams"

    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(8), default="api")


class LimitCharge(db.Model):
    """A cost counted against a limit whose usage is not one running total: rolling windows (the sum of the
    window's charges) and the default per-person limit (one sum per person, ``subject``)."""

    __tablename__ = "limit_charges"
    __table_args__ = (Index("ix_limit_charges_limit_subject_at", "limit_id", "subject", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    limit_id: Mapped[str] = mapped_column(ForeignKey("limits.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(36), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    cost_usd: Mapped[float] = mapped_column(Numeric(18, 8))


class PolicyTest(db.Model):
    """A policy test kept by the proxy (made with "save as test" or sent to the API): a scenario in the format of
    ``python -m archestra.config test`` (config_file/scenarios.py), run on demand and after every ``apply``."""

    __tablename__ = "policy_tests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    scenario: Mapped[Any] = mapped_column(JSON)
    #: The recorded interaction it was made from ("save as test"), if any (no foreign key: records are purged).
    interaction_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class PolicyTestRun(db.Model):
    """One run of the kept policy tests, with the configuration it ran against: the generation number and a
    digest of the exported configuration (the same digest: the same policies)."""

    __tablename__ = "policy_test_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    #: api | console | apply
    trigger: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(300), nullable=True)
    generation: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    config_digest: Mapped[str] = mapped_column(String(64))
    passed: Mapped[bool] = mapped_column(Boolean)
    total: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    results: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)


class Approval(db.Model):
    """A tool call a ``require_approval`` policy held back, and what a person decided (security/approvals.py).

    ``status``: pending, approved, rejected, used (an approved call passed, once) or expired (not decided, or not
    used, before ``expires_at``). ``fingerprint`` names the call: profile, session, tool and arguments."""

    __tablename__ = "approvals"
    __table_args__ = (
        # One pending approval per call: two workers holding the same call back at once ask one question.
        Index("uq_approvals_pending_fingerprint", "fingerprint", unique=True, sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    profile_id: Mapped[str] = mapped_column(String(36), index=True)
    profile_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    tool: Mapped[str] = mapped_column(String(256), index=True)
    arguments: Mapped[Any] = mapped_column(JSON, nullable=True)
    context_labels: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: The reason of the policy that asked for approval.
    policy_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    provider: Mapped[str | None] = mapped_column(String(32), nullable=True)
    model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    interaction_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: Who asked: the caller's virtual key and ``X-Archestra-User-Id`` / ``-Agent-Id`` headers.
    virtual_key_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    virtual_key_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    agent_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    decided_by_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    used_interaction_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class AppliedPack(db.Model):
    """A policy pack applied to one profile (``profile_id``) or to every profile as templates (None). The pack's
    document (its file format, ``archestra/packs/``) is stored as it was when applied, so that every worker and
    instance decides with the same rules whatever their pack folders hold; applying it again takes the current
    version."""

    __tablename__ = "applied_packs"
    __table_args__ = (
        UniqueConstraint("name", "profile_id", name="uq_applied_packs_name_profile"),
        # NULLs are distinct in a unique constraint: one all-profiles application per pack needs its own index.
        Index("uq_applied_packs_global_name", "name", unique=True, sqlite_where=text("profile_id IS NULL"),
              postgresql_where=text("profile_id IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_new_id)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[str] = mapped_column(String(64))
    profile_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("profiles.id", ondelete="CASCADE"),
                                                   nullable=True, index=True)
    document: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)
