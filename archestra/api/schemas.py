"""All marshmallow schemas of the management API."""
from __future__ import annotations

from datetime import timezone

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..change_log import changed_fields
from ..profiles import SLUG_RE
from ..security.conditions import OPERATORS, ConditionError, validate_condition

# Bounds that every database column can hold (Numeric(18, 8), 32-bit integers).
MAX_USD = 1_000_000_000
MAX_INT = 2**31 - 1


class UTCDateTime(fields.DateTime):
    """RFC 3339 with an offset: every stored time is UTC, but SQLite hands them back naive."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return super()._serialize(value, attr, obj, **kwargs)


MODES = ("enforce", "monitor")


class ProfileSchema(Schema):
    id = fields.String(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    is_default = fields.Boolean(dump_only=True)
    consider_context_untrusted = fields.Boolean(load_default=False)
    global_policy = fields.String(load_default=None, allow_none=True,
                                  validate=validate.OneOf(("restrictive", "permissive")),
                                  metadata={"description": "This profile's policy; null follows /api/settings."})
    requires_token = fields.Function(lambda profile: profile.token_hash is not None, dump_only=True)
    require_virtual_key = fields.Boolean(load_default=False, metadata={
        "description": "Only callers with a virtual key of this profile may use it (no client keys)."})
    metadata_only = fields.Boolean(load_default=None, allow_none=True, metadata={
        "description": "Record this profile's interactions without bodies; null follows "
                       "ARCHESTRA_INTERACTION_METADATA_ONLY."})
    mode = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(MODES), metadata={
        "description": "enforce, or monitor (decisions recorded as would-block, nothing changed on the wire); "
                       "null follows /api/settings."})
    slug = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(f"^{SLUG_RE.pattern}$"),
                         metadata={"description": "A unique name for the proxy URL (/v1/openai/{slug}/...), besides "
                                                  "the id: lower-case letters, digits and dashes."})
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class ProfileTokenSchema(Schema):
    profile_id = fields.String(required=True)
    token = fields.String(required=True)
    header = fields.String(required=True)


class ProviderKeySchema(Schema):
    """A provider key the proxy holds: write-only, shown as a fingerprint and its last four characters."""

    provider = fields.String(dump_only=True)
    source = fields.String(dump_only=True, metadata={"description": "profile (set here) or environment "
                                                                    "(ARCHESTRA_CHAT_{PROVIDER}_API_KEY)"})
    fingerprint = fields.String(dump_only=True, allow_none=True)
    last4 = fields.String(dump_only=True, allow_none=True)
    created_at = UTCDateTime(dump_only=True, allow_none=True)
    updated_at = UTCDateTime(dump_only=True, allow_none=True)


class ProviderKeyInputSchema(Schema):
    api_key = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=8192))


class VirtualKeySchema(Schema):
    id = fields.String(dump_only=True)
    profile_id = fields.String(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    expires_at = UTCDateTime(allow_none=True, load_default=None)
    last4 = fields.String(dump_only=True)
    revoked_at = UTCDateTime(dump_only=True, allow_none=True)
    last_used_at = UTCDateTime(dump_only=True, allow_none=True, metadata={
        "description": "Written off the request path, at most every 30 s per worker."})
    created_at = UTCDateTime(dump_only=True)
    person_id = fields.String(allow_none=True, load_default=None, metadata={
        "description": "The person the key belongs to: its requests are theirs (attribution, person limits)."})
    team_id = fields.String(allow_none=True, load_default=None, metadata={
        "description": "The team the key belongs to (its requests count for the team)."})
    identity_only = fields.Boolean(load_default=False, metadata={
        "description": "A passthrough identity key: sent in X-Archestra-Virtual-Key next to the caller's own "
                       "provider key, it only says who calls and never unlocks a key the proxy holds."})


class VirtualKeyUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    expires_at = UTCDateTime(allow_none=True)


class NewVirtualKeySchema(VirtualKeySchema):
    key = fields.String(dump_only=True, metadata={"description": "Shown only in this answer."})


profile_schema = ProfileSchema()
profiles_schema = ProfileSchema(many=True)
profile_update_schema = ProfileSchema(partial=True)


class ToolSchema(Schema):
    id = fields.String(dump_only=True)
    profile_id = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True, allow_none=True)
    parameters = fields.Raw(dump_only=True, allow_none=True)
    first_seen_at = UTCDateTime(dump_only=True)
    last_seen_at = UTCDateTime(dump_only=True)
    call_count = fields.Integer(dump_only=True, metadata={
        "description": "Calls of this tool the model made, refused ones included (counted as interactions are "
                       "recorded)."})


class ConditionSchema(Schema):
    key = fields.String(load_default="", validate=validate.Length(max=500))
    operator = fields.String(required=True, validate=validate.OneOf(OPERATORS))
    value = fields.String(required=True, validate=validate.Length(max=10_000))

    @validates_schema
    def _valid(self, data, **kwargs):
        try:
            validate_condition(data)
        except ConditionError as exc:
            raise ValidationError(str(exc)) from None


TOOL_CALL_ACTIONS = ("allow_when_context_is_untrusted", "block_when_context_is_untrusted", "block_always",
                     "block_when_context_has_labels", "block_unless_context_has_labels", "require_approval")
TOOL_RESULT_ACTIONS = ("mark_as_trusted", "mark_as_untrusted", "block_always", "sanitize_with_dual_llm",
                       "add_labels")
#: Actions that take ``labels`` (at least one); every other action takes none.
LABELLED_ACTIONS = ("add_labels", "block_when_context_has_labels", "block_unless_context_has_labels")
LABEL_RE = r"^[a-z0-9][a-z0-9_.:/@-]{0,63}$"


def labels_field() -> fields.List:
    return fields.List(fields.String(validate=validate.Regexp(LABEL_RE, error=(
        "A label is 1 to 64 lower-case letters, digits and _ . : / @ - (e.g. confidential, source:web)."))),
        load_default=list, validate=validate.Length(max=20), metadata={
            "description": "add_labels: the labels the result gives the context; block_when_context_has_labels: "
                           "refused while the context holds any of them; block_unless_context_has_labels: refused "
                           "unless it holds all of them. untrusted is the built-in label of an untrusted context."})


def check_labels(action: str | None, labels: list[str] | None) -> str | None:
    """What is wrong with ``labels`` for ``action`` (None: nothing)."""
    if action in LABELLED_ACTIONS and not labels:
        return f"{action} needs at least one label (labels: [...])."
    if action not in LABELLED_ACTIONS and labels:
        return f"{action} takes no labels (only {', '.join(LABELLED_ACTIONS)} do)."
    if action == "add_labels" and "untrusted" in labels:  # type: ignore[operator]
        return "untrusted is the built-in label that trust policies set: use mark_as_untrusted."
    return None


class _LabelledSchema(Schema):
    """A policy whose ``labels`` must fit its ``action`` (checked here when both are given, by the views'
    checks on a partial update)."""

    @validates_schema
    def _labels_fit(self, data: dict, partial: bool | tuple = False, **_: object) -> None:
        if "action" in data and ("labels" in data or not partial):
            problem = check_labels(data["action"], data.get("labels"))
            if problem:
                raise ValidationError(problem, "labels")


class _PolicySchema(_LabelledSchema):
    id = fields.String(dump_only=True)
    tool_id = fields.String(required=True)
    conditions = fields.List(fields.Nested(ConditionSchema), load_default=list, validate=validate.Length(max=50))
    reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    labels = labels_field()
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class ToolCallPolicySchema(_PolicySchema):
    action = fields.String(required=True, validate=validate.OneOf(TOOL_CALL_ACTIONS))


class ToolResultPolicySchema(_PolicySchema):
    action = fields.String(required=True, validate=validate.OneOf(TOOL_RESULT_ACTIONS))


class PolicyTemplateSchema(_LabelledSchema):
    """A tool-call or tool-result policy for every profile, on the tools whose name matches ``tool_name``."""

    id = fields.String(dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(("call", "result")))
    tool_name = fields.String(required=True, validate=validate.Length(min=1, max=256), metadata={
        "description": "A tool name, or a glob (*, ?, [...]) over names; compared after normalisation."})
    conditions = fields.List(fields.Nested(ConditionSchema), load_default=list, validate=validate.Length(max=50))
    action = fields.String(required=True, validate=validate.OneOf(TOOL_CALL_ACTIONS + TOOL_RESULT_ACTIONS))
    reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    labels = labels_field()
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class ReplayPolicySchema(_LabelledSchema):
    """A policy the candidate adds (to the profile's own policies on ``tool``)."""

    kind = fields.String(required=True, validate=validate.OneOf(("call", "result")))
    tool = fields.String(required=True, validate=validate.Length(min=1, max=256))
    conditions = fields.List(fields.Nested(ConditionSchema), load_default=list, validate=validate.Length(max=50))
    action = fields.String(required=True, validate=validate.OneOf(TOOL_CALL_ACTIONS + TOOL_RESULT_ACTIONS))
    reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    labels = labels_field()

    @validates_schema
    def _action_of_its_kind(self, data: dict, **_: object) -> None:
        actions = TOOL_CALL_ACTIONS if data.get("kind") == "call" else TOOL_RESULT_ACTIONS
        if data.get("action") not in actions:
            raise ValidationError(f"A {data.get('kind')} policy's action is one of {', '.join(actions)}.", "action")


class ReplayEditSchema(Schema):
    """A change to an existing profile or template policy (by id)."""

    id = fields.String(required=True)
    conditions = fields.List(fields.Nested(ConditionSchema), validate=validate.Length(max=50))
    action = fields.String(validate=validate.OneOf(TOOL_CALL_ACTIONS + TOOL_RESULT_ACTIONS))
    reason = fields.String(allow_none=True, validate=validate.Length(max=2000))
    labels = fields.List(fields.String(validate=validate.Regexp(LABEL_RE)), validate=validate.Length(max=20))


class PolicyReplaySchema(Schema):
    """A replay of candidate policy changes over recorded interactions (``report`` once ``status`` is done)."""

    id = fields.String(dump_only=True)
    status = fields.String(dump_only=True, metadata={
        "description": "pending, running, done, failed or cancelled"})
    profile_id = fields.String(load_only=True, allow_none=True, load_default=None,
                               metadata={"description": "A profile (id or slug); null: every profile."})
    since = UTCDateTime(load_only=True, allow_none=True, load_default=None)
    until = UTCDateTime(load_only=True, allow_none=True, load_default=None)
    global_policy = fields.String(load_only=True, allow_none=True, load_default=None,
                                  validate=validate.OneOf(("restrictive", "permissive")))
    add = fields.List(fields.Nested(ReplayPolicySchema), load_only=True, load_default=list,
                      validate=validate.Length(max=200))
    edit = fields.List(fields.Nested(ReplayEditSchema), load_only=True, load_default=list,
                       validate=validate.Length(max=200))
    remove = fields.List(fields.String(), load_only=True, load_default=list, validate=validate.Length(max=200))
    spec = fields.Raw(dump_only=True)
    report = fields.Raw(dump_only=True, allow_none=True)
    error = fields.String(dump_only=True, allow_none=True)
    created_at = UTCDateTime(dump_only=True)
    started_at = UTCDateTime(dump_only=True, allow_none=True)
    finished_at = UTCDateTime(dump_only=True, allow_none=True)
    heartbeat_at = UTCDateTime(dump_only=True, allow_none=True, metadata={
        "description": "The last sign of life of the worker running it; a replay whose worker stopped is run "
                       "again by the next worker that reads it."})
    attempts = fields.Integer(dump_only=True)
    processed = fields.Integer(dump_only=True, metadata={"description": "Interactions replayed so far."})
    total = fields.Integer(dump_only=True, allow_none=True, metadata={"description": "Interactions to replay."})
    cancel_requested = fields.Boolean(dump_only=True)


class ToolRegistrationSchema(Schema):
    """A tool registered for a profile ahead of its traffic (discovery fills in the rest later)."""

    profile_id = fields.String(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=256))
    description = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=10_000))
    parameters = fields.Dict(allow_none=True, load_default=None)


class SettingsSchema(Schema):
    global_policy = fields.String(validate=validate.OneOf(("restrictive", "permissive")))
    mode = fields.String(validate=validate.OneOf(MODES), metadata={
        "description": "enforce (default) or monitor, for profiles whose mode is null."})


class BlockedToolCallSchema(Schema):
    id = fields.String(dump_only=True)
    profile_id = fields.String(dump_only=True)
    profile_name = fields.String(dump_only=True, allow_none=True)
    interaction_id = fields.String(dump_only=True, allow_none=True)
    session_id = fields.String(dump_only=True, allow_none=True)
    provider = fields.String(dump_only=True)
    model = fields.String(dump_only=True, allow_none=True)
    tool = fields.String(dump_only=True)
    arguments = fields.Raw(dump_only=True)
    reason = fields.String(dump_only=True)
    would_block = fields.Boolean(dump_only=True, metadata={
        "description": "Monitor mode: the call would have been blocked, and went through."})
    created_at = UTCDateTime(dump_only=True)


class InteractionSchema(Schema):
    """An interaction; ``request``, ``upstream_request`` and ``response`` only in the single-item view."""

    id = fields.String(dump_only=True)
    profile_id = fields.String(dump_only=True)
    profile_name = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "Kept when the profile is deleted: records outlive what they audit."})
    kind = fields.String(dump_only=True, metadata={"description": "chat or passthrough"})
    provider = fields.String(dump_only=True)
    model = fields.String(dump_only=True, allow_none=True)
    model_used = fields.String(dump_only=True, allow_none=True)
    stream = fields.Boolean(dump_only=True)
    status_code = fields.Integer(dump_only=True, allow_none=True)
    error = fields.String(dump_only=True, allow_none=True)
    refusal = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "Why the proxy refused: token_cost_limit_exceeded, request_blocked, response_blocked..."})
    limit_id = fields.String(dump_only=True, allow_none=True)
    input_tokens = fields.Integer(dump_only=True, allow_none=True)
    output_tokens = fields.Integer(dump_only=True, allow_none=True)
    usage_estimated = fields.Boolean(dump_only=True, metadata={
        "description": "The provider reported no usage: the tokens (and cost) are the proxy's estimate."})
    extra_calls = fields.Raw(dump_only=True, allow_none=True, metadata={
        "description": "Upstream calls the proxy made for this exchange (dual LLM), priced in cost_usd."})
    cost_usd = fields.Float(dump_only=True, allow_none=True)
    duration_ms = fields.Float(dump_only=True, allow_none=True)
    time_to_first_token_ms = fields.Float(dump_only=True, allow_none=True)
    blocked = fields.Raw(dump_only=True, allow_none=True)
    blocked_count = fields.Integer(dump_only=True)
    would_block_count = fields.Integer(dump_only=True, metadata={
        "description": "Monitor mode: decisions that would have changed the exchange in enforce mode (refused "
                       "calls, blocked or sanitised results, refused requests or answers); see flags."})
    path = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "The request path below the profile (the route the request came by)."})
    flags = fields.Raw(dump_only=True, allow_none=True,
                       metadata={"description": "Observations that did not block: undeclared_tool_calls, "
                                                "unseen_context, labelled_results (which result gave the "
                                                "context which labels); in monitor mode would_block, "
                                                "would_block_results, would_refuse."})
    session_id = fields.String(dump_only=True, allow_none=True)
    user_id = fields.String(dump_only=True, allow_none=True)
    agent_id = fields.String(dump_only=True, allow_none=True)
    virtual_key_id = fields.String(dump_only=True, allow_none=True)
    virtual_key_name = fields.String(dump_only=True, allow_none=True)
    router = fields.Raw(dump_only=True, allow_none=True, metadata={
        "description": "Model Router exchanges: front (the client's API family) and attempts (every upstream "
                       "tried, in order: provider, model, status, error)."})
    labels = fields.List(fields.String(), dump_only=True, allow_none=True, metadata={
        "description": "The labels the context held (untrusted included); null when no policy decided the "
                       "exchange."})
    created_at = UTCDateTime(dump_only=True)
    person_id = fields.String(dump_only=True, allow_none=True)
    person_email = fields.String(dump_only=True, allow_none=True)
    team_id = fields.String(dump_only=True, allow_none=True)
    team_name = fields.String(dump_only=True, allow_none=True)
    subscription = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "The provider subscription that paid (claude, chatgpt): cost_usd is what it would have "
                       "cost at API prices, covered by it; billed_cost_usd is 0."})
    billed_cost_usd = fields.Method("_billed", dump_only=True, allow_none=True)

    def _billed(self, row):
        if row.cost_usd is None:
            return None
        return 0.0 if row.subscription else float(row.cost_usd)
    request = fields.Raw(dump_only=True, allow_none=True)
    upstream_request = fields.Function(
        lambda row: row.request if row.upstream_request is None else row.upstream_request, dump_only=True,
        metadata={"description": "As sent upstream (stored only when it differs from the request)."})
    response = fields.Raw(dump_only=True, allow_none=True)


class TokenPriceSchema(Schema):
    id = fields.String(dump_only=True)
    model = fields.String(required=True, validate=validate.Length(min=1, max=256))
    input_per_million = fields.Float(required=True, validate=validate.Range(min=0, max=MAX_USD))
    output_per_million = fields.Float(required=True, validate=validate.Range(min=0, max=MAX_USD))
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class LimitSchema(Schema):
    id = fields.String(dump_only=True)
    scope = fields.String(required=True, validate=validate.OneOf(("profile", "virtual_key", "global", "person",
                                                                  "team")))
    profile_id = fields.String(allow_none=True, load_default=None)
    virtual_key_id = fields.String(allow_none=True, load_default=None)
    person_id = fields.String(allow_none=True, load_default=None, metadata={
        "description": "scope person: the person (id or e-mail address); none: the default limit of every person "
                       "without a limit of their own, counted for each person separately."})
    team_id = fields.String(allow_none=True, load_default=None, metadata={
        "description": "scope team: the team (id or name)."})
    model = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=256), metadata={
        "description": "Only exchanges of this model (as asked or as sent) count and are refused."})
    max_cost_usd = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False, max=MAX_USD))
    period = fields.String(load_default="total", validate=validate.OneOf(("total", "day", "week", "month",
                                                                          "rolling")), metadata={
        "description": "total (never resets: 402), day / week (from Monday) / month (UTC calendar windows), or "
                       "rolling (the last window_seconds)."})
    window_seconds = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(
        min=60, max=366 * 86400), metadata={"description": "period rolling: the window's length in seconds."})
    used_usd = fields.Float(dump_only=True)
    period_start = UTCDateTime(dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class OptimizationRuleSchema(Schema):
    id = fields.String(dump_only=True)
    provider = fields.String(required=True)
    priority = fields.Integer(load_default=0, validate=validate.Range(min=-MAX_INT, max=MAX_INT))
    max_length = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=0, max=MAX_INT))
    has_tools = fields.Boolean(allow_none=True, load_default=None)
    target_model = fields.String(required=True, validate=validate.Length(min=1, max=256))
    enabled = fields.Boolean(load_default=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class ModelAliasSchema(Schema):
    """A Model Router model name standing for ordered ``provider:model`` targets (the next tried when one fails
    before its answer began)."""

    id = fields.String(dump_only=True)
    name = fields.String(required=True, validate=[validate.Length(min=1, max=256), validate.Regexp(
        r"^[^:\s]+$", error="An alias has no colon or space (provider:model ids are not aliases).")])
    profile_id = fields.String(allow_none=True, load_default=None, metadata={
        "description": "The profile (id or slug) the alias is for; none: every profile (a profile's own alias of "
                       "the same name wins)."})
    targets = fields.List(fields.String(validate=validate.Length(min=3, max=300)), required=True,
                          validate=validate.Length(min=1, max=10), metadata={
                              "description": "provider:model ids, tried in this order."})
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class ChangeLogSchema(Schema):
    """One configuration change: who, when, through what, on which object, its value before and after."""

    id = fields.Integer(dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    actor = fields.Function(lambda row: {"kind": row.actor_kind, "name": row.actor_name, "role": row.actor_role,
                                         "person_id": row.person_id}, dump_only=True, metadata={
        "description": "Who: kind (admin_token, readonly_token, person, config_file, system), name, role."})
    via = fields.String(dump_only=True, metadata={"description": "api, console, config_file or system"})
    action = fields.String(dump_only=True, metadata={"description": "create, update or delete"})
    object_type = fields.String(dump_only=True)
    object_id = fields.String(dump_only=True)
    object_name = fields.String(dump_only=True, allow_none=True)
    profile_id = fields.String(dump_only=True, allow_none=True)
    before = fields.Raw(dump_only=True, allow_none=True, metadata={
        "description": "The object before the change (null for a create); secrets never, fingerprints at most."})
    after = fields.Raw(dump_only=True, allow_none=True, metadata={"description": "After (null for a delete)."})
    changed = fields.Function(lambda row: changed_fields(row.before, row.after), dump_only=True,
                              metadata={"description": "The fields that differ."})
    note = fields.String(dump_only=True, allow_none=True)


class PersonSchema(Schema):
    """A person who calls models through the proxy (created here or on first sight of an identity provider
    token). ``teams`` lists their memberships with their source (api or idp)."""

    id = fields.String(dump_only=True)
    email = fields.Email(allow_none=True, load_default=None, validate=validate.Length(max=320))
    name = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=200))
    disabled = fields.Boolean(load_default=False, metadata={
        "description": "A disabled person's identity provider tokens and keys are refused."})
    issuer = fields.String(dump_only=True, allow_none=True)
    subject = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "The identity provider's sub claim, set at the person's first sign-in."})
    team_ids = fields.List(fields.String(validate=validate.Length(min=1, max=200)), load_only=True,
                           validate=validate.Length(max=500), metadata={
        "description": "Teams (ids or names) the person belongs to, as an operator sets them (source api)."})
    teams = fields.List(fields.Dict(), dump_only=True, metadata={
        "description": "Memberships: id, name and source (api: set here; idp: from the identity provider's groups)."})
    last_seen_at = UTCDateTime(dump_only=True, allow_none=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)

    @validates_schema
    def _lowercase(self, data, **kwargs):
        if data.get("email"):
            data["email"] = data["email"].strip().lower()


class TeamSchema(Schema):
    id = fields.String(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    idp_group = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=256),
                              metadata={"description": "The identity provider group whose members belong to the "
                                                       "team."})
    members = fields.Integer(dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class SpendRowSchema(Schema):
    """One group of ``GET /api/spend``: ``cost_usd`` at API prices, ``covered_usd`` the part provider
    subscriptions paid for, ``billed_usd`` the rest."""

    key = fields.String(allow_none=True, metadata={"description": "The group's id (none: no person / team...)."})
    name = fields.String(allow_none=True)
    interactions = fields.Integer()
    input_tokens = fields.Integer()
    output_tokens = fields.Integer()
    cost_usd = fields.Float()
    covered_usd = fields.Float()
    billed_usd = fields.Float()


class ApprovalSchema(Schema):
    """A tool call a require_approval policy held back, and what a person decided."""

    id = fields.String(dump_only=True)
    status = fields.String(dump_only=True, metadata={
        "description": "pending, approved, rejected, used (the approved call passed, once) or expired"})
    tool = fields.String(dump_only=True)
    arguments = fields.Raw(dump_only=True, allow_none=True)
    context_labels = fields.List(fields.String(), dump_only=True, allow_none=True)
    policy_reason = fields.String(dump_only=True, allow_none=True)
    profile_id = fields.String(dump_only=True)
    profile_name = fields.String(dump_only=True, allow_none=True)
    session_id = fields.String(dump_only=True, allow_none=True)
    provider = fields.String(dump_only=True, allow_none=True)
    model = fields.String(dump_only=True, allow_none=True)
    interaction_id = fields.String(dump_only=True, allow_none=True)
    virtual_key_id = fields.String(dump_only=True, allow_none=True, metadata={"description": "Who asked."})
    virtual_key_name = fields.String(dump_only=True, allow_none=True)
    user_id = fields.String(dump_only=True, allow_none=True)
    agent_id = fields.String(dump_only=True, allow_none=True)
    created_at = UTCDateTime(dump_only=True)
    expires_at = UTCDateTime(dump_only=True, metadata={
        "description": "Pending: the decision must come before; approved: the call must be made again before."})
    decided_at = UTCDateTime(dump_only=True, allow_none=True)
    decided_by = fields.String(dump_only=True, allow_none=True)
    decided_by_kind = fields.String(dump_only=True, allow_none=True)
    decision_reason = fields.String(dump_only=True, allow_none=True)
    used_at = UTCDateTime(dump_only=True, allow_none=True)
    used_interaction_id = fields.String(dump_only=True, allow_none=True)


class ApprovalDecisionSchema(Schema):
    reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000), metadata={
        "description": "Why (shown to the agent when rejected)."})


class AppliedPackSchema(Schema):
    """A policy pack applied to a profile (or, ``profile_id`` null, to every profile as templates)."""

    id = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    version = fields.String(dump_only=True, metadata={"description": "The pack's version when it was applied."})
    profile_id = fields.String(dump_only=True, allow_none=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class PackApplySchema(Schema):
    packs = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True,
                        validate=validate.Length(min=1, max=100), metadata={
                            "description": "Pack names (GET /api/packs); a pack already applied there is brought "
                                           "to the version on offer."})
