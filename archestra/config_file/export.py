"""``export``: the database's configuration in the file format, such that ``plan`` on it finds no difference."""
from __future__ import annotations

from typing import Any

import yaml

from .file_format import KINDS, VERSION, policy_schema
from .state import without_ids

HEADER = ("# archestra configuration (python -m archestra.config export). Apply with:\n"
          "#   python -m archestra.config plan FILE && python -m archestra.config apply FILE\n")


def _minimal_policy(kind: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Without the fields that hold their default (an empty ``conditions``, a null ``reason``)."""
    fields = policy_schema(kind).fields
    out = {}
    for key, value in entry.items():
        field = fields.get(key)
        default = getattr(field, "load_default", None) if field is not None else None
        default = default() if callable(default) else default
        if field is not None and not field.required and value == default:
            continue
        out[key] = value
    return out


def export_state(state: dict[str, Any]) -> dict[str, Any]:
    """The file's data (a dict ready for YAML) for ``state`` (read_state)."""
    state = without_ids(state)
    out: dict[str, Any] = {"version": VERSION, "settings": state["settings"], "packs": sorted(state["packs"])}
    out["templates"] = {key: [{"tool": e["tool"], **_minimal_policy(kind, {k: v for k, v in e.items()
                                                                         if k != "tool"})}
                              for e in state["templates"][kind]] for kind, key in KINDS.items()}
    profiles = []
    for profile in state["profiles"]:
        entry = {key: profile[key] for key in ("slug", "name", "default", "mode", "consider_context_untrusted",
                                               "global_policy", "require_virtual_key", "metadata_only")}
        if not entry["slug"]:
            del entry["slug"]
        entry["packs"] = sorted(profile["packs"])
        tools = []
        for tool in profile["tools"]:
            if tool["call_policies"] or tool["result_policies"]:
                tools.append({"name": tool["name"], **{key: [_minimal_policy(kind, e) for e in tool[key]]
                                                       for kind, key in KINDS.items() if tool[key]}})
        entry["tools"] = tools
        profiles.append(entry)
    out["profiles"] = profiles
    for section in ("limits", "prices", "optimization_rules", "model_aliases"):
        out[section] = state[section]
    return out


def dump(data: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
