"""Data labels that follow the context, and refusals that say which label, from which result, blocked a call.

A result policy ``add_labels`` gives the results its conditions match some labels (``confidential``,
``customer-data``, ``source:web``); the context holds the labels of every result the model read, decided again on
every request from the history (like trust: never remembered as a verdict), plus the built-in
:data:`~archestra.exchange.UNTRUSTED` while the context is untrusted. A call policy
``block_when_context_has_labels`` refuses the call (its argument conditions holding) while the context holds any
of its labels, ``block_unless_context_has_labels`` unless it holds all of them.

Context the proxy cannot see (``Exchange.unseen_context``) may hold any label: it counts as holding every label a
``block_when_context_has_labels`` policy forbids, and as holding none that a ``block_unless`` policy requires.
"""
from __future__ import annotations

from ..exchange import UNTRUSTED, Exchange, ToolCall, ToolResult
from .explain import MAX_LISTED, UNTRUSTED_BY_POLICY, describe_result
from .policies import BLOCK_UNLESS_LABELS, BLOCK_WHEN_LABELS, SNAPSHOT, Rule


def label_block(exchange: Exchange, call: ToolCall, rule: Rule, held: set[str]) -> str | None:
    """Why ``rule`` (a label rule whose conditions hold on ``call``) refuses the call in a context holding ``held``;
    None when it lets the call pass."""
    if rule.action == BLOCK_WHEN_LABELS:
        for label in rule.labels:
            if label in held:
                return _said(f"The context holds the label {label}, from {_sources(exchange, label)}: a "
                             f"{BLOCK_WHEN_LABELS} policy on {call.name} forbids this call while it does.", rule)
            if exchange.unseen_context:
                return _said(f"The context may hold the label {label}: it includes context the proxy cannot see "
                             f"({exchange.unseen_context[0]}), and a {BLOCK_WHEN_LABELS} policy on {call.name} "
                             f"forbids this call while the context holds it.", rule)
        return None
    if rule.action == BLOCK_UNLESS_LABELS:
        missing = [label for label in rule.labels if label not in held]
        if missing:
            return _said(f"The context does not hold the label{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} (no tool result the model read carries "
                         f"{'them' if len(missing) > 1 else 'it'}): a {BLOCK_UNLESS_LABELS} policy on {call.name} "
                         f"allows this call only when the context holds {', '.join(rule.labels)}.", rule)
    return None


def _said(sentence: str, rule: Rule) -> str:
    return f"{sentence} {rule.reason}".strip() if rule.reason else sentence


def carriers(exchange: Exchange, label: str) -> list[ToolResult]:
    """The results the model read that carry ``label``."""
    return [result for result in (*exchange.tool_results, *exchange.answer_results) if label in result.labels]


def _sources(exchange: Exchange, label: str) -> str:
    """Where ``label`` comes from, in words: the results carrying it (for ``untrusted``: what is untrusted)."""
    if label == UNTRUSTED:
        by_policy = exchange.state.get(UNTRUSTED_BY_POLICY, set())
        sources = [describe_result(result, id(result) in by_policy)
                   for result in (*exchange.tool_results, *exchange.answer_results) if result.trusted is not True]
        sources += [f"{what} (no policy can trust it)" for what in exchange.unseen_context]
        if exchange.profile.consider_context_untrusted:
            sources.append("the profile's consider_context_untrusted setting")
    else:
        sources = [describe_result(result, False) for result in carriers(exchange, label)]
    listed = sources[:MAX_LISTED]
    if len(sources) > MAX_LISTED:
        listed.append(f"{len(sources) - MAX_LISTED} more")
    return "; ".join(listed) or "the context"


def labelled_results(exchange: Exchange) -> list[dict[str, object]]:
    """Which result gave the context which labels, as the interaction's ``flags.labelled_results`` records it."""
    return [{"tool": result.name, "tool_call_id": result.tool_call_id, "labels": sorted(result.labels)}
            for result in (*exchange.tool_results, *exchange.answer_results) if result.labels]


def recorded_labels(exchange: Exchange) -> list[str] | None:
    """The context's labels as interactions record them (sorted); None when the policies never decided the exchange
    (refused before, by a limit or a bad request)."""
    if exchange.state.get(SNAPSHOT) is None:
        return None
    return sorted(exchange.context_labels)
