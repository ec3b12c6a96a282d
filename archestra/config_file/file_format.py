"""The declarative configuration file (docs/configuration-as-code.md): its sections, validated with the management
API's own marshmallow schemas, into the plain *state* that ``plan`` compares, ``apply`` writes and ``export`` reads.

A state is a dict of sections; a section the file leaves out is ``None``: the file does not own it, and ``apply``
leaves it as it is. A section that is present (even empty) is owned whole: what it does not list is deleted.
Objects are named by slug, name, tool name or model, never by database id.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Mapping

from marshmallow import Schema, ValidationError

from ..api.schemas import (
    LimitSchema,
    ModelAliasSchema,
    OptimizationRuleSchema,
    PolicyTemplateSchema,
    ProfileSchema,
    SettingsSchema,
    TokenPriceSchema,
    ToolCallPolicySchema,
    ToolResultPolicySchema,
)
from ..models import PolicyTemplate
from ..router.targets import validate_targets
from .source import Path, Source, read_yaml

VERSION = 1
SECTIONS = ("settings", "packs", "templates", "profiles", "limits", "prices", "optimization_rules", "model_aliases")
KINDS = {"call": "call_policies", "result": "result_policies"}
#: The profile's own columns the file sets (``default`` names the default profile; it cannot be moved).
PROFILE_FIELDS = ("slug", "name", "default", "mode", "consider_context_untrusted", "global_policy",
                  "require_virtual_key", "metadata_only")


def policy_schema(kind: str) -> Schema:
    """The management API's schema of a tool-call (``call``) or tool-result (``result``) policy, without the
    tool's database id: the file names the tool instead. Fields other issues add to the API flow through."""
    return (ToolCallPolicySchema if kind == "call" else ToolResultPolicySchema)(exclude=("tool_id",))


def policy_fields(kind: str) -> list[str]:
    """The fields a policy entry carries: what the API's schema loads (``action`` first)."""
    names = [name for name, item in policy_schema(kind).fields.items() if not item.dump_only]
    return sorted(names, key=lambda name: name != "action")


def canonical_policy(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A policy entry in one form, whatever its source (file, database, pack): every field, in schema order."""
    out = {}
    for name in policy_fields(kind):
        value = values.get(name)
        if name == "conditions":
            value = [{"key": c.get("key", ""), "operator": c["operator"], "value": c["value"]} for c in value or ()]
        out[name] = value
    return out


def field_default(kind: str, name: str) -> Any:
    """The value the API's schema gives ``name`` when a policy leaves it out."""
    default = getattr(policy_schema(kind).fields.get(name), "load_default", None)
    default = default() if callable(default) else default
    return None if default.__class__.__name__ == "_Missing" else default


def policy_key(entry: Mapping[str, Any]) -> str:
    """Policies compare by their whole content (their order never matters to the engine)."""
    return json.dumps(entry, sort_keys=True, default=str)


def profile_key(profile: Mapping[str, Any]) -> str:
    """How other entries name a profile: its slug, else its name."""
    return profile.get("slug") or profile["name"]


def load_file(path: str, env: Mapping[str, str] | None) -> tuple[Source, dict[str, Any]]:
    """Read and validate the file at ``path``: its :class:`Source` and its state. Raises ``FileError``.
    ``env`` expands its ``${NAME}`` references (the command line's and the start's environment); None leaves
    them as written and its provider keys out."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        from .source import FileError
        raise FileError([f"{path}: cannot be read ({exc.strerror or exc})"]) from None
    return load_text(path, text, env)


def load_text(name: str, text: str, env: Mapping[str, str] | None) -> tuple[Source, dict[str, Any]]:
    source = read_yaml(name, text, env)
    state = parse(source)
    source.check()
    from .packs import expand_packs  # the one place packs (issue 33) change the state

    state = expand_packs(state, source)
    source.check()
    return source, state


def parse(source: Source) -> dict[str, Any]:
    data = source.data
    state: dict[str, Any] = {name: None for name in SECTIONS}
    if data is None:
        source.error((), "the file is empty: it needs at least version: 1")
        return state
    if not isinstance(data, dict):
        source.error((), "the file must be a mapping (version:, profiles:, ...)")
        return state
    if data.get("version") != VERSION:
        source.error(("version",), f"must be {VERSION}" + ("" if "version" in data else " (missing)"))
    for key in data:
        if key != "version" and key not in SECTIONS:
            source.error((key,), f"unknown section; the sections are {', '.join(SECTIONS)}")
    for name, read in (("settings", _settings), ("packs", _packs), ("templates", _templates),
                       ("profiles", _profiles), ("limits", _limits), ("prices", _prices),
                       ("optimization_rules", _rules), ("model_aliases", _aliases)):
        if name in data:
            state[name] = read(source, data[name], (name,))
    if isinstance(data.get("profiles"), list):  # references are checked on every entry, valid or not
        known = {str(p.get(key)) for p in data["profiles"] if isinstance(p, dict) for key in ("slug", "name")
                 if p.get(key)}
        for section in ("limits", "model_aliases"):
            for index, entry in enumerate(data.get(section) if isinstance(data.get(section), list) else ()):
                if isinstance(entry, dict) and entry.get("profile") and str(entry["profile"]) not in known:
                    source.error((section, index, "profile"), f"no profile {entry['profile']!r} in profiles")
    return state


# -- helpers ---------------------------------------------------------------------------------------
def _validated(source: Source, schema: Schema, values: Any, path: Path,
               renamed: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """``schema.load(values)``; each error recorded at its field (``renamed``: schema field -> file field)."""
    try:
        return schema.load(values)
    except ValidationError as exc:
        _record(source, exc.messages, path, renamed or {})
        return None


def _record(source: Source, messages: Any, path: Path, renamed: Mapping[str, str]) -> None:
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":
                _record(source, value, path, renamed)
            else:
                _record(source, value, path + (renamed.get(key, key) if isinstance(key, str) else key,), {})
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for message in messages:
            source.error(path, message.rstrip("."))
    else:
        source.error(path, str(messages))


def _mapping(source: Source, value: Any, path: Path) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        source.error(path, "must be a mapping (key: value)")
        return None
    return value


def _list(source: Source, value: Any, path: Path) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        source.error(path, "must be a list (- ...)")
        return []
    return value


def _entries(source: Source, value: Any, path: Path, read: Callable[[dict[str, Any], Path], Any]) -> list[Any]:
    out = []
    for index, item in enumerate(_list(source, value, path)):
        entry = _mapping(source, item, path + (index,))
        if entry is not None:
            parsed = read(entry, path + (index,))
            if parsed is not None:
                out.append(parsed)
    return out


def _unique(source: Source, entries: list[tuple[Any, Path]], what: str) -> None:
    seen: set = set()
    for key, path in entries:
        if key in seen:
            source.error(path, f"{what} {key!r} is listed twice")
        seen.add(key)


# -- sections --------------------------------------------------------------------------------------
def _settings(source: Source, value: Any, path: Path) -> dict[str, Any] | None:
    data = _mapping(source, value if value is not None else {}, path)
    if data is None:
        return None
    return _validated(source, SettingsSchema(), data, path) or {}


def _packs(source: Source, value: Any, path: Path) -> list[str]:
    packs = _list(source, value, path)
    for index, name in enumerate(packs):
        if not isinstance(name, str) or not name:
            source.error(path + (index,), "a pack is named by a string")
    return [name for name in packs if isinstance(name, str)]


def _policies(source: Source, kind: str, value: Any, path: Path) -> list[dict[str, Any]]:
    def read(entry: dict[str, Any], where: Path) -> dict[str, Any] | None:
        loaded = _validated(source, policy_schema(kind), entry, where)
        return canonical_policy(kind, loaded) if loaded is not None else None
    return _entries(source, value, path, read)


def _templates(source: Source, value: Any, path: Path) -> dict[str, list[dict[str, Any]]] | None:
    data = _mapping(source, value if value is not None else {}, path)
    if data is None:
        return None
    for key in data:
        if key not in KINDS.values():
            source.error(path + (key,), "unknown key; templates has call_policies and result_policies")
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, key in KINDS.items():
        def read(entry: dict[str, Any], where: Path, kind: str = kind) -> dict[str, Any] | None:
            entry = dict(entry)
            tool = entry.pop("tool", None)
            if tool is None:
                source.error(where + ("tool",), "missing: the tool name (or a glob such as mcp:*) it applies to")
            elif _validated(source, PolicyTemplateSchema(only=("tool_name",)), {"tool_name": tool}, where,
                            {"tool_name": "tool"}) is None:
                return None
            loaded = _validated(source, policy_schema(kind), entry, where)
            if loaded is None or tool is None:
                return None
            for name, value in loaded.items():  # a field of profile policies that templates do not have
                if not hasattr(PolicyTemplate, name) and value != field_default(kind, name):
                    source.error(where + (name,), "policy templates have no such field (profile policies do)")
            return {"tool": tool, **canonical_policy(kind, loaded)}
        out[kind] = _entries(source, data.get(key), path + (key,), read)
    return out


def _profiles(source: Source, value: Any, path: Path) -> list[dict[str, Any]]:
    def read(entry: dict[str, Any], where: Path) -> dict[str, Any] | None:
        unknown = set(entry) - set(PROFILE_FIELDS) - {"tools", "packs", "provider_keys"}
        for key in unknown:
            source.error(where + (key,), "unknown field; a profile has " + ", ".join(PROFILE_FIELDS + (
                "packs", "tools", "provider_keys")))
        default = entry.get("default", False)
        if not isinstance(default, bool):
            source.error(where + ("default",), "must be true or false")
        if not entry.get("slug") and not entry.get("name"):
            source.error(where, "a profile needs a slug (or, without one, a name)")
            return None
        columns = {key: entry[key] for key in PROFILE_FIELDS if key in entry and key != "default"}
        columns.setdefault("name", entry.get("slug"))
        loaded = _validated(source, ProfileSchema(), columns, where)
        # Absent: the packs applied to the profile are not managed by the file (None); present: owned whole.
        packs = _packs(source, entry.get("packs"), where + ("packs",)) if "packs" in entry else None
        tools = _tools(source, entry.get("tools"), where + ("tools",))  # checked even when the columns are not
        if loaded is None:
            return None
        profile = {key: loaded.get(key) for key in PROFILE_FIELDS if key != "default"}
        profile["default"] = default is True
        profile["packs"], profile["tools"] = packs, tools
        # Absent, or the file read without the environment (the server's drift notice): keys are not compared.
        if "provider_keys" in entry and source.expanded:
            profile["provider_keys"] = _provider_keys(source, entry["provider_keys"], where + ("provider_keys",))
        return profile
    profiles = _entries(source, value, path, read)
    _unique(source, [(profile_key(p), path + (i,)) for i, p in enumerate(profiles)], "profile")
    _unique(source, [(p["name"], path + (i, "name")) for i, p in enumerate(profiles)], "the profile name")
    if sum(p["default"] for p in profiles) > 1:
        source.error(path, "only one profile is the default")
    return profiles


def _provider_keys(source: Source, value: Any, path: Path) -> dict[str, str]:
    """``{provider: "${ENV_NAME}"}``: the keys the proxy holds for the profile, each from the environment (a key
    written in the file is refused: the file lives in Git)."""
    from ..config import DEFAULT_BASE_URLS

    keys = _mapping(source, value if value is not None else {}, path) or {}
    out = {}
    for provider, secret in keys.items():
        where = path + (provider,)
        if provider not in DEFAULT_BASE_URLS:
            source.error(where, f"unknown provider; one of {', '.join(DEFAULT_BASE_URLS)}")
        elif where not in source.from_env:
            source.error(where, "a key is written as ${ENV_NAME} (the environment variable holding it), never "
                                "in the file")
        elif not isinstance(secret, str) or not secret.strip():
            source.error(where, "the environment variable is empty")
        else:
            out[provider] = secret.strip()
    return out


def _tools(source: Source, value: Any, path: Path) -> list[dict[str, Any]]:
    def read(entry: dict[str, Any], where: Path) -> dict[str, Any] | None:
        for key in set(entry) - {"name", "description", *KINDS.values()}:
            source.error(where + (key,), "unknown field; a tool has name, description, call_policies, "
                                         "result_policies")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            source.error(where + ("name",), "the tool's name (1 to 256 characters) is required")
            return None
        tool: dict[str, Any] = {"name": name}
        if "description" in entry:
            if entry["description"] is not None and not isinstance(entry["description"], str):
                source.error(where + ("description",), "must be text")
            tool["description"] = entry["description"]
        for kind, key in KINDS.items():
            tool[key] = _policies(source, kind, entry.get(key), where + (key,))
        return tool
    tools = _entries(source, value, path, read)
    _unique(source, [(t["name"], path + (i,)) for i, t in enumerate(tools)], "tool")
    return tools


def _limits(source: Source, value: Any, path: Path) -> list[dict[str, Any]]:
    def read(entry: dict[str, Any], where: Path) -> dict[str, Any] | None:
        entry = dict(entry)
        profile = entry.pop("profile", None)
        if entry.get("scope") == "virtual_key":
            source.error(where + ("scope",), "virtual key limits are not in the file (keys are issued, not "
                                             "declared): set them with the API or the console")
            return None
        loaded = _validated(source, LimitSchema(exclude=("profile_id", "virtual_key_id")), entry, where)
        if loaded is None:
            return None
        if loaded["scope"] == "profile" and not profile:
            source.error(where + ("profile",), "a profile limit names its profile (slug)")
        if loaded["scope"] == "global" and profile:
            source.error(where + ("profile",), "a global limit has no profile")
        return {"scope": loaded["scope"], "profile": profile or None, "period": loaded["period"],
                "max_cost_usd": float(loaded["max_cost_usd"])}
    return _entries(source, value, path, read)


def _prices(source: Source, value: Any, path: Path) -> list[dict[str, Any]]:
    def read(entry: dict[str, Any], where: Path) -> dict[str, Any] | None:
        loaded = _validated(source, TokenPriceSchema(), entry, where)
        return None if loaded is None else {"model": loaded["model"],
                                            "input_per_million": float(loaded["input_per_million"]),
                                            "output_per_million": float(loaded["output_per_million"])}
    prices = _entries(source, value, path, read)
    _unique(source, [(p["model"], path + (i,)) for i, p in enumerate(prices)], "the price of")
    return prices


RULE_FIELDS = ("provider", "priority", "max_length", "has_tools", "target_model", "enabled")


def _rules(source: Source, value: Any, path: Path) -> list[dict[str, Any]]:
    from ..providers import PROVIDERS

    names = [provider.name for provider in PROVIDERS]

    def read(entry: dict[str, Any], where: Path) -> dict[str, Any] | None:
        loaded = _validated(source, OptimizationRuleSchema(), entry, where)
        if loaded is None:
            return None
        if loaded["provider"] not in names:
            source.error(where + ("provider",), f"must be one of {', '.join(names)}")
            return None
        return {key: loaded.get(key) for key in RULE_FIELDS}
    return _entries(source, value, path, read)


def _aliases(source: Source, value: Any, path: Path) -> list[dict[str, Any]]:
    def read(entry: dict[str, Any], where: Path) -> dict[str, Any] | None:
        entry = dict(entry)
        profile = entry.pop("profile", None)
        loaded = _validated(source, ModelAliasSchema(exclude=("profile_id",)), entry, where)
        if loaded is None:
            return None
        try:
            targets = validate_targets(loaded["targets"])
        except ValueError as exc:
            source.error(where + ("targets",), str(exc))
            return None
        return {"name": loaded["name"], "profile": profile or None, "targets": list(targets)}
    aliases = _entries(source, value, path, read)
    _unique(source, [((a["name"], a["profile"]), path + (i,)) for i, a in enumerate(aliases)], "the alias")
    return aliases
