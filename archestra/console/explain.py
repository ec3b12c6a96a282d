"""The decision the proxy makes for a tool, in words: the same policies, in the same order, that the proxy
enforces (the worker's policy cache, api/templates.py's ``effective``)."""
from __future__ import annotations

from typing import Any

from ..api.templates import effective
from ..runtime import current_runtime
from ..security.names import normalize_tool_name

ACTIONS = {
    "call": {"allow_when_context_is_untrusted": "allowed even when the context is untrusted",
             "block_when_context_is_untrusted": "blocked when the context is untrusted",
             "block_always": "always blocked",
             "block_when_context_has_labels": "blocked while the context holds the label {labels}",
             "block_unless_context_has_labels": "blocked unless the context holds the labels {labels}",
             "require_approval": "held back until a person approves them"},
    "result": {"mark_as_trusted": "trusted (the context stays trusted)",
               "mark_as_untrusted": "untrusted (the context becomes untrusted)",
               "block_always": "blocked (replaced by \"[Content blocked by policy: ...]\")",
               "sanitize_with_dual_llm": "replaced by a dual-LLM summary",
               "add_labels": "labelled {labels} (the context holds these labels)"},
}


def condition_words(conditions: Any) -> str:
    """`` when ...`` for a policy's conditions; nothing for an unconditional one (its action says it all:
    "Calls are always blocked.", never "always blocked always")."""
    if not conditions:
        return ""
    parts = [f"{cond.get('key') or 'the whole value'} {cond['operator']} \"{cond['value']}\"" for cond in conditions]
    return " when " + " and ".join(parts)


def explain(profile_id: str, tool: str) -> dict[str, Any]:
    """Per kind (``call``, ``result``): the sentences that say what the proxy does with this tool, and where its
    policies come from (``profile``, ``template``, ``pack``, ``default``)."""
    policies = current_runtime().policies.get(profile_id)
    name = normalize_tool_name(tool)
    out: dict[str, Any] = {"monitor": policies.monitor, "global_policy": policies.global_policy}
    for kind, noun in (("call", "Calls"), ("result", "Results")):
        found = effective(policies, kind, name)
        sentences = []
        for rule in found["policies"]:
            origin = {"template": f" (template {rule['template']})",
                      "pack": f" (policy pack {rule['pack']}, on {rule['template']})"}.get(rule["source"], "")
            action = ACTIONS[kind].get(rule["action"], rule["action"]).format(
                labels=" or ".join(rule.get("labels") or ()) if rule["action"] == "block_when_context_has_labels"
                else " and ".join(rule.get("labels") or ()))
            sentence = f"{noun} are {action}{condition_words(rule['conditions'])}{origin}."
            sentences.append(sentence[0].upper() + sentence[1:])
        if found["policies"]:
            sentences.append("When several policies match, the most restrictive wins. When none matches: "
                             f"{found['default']} ({policies.global_policy} global policy).")
        else:
            sentences.append(f"No policy: {noun.lower()} are {found['default']} "
                             f"({policies.global_policy} global policy).")
        if kind == "call":
            sentences.append("The context is untrusted once any tool result in it is untrusted.")
        out[kind] = {"source": found["source"], "sentences": sentences}
    return out
