"""Applied policy packs as rules of the template layer (``policies.py``): a pack applied to a profile, or to every
profile, acts exactly as policy templates on the tools it names (exact names or globs, after normalisation).

So a profile's own policy refines a pack's as it refines a template's (same kind and conditions: the profile's
replaces it), a pack's ``block_always`` is replaced only by a profile ``block_always``, and a pack's allow or
trust never lifts a ``block_always`` that the profile or a template holds (``matching`` keeps every block that
holds). Each rule remembers its pack, so that refusals and ``effective-policy`` say where a decision came from.
"""
from __future__ import annotations

from typing import Any, Iterable

from .names import normalize_tool_name

KINDS = {"call": "call_policies", "result": "result_policies"}


def pack_patterns(applied: Iterable[tuple[str | None, dict[str, Any]]], rule: Any) -> dict[str, tuple]:
    """``{"call": ((pattern, Rule)...), "result": (...)}`` for the applied packs, ``(profile_id, document)``
    each (a pack applied to the profile wins over the same pack applied to every profile: its stored version
    is the one used). ``rule`` builds a Rule (passed in: the Rule class lives with the engine)."""
    chosen: dict[str, dict[str, Any]] = {}
    for profile_id, document in sorted(applied, key=lambda item: item[0] is not None):
        chosen[document["pack"]] = document  # the profile's application (sorted last) replaces the global one
    out: dict[str, list] = {"call": [], "result": []}
    for name, document in chosen.items():
        label = f"{name}@{document.get('version', '')}"
        for tool in document.get("tools", ()):
            pattern = normalize_tool_name(tool["name"])
            for kind, key in KINDS.items():
                for policy in tool.get(key) or ():
                    out[kind].append((pattern, rule(tuple(policy.get("conditions") or ()), policy["action"],
                                                    policy.get("reason"), None, tool["name"],
                                                    labels=tuple(policy.get("labels") or ()), pack=label)))
    return {kind: tuple(rules) for kind, rules in out.items()}
