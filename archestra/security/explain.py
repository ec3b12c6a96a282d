"""Refusals that explain themselves: which tool results (or unseen context) made the context untrusted, and
which policy would have allowed the call.

The first sentence is always :data:`UNTRUSTED_CONTEXT` (or :data:`UNSEEN_CONTEXT` when only context the proxy
cannot see is to blame), so clients and tests that look for it keep finding it; the details follow.
"""
from __future__ import annotations

from ..exchange import Exchange, ToolCall, ToolResult

UNTRUSTED_CONTEXT = "The context contains untrusted data (a tool result no policy marks as trusted)."
UNSEEN_CONTEXT = "The context contains data the proxy cannot see or vouch for: {what}."
#: ``exchange.state`` key: ids of results a ``mark_as_untrusted`` policy decided (not untrusted by default).
UNTRUSTED_BY_POLICY = "archestra.untrusted_by_policy"
MAX_LISTED = 5


def untrusted_reason(exchange: Exchange, call: ToolCall | None = None, allow_possible: bool = True) -> str:
    """Why the context is untrusted, in the refusal's words: the first sentence, the untrusted sources, and
    the policies that would have allowed ``call``. ``allow_possible`` is False when an allow policy on the
    call could not have helped (a ``block_when_context_is_untrusted`` policy matched)."""
    untrusted = _untrusted(exchange)
    if exchange.unseen_context and not untrusted:
        first = UNSEEN_CONTEXT.format(what=exchange.unseen_context[0])
    else:
        first = UNTRUSTED_CONTEXT
    return f"{first} {untrusted_details(exchange, call, allow_possible)}".strip()


def untrusted_details(exchange: Exchange, call: ToolCall | None = None, allow_possible: bool = True) -> str:
    """The sentences after the first: what is untrusted, and which policies would have allowed ``call``
    (with ``call`` None, only trusting the context could have)."""
    untrusted = _untrusted(exchange)
    by_policy = exchange.state.get(UNTRUSTED_BY_POLICY, set())
    sources = [_describe(result, id(result) in by_policy) for result in untrusted]
    sources += [f"{what} (no policy can trust it)" for what in exchange.unseen_context]
    if exchange.profile.consider_context_untrusted:
        sources.append("the profile's consider_context_untrusted setting")
    sentences = []
    if sources:
        listed = sources[:MAX_LISTED]
        if len(sources) > MAX_LISTED:
            listed.append(f"{len(sources) - MAX_LISTED} more")
        sentences.append(f"Untrusted: {'; '.join(listed)}.")
    remedies = []
    if call is not None and allow_possible:
        toolset = f" (or on its toolset {call.toolset})" if call.toolset else ""
        remedies.append(f"an allow_when_context_is_untrusted policy on {call.name}{toolset}")
    trustable = _trustable(exchange, untrusted, by_policy)
    if trustable:
        remedies.append(_join([f"a mark_as_trusted policy on {name} results" for name in trustable], "and"))
    if remedies:
        sentences.append(f"It would have been allowed by {_join(remedies, 'or by')}.")
    return " ".join(sentences)


def _untrusted(exchange: Exchange) -> list[ToolResult]:
    return [result for result in (*exchange.tool_results, *exchange.answer_results) if result.trusted is not True]


def describe_result(result: ToolResult, by_policy: bool = False) -> str:
    """A result in a refusal's words: ``the result of crm_lookup (call c1)``, and how it was decided."""
    return _describe(result, by_policy)


def _describe(result: ToolResult, by_policy: bool) -> str:
    call = f" (call {result.tool_call_id})" if result.tool_call_id else ""
    if result.name is None:
        return f"a result{call} that answers no single tool call"
    text = f"the result of {result.name}{call}"
    if result.blocked_reason is not None:
        return f"{text}, blocked by policy"
    return f"{text}, marked untrusted by policy" if by_policy else text


def _trustable(exchange: Exchange, untrusted: list[ToolResult], by_policy: set[int]) -> list[str]:
    """The tools whose results a ``mark_as_trusted`` policy would make the context trusted, when trusting them
    is enough (nothing else taints the context); else none."""
    if exchange.unseen_context or exchange.profile.consider_context_untrusted:
        return []
    if any(result.name is None or result.blocked_reason is not None or id(result) in by_policy
           for result in untrusted):
        return []
    return list(dict.fromkeys(result.name for result in untrusted if result.name))


def _join(items: list[str], word: str = "and") -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"
