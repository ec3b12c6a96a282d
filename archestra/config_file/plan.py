"""The difference between a file's state and the database's: what ``plan`` prints and ``apply`` does, in the
order ``apply`` does it (deletions first, then profiles, then what refers to them)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from ..models import (
    Limit,
    ModelAlias,
    OptimizationRule,
    PolicyTemplate,
    Profile,
    ProviderKey,
    Setting,
    TokenPrice,
    Tool,
)
from ..packs.apply import apply_packs
from ..packs.catalog import PackError
from .file_format import KINDS, PROFILE_FIELDS, policy_key, profile_key
from .packs import pack_diff
from .source import field_name
from .state import POLICY_MODELS, without_ids

CREATE, CHANGE, DELETE = "create", "change", "delete"
SIGNS = {CREATE: "+", CHANGE: "~", DELETE: "-"}
#: Deletions first (a profile's last: the database deletes what hangs on it), then profiles, tools, the rest.
STAGES = ("delete", "delete_profiles", "profiles", "tools", "rest")


class PlanError(Exception):
    """The file cannot be applied to this database (a reference to a profile that does not exist...)."""


@dataclass
class Context:
    """What ``apply`` steps share: the session, and profile ids by slug (or name), new profiles included."""

    session: Any
    profile_ids: dict[str, str] = field(default_factory=dict)
    tool_ids: dict[tuple[str, str], str] = field(default_factory=dict)

    def profile_id(self, key: str | None) -> str | None:
        if key is None:
            return None
        if key not in self.profile_ids:
            raise PlanError(f"no profile {key!r}")
        return self.profile_ids[key]


@dataclass
class Change:
    op: str
    what: str
    detail: str = ""
    stage: str = "rest"
    do: Callable[[Context], None] | None = field(default=None, repr=False)

    def line(self) -> str:
        return f"  {SIGNS[self.op]} {self.what}" + (f": {self.detail}" if self.detail else "")


def flow(value: Any) -> str:
    """A value as one line of YAML."""
    text = yaml.safe_dump(without_ids(value), default_flow_style=True, width=10_000, sort_keys=False).strip()
    return text.removesuffix("...").strip()  # a lone scalar ends with YAML's document end marker


def _set(row_of: Callable[[Context], Any], values: dict[str, Any]) -> Callable[[Context], None]:
    def do(ctx: Context) -> None:
        row = row_of(ctx)
        for key, value in values.items():
            setattr(row, key, value)
    return do


def _delete(model: Any, row_id: str) -> Callable[[Context], None]:
    def do(ctx: Context) -> None:
        row = ctx.session.get(model, row_id)
        if row is not None:
            ctx.session.delete(row)
    return do


def _add(make: Callable[[Context], Any]) -> Callable[[Context], None]:
    def do(ctx: Context) -> None:
        ctx.session.add(make(ctx))
    return do


def _policy_row(model: Any, entry: dict[str, Any], **columns: Any) -> Any:
    row = model(**columns)
    for key, value in entry.items():
        if key not in ("tool", "_id") and hasattr(model, key):
            setattr(row, key, value)
    return row


def _multiset(desired: list[dict[str, Any]], current: list[dict[str, Any]], key: Callable[[dict], Any]
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(desired entries missing from current, current entries missing from desired), by ``key``."""
    pool: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for entry in current:
        pool[key(without_ids(entry))].append(entry)
    missing = []
    for entry in desired:
        found = pool.get(key(without_ids(entry)))
        if found:
            found.pop(0)
        else:
            missing.append(entry)
    return missing, [entry for entries in pool.values() for entry in entries]


def diff(desired: dict[str, Any], current: dict[str, Any], where: Callable[[tuple], str] | None = None
         ) -> list[Change]:
    """The changes that make ``current`` (read_state) match ``desired`` (a file's state), section by section
    (``apply_order`` gives the order apply makes them in)."""
    where = where or (lambda path: field_name(path))
    changes: list[Change] = []
    known = {profile_key(p) for p in current["profiles"]}
    if desired["profiles"] is not None:
        known = {profile_key(p) for p in desired["profiles"]}
        known |= {p["name"] for p in desired["profiles"]}
    else:
        known |= {p["name"] for p in current["profiles"]}
    for section in ("limits", "model_aliases"):
        for index, entry in enumerate(desired[section] or ()):
            if entry.get("profile") and entry["profile"] not in known:
                raise PlanError(f"{where((section, index, 'profile'))}: no profile {entry['profile']!r} (neither "
                                "in the file nor in the database)")

    if desired["settings"] is not None:
        for key, value in desired["settings"].items():
            if current["settings"].get(key) != value:
                def do(ctx: Context, key: str = key, value: Any = value) -> None:
                    row = ctx.session.get(Setting, key)
                    if row is None:
                        ctx.session.add(Setting(key=key, value=value))
                    else:
                        row.value = value
                changes.append(Change(CHANGE, f"setting {key}", f"{current['settings'].get(key)} -> {value}",
                                      do=do))

    if desired["packs"] is not None:
        changes += _packs("every profile", None, desired["packs"], desired.get("pack_documents") or {},
                          current["packs"], current["pack_documents"])

    if desired["templates"] is not None:
        for kind in KINDS:
            add, remove = _multiset(desired["templates"][kind], current["templates"][kind], policy_key)
            for entry in remove:
                changes.append(Change(DELETE, f"template {kind} policy on {entry['tool']}", flow(entry),
                                      "delete", _delete(PolicyTemplate, entry["_id"])))
            for entry in add:
                changes.append(Change(CREATE, f"template {kind} policy on {entry['tool']}", flow(entry), do=_add(
                    lambda ctx, entry=entry, kind=kind: _policy_row(PolicyTemplate, entry, kind=kind,
                                                                    tool_name=entry["tool"]))))

    if desired["profiles"] is not None:
        changes += _profiles(desired["profiles"], current["profiles"], where)

    if desired["limits"] is not None:
        changes += _keyed(desired["limits"], current["limits"], lambda e: (e["scope"], e["profile"], e["period"]),
                          Limit, "limit", lambda e: f"{e['scope']}" + (f" {e['profile']}" if e["profile"] else "")
                          + f" per {e['period']}", ("max_cost_usd",),
                          lambda ctx, e: Limit(scope=e["scope"], profile_id=ctx.profile_id(e["profile"]),
                                               period=e["period"], max_cost_usd=e["max_cost_usd"]))
    if desired["prices"] is not None:
        changes += _keyed(desired["prices"], current["prices"], lambda e: e["model"], TokenPrice, "price",
                          lambda e: e["model"], ("input_per_million", "output_per_million"),
                          lambda ctx, e: TokenPrice(**without_ids(e)))
    if desired["optimization_rules"] is not None:
        add, remove = _multiset(desired["optimization_rules"], current["optimization_rules"], policy_key)
        for entry in remove:
            changes.append(Change(DELETE, f"optimization rule {entry['provider']} -> {entry['target_model']}",
                                  flow(entry), "delete", _delete(OptimizationRule, entry["_id"])))
        for entry in add:
            changes.append(Change(CREATE, f"optimization rule {entry['provider']} -> {entry['target_model']}",
                                  flow(entry), do=_add(lambda ctx, e=entry: OptimizationRule(**without_ids(e)))))
    if desired["model_aliases"] is not None:
        changes += _keyed(desired["model_aliases"], current["model_aliases"], lambda e: (e["name"], e["profile"]),
                          ModelAlias, "model alias", lambda e: e["name"] + (f" of {e['profile']}" if e["profile"]
                                                                            else ""), ("targets",),
                          lambda ctx, e: ModelAlias(name=e["name"], profile_id=ctx.profile_id(e["profile"]),
                                                    targets=e["targets"]))
    return changes


def apply_order(changes: list[Change]) -> list[Change]:
    """Deletions first, then profiles, then tools, then what refers to them (stable within a stage)."""
    order = {stage: index for index, stage in enumerate(STAGES)}
    return sorted(changes, key=lambda c: order[c.stage])


def _keyed(desired: list[dict[str, Any]], current: list[dict[str, Any]], key: Callable[[dict], Any], model: Any,
           noun: str, label: Callable[[dict], str], compared: tuple[str, ...],
           make: Callable[[Context, dict], Any]) -> list[Change]:
    """Entries matched by ``key`` (in order when a key repeats): changed in place (a limit keeps what it has
    used), else created or deleted."""
    pool: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for entry in current:
        pool[key(entry)].append(entry)
    changes = []
    for entry in desired:
        found = pool.get(key(entry))
        if not found:
            changes.append(Change(CREATE, f"{noun} {label(entry)}", flow({k: entry[k] for k in compared}),
                                  do=_add(lambda ctx, e=entry: make(ctx, e))))
            continue
        row = found.pop(0)
        moved = {k: entry[k] for k in compared if entry[k] != row[k]}
        if moved:
            changes.append(Change(CHANGE, f"{noun} {label(entry)}", ", ".join(
                f"{k} {flow(row[k])} -> {flow(v)}" for k, v in moved.items()),
                do=_set(lambda ctx, i=row["_id"]: ctx.session.get(model, i), moved)))
    for entries in pool.values():
        for entry in entries:
            changes.append(Change(DELETE, f"{noun} {label(entry)}", "", "delete", _delete(model, entry["_id"])))
    return changes


def _match(desired: dict[str, Any], current: list[dict[str, Any]]) -> dict[str, Any] | None:
    if desired["default"]:
        return next((p for p in current if p["default"]), None)
    if desired["slug"]:
        found = next((p for p in current if p["slug"] == desired["slug"]), None)
        if found is not None:
            return found
        return next((p for p in current if p["name"] == desired["name"] and not p["slug"]), None)
    return next((p for p in current if p["name"] == desired["name"]), None)


def _profiles(desired: list[dict[str, Any]], current: list[dict[str, Any]], where: Callable[[tuple], str]
              ) -> list[Change]:
    changes: list[Change] = []
    matched: set[str] = set()
    columns = [key for key in PROFILE_FIELDS if key != "default"]

    def register(ctx: Context, key: str, profile_id: str, name: str) -> None:
        ctx.profile_ids[key] = ctx.profile_ids[name] = profile_id

    for index, profile in enumerate(desired):
        key = profile_key(profile)
        row = _match(profile, current)
        if row is not None and row["default"] and not profile["default"]:
            raise PlanError(f"{where(('profiles', index))}: profile {key} is the database's default profile: give it "
                            "default: true in the file")
        if row is None:
            values = {k: profile[k] for k in columns}

            def create(ctx: Context, values: dict[str, Any] = values, key: str = key) -> None:
                new = Profile(**values)
                ctx.session.add(new)
                ctx.session.flush()
                register(ctx, key, new.id, values["name"])
            changes.append(Change(CREATE, f"profile {key}", flow(values), "profiles", create))
            current_tools: list[dict[str, Any]] = []
        else:
            matched.add(row["_id"])
            moved = {k: profile[k] for k in columns if profile[k] != row[k]}
            if moved:
                changes.append(Change(CHANGE, f"profile {key}", ", ".join(
                    f"{k} {flow(row[k])} -> {flow(v)}" for k, v in moved.items()), "profiles",
                    _set(lambda ctx, i=row["_id"]: ctx.session.get(Profile, i), moved)))
            changes.append(Change(CHANGE, "", stage="profiles", do=lambda ctx, k=key, r=row, n=profile["name"]:
                                  register(ctx, k, r["_id"], n)))
            current_tools = row["tools"]
        changes += _tools(key, profile["tools"], current_tools)
        if profile.get("packs") is not None:
            changes += _packs(f"profile {key}", key, profile["packs"], profile.get("pack_documents") or {},
                              row["packs"] if row else [], row["pack_documents"] if row else {})
        if "provider_keys" in profile:
            changes += _provider_keys(key, profile["provider_keys"], row["provider_keys"] if row else {})
    for row in current:
        if row["_id"] not in matched:
            if row["default"]:
                continue  # the default profile is never deleted: left as it is when the file does not list it
            changes.append(Change(DELETE, f"profile {profile_key(row)}", "with its tools, policies, keys and limits",
                                  "delete_profiles", _delete(Profile, row["_id"])))
    return [c for c in changes if c.what or c.do]


def _packs(where: str, profile: str | None, desired: list[str], desired_docs: dict[str, Any], current: list[str],
           current_docs: dict[str, Any]) -> list[Change]:
    """The packs of one place (``profile``: its key; None: every profile): one line per pack to apply, take off
    or bring to the version on offer, and one step that applies exactly the listed ones (``apply_packs``, in this
    transaction: the generation is bumped once, by apply)."""
    found = pack_diff(desired, desired_docs, current, current_docs)
    if not found:
        return []
    changes = [Change(op, f"pack {name} on {where}", detail, "delete" if op == DELETE else "rest",
                      do=lambda ctx: None) for op, name, detail in found]

    def step(ctx: Context) -> None:
        try:
            apply_packs(ctx.profile_id(profile), desired, exclusive=True, commit=False)
        except PackError as exc:  # the pack folder changed since the file was read
            raise PlanError(f"{where}: {exc}; nothing was changed") from None
    return changes + [Change(CHANGE, "", stage="rest", do=step)]


def _provider_keys(profile: str, desired: dict[str, str], current: dict[str, dict[str, Any]]) -> list[Change]:
    """The keys the proxy holds for the profile: compared by fingerprint, shown by fingerprint and last four
    characters, stored encrypted (never in clear, never printed)."""
    from ..runtime import current_runtime
    from ..secretbox import SecretKeyMissing, fingerprint

    def store(ctx: Context, provider: str, secret: str) -> None:
        try:
            ciphertext = current_runtime().keys.box.encrypt(secret)
        except SecretKeyMissing as exc:
            raise PlanError(str(exc)) from None
        row = ctx.session.get(ProviderKey, current[provider]["_id"]) if provider in current else None
        if row is None:
            row = ProviderKey(profile_id=ctx.profile_id(profile), provider=provider)
            ctx.session.add(row)
        row.ciphertext, row.fingerprint, row.last4 = ciphertext, fingerprint(secret), secret[-4:]

    changes = []
    for provider, secret in desired.items():
        shown = f"...{secret[-4:]} (fingerprint {fingerprint(secret)})"
        if provider not in current:
            changes.append(Change(CREATE, f"profile {profile} provider key {provider}", shown,
                                  do=lambda ctx, p=provider, s=secret: store(ctx, p, s)))
        elif current[provider]["fingerprint"] != fingerprint(secret):
            changes.append(Change(CHANGE, f"profile {profile} provider key {provider}",
                                  f"...{current[provider]['last4']} -> {shown}",
                                  do=lambda ctx, p=provider, s=secret: store(ctx, p, s)))
    for provider, row in current.items():
        if provider not in desired:
            changes.append(Change(DELETE, f"profile {profile} provider key {provider}", f"...{row['last4']}",
                                  "delete", _delete(ProviderKey, row["_id"])))
    return changes


def _tools(profile: str, desired: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[Change]:
    changes: list[Change] = []
    by_name = {tool["name"]: tool for tool in current}
    for tool in desired:
        row = by_name.pop(tool["name"], None)
        where = f"profile {profile} tool {tool['name']}"
        if row is None:
            def create(ctx: Context, tool: dict[str, Any] = tool) -> None:
                new = Tool(profile_id=ctx.profile_id(profile), name=tool["name"], description=tool.get("description"))
                ctx.session.add(new)
                ctx.session.flush()
                ctx.tool_ids[(profile, tool["name"])] = new.id
            changes.append(Change(CREATE, where, "", "tools", create))
            own = {kind: [] for kind in KINDS}
        else:
            changes.append(Change(CHANGE, "", stage="tools", do=lambda ctx, n=tool["name"], i=row["_id"]:
                                  ctx.tool_ids.__setitem__((profile, n), i)))
            if "description" in tool and tool["description"] != row["description"]:
                changes.append(Change(CHANGE, where, "description", "tools",
                                      _set(lambda ctx, i=row["_id"]: ctx.session.get(Tool, i),
                                           {"description": tool["description"]})))
            own = {kind: row[key] for kind, key in KINDS.items()}
        for kind, key in KINDS.items():
            add, remove = _multiset(tool[key], own[kind], policy_key)
            changes += _policy_changes(profile, tool["name"], kind, add, remove)
    for row in by_name.values():  # tools the file does not list keep no policies (the tool stays: discovery's)
        for kind, key in KINDS.items():
            changes += _policy_changes(profile, row["name"], kind, [], row[key])
    return changes


def _policy_changes(profile: str, tool: str, kind: str, add: list[dict[str, Any]], remove: list[dict[str, Any]]
                    ) -> list[Change]:
    model = POLICY_MODELS[kind]
    where = f"profile {profile} tool {tool} {kind} policy"
    changes = [Change(DELETE, where, flow(entry), "delete", _delete(model, entry["_id"])) for entry in remove]
    changes += [Change(CREATE, where, flow(entry), do=_add(
        lambda ctx, e=entry: _policy_row(model, e, tool_id=ctx.tool_ids[(profile, tool)]))) for entry in add]
    return changes


def visible(changes: list[Change]) -> list[Change]:
    """The changes a person reads (without the steps that only note ids for the next ones)."""
    return [change for change in changes if change.what]


def render(changes: list[Change], name: str) -> str:
    shown = visible(changes)
    if not shown:
        return f"{name}: no differences: the database matches the file."
    counts = {op: sum(1 for c in shown if c.op == op) for op in SIGNS}
    lines = [f"{name}: {counts[CREATE]} to create, {counts[CHANGE]} to change, {counts[DELETE]} to delete"]
    lines += [change.line() for change in shown]
    return "\n".join(lines)
