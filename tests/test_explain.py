"""Refusal reasons name what made the context untrusted and what would have allowed the call (issue 19)."""
from __future__ import annotations

from archestra.exchange import Exchange, Message, ProfileInfo, ToolCall, ToolResult
from archestra.security.explain import UNTRUSTED_BY_POLICY, UNTRUSTED_CONTEXT, untrusted_reason

MAIL = ToolCall("c1", "send_email", {"to": "x@y.z"})


def exchange(*results: ToolResult, distrust: bool = False) -> Exchange:
    return Exchange("openai", ProfileInfo("p", "p", consider_context_untrusted=distrust), "m",
                    messages=[Message("tool", tool_results=list(results))])


def test_names_each_untrusted_result_and_the_policies_that_would_allow_the_call():
    trusted = ToolResult("c0", "read_file", "ok", trusted=True)
    reason = untrusted_reason(exchange(trusted, ToolResult("c2", "fetch_url", "x"), ToolResult("c3", "search", "y")),
                              MAIL)
    assert reason == (f"{UNTRUSTED_CONTEXT} Untrusted: the result of fetch_url (call c2); the result of search "
                      "(call c3). It would have been allowed by an allow_when_context_is_untrusted policy on "
                      "send_email or by a mark_as_trusted policy on fetch_url results and a mark_as_trusted policy "
                      "on search results.")


def test_no_trust_policy_is_suggested_when_trusting_results_cannot_help():
    unnamed = ToolResult("c9", None, "x")  # answers no single call: no tool's policy applies
    blocked = ToolResult("c2", "fetch_url", "[Content blocked by policy: no]", blocked_reason="no")
    by_policy = ToolResult("c3", "search", "y", trusted=False)
    view = exchange(unnamed, blocked, by_policy)
    view.state[UNTRUSTED_BY_POLICY] = {id(by_policy)}
    assert untrusted_reason(view, MAIL) == (
        f"{UNTRUSTED_CONTEXT} Untrusted: a result (call c9) that answers no single tool call; the result of "
        "fetch_url (call c2), blocked by policy; the result of search (call c3), marked untrusted by policy. "
        "It would have been allowed by an allow_when_context_is_untrusted policy on send_email.")


def test_unseen_context_and_a_distrusting_profile():
    view = exchange()
    view.unseen_context.append("cachedContent caches/1")
    assert untrusted_reason(view, MAIL) == (
        "The context contains data the proxy cannot see or vouch for: cachedContent caches/1. Untrusted: "
        "cachedContent caches/1 (no policy can trust it). It would have been allowed by an "
        "allow_when_context_is_untrusted policy on send_email.")
    assert "the profile's consider_context_untrusted setting" in untrusted_reason(exchange(distrust=True), MAIL)
    # block_when_context_is_untrusted matched: an allow policy could not have helped, trusting the result could.
    assert untrusted_reason(exchange(ToolResult("c2", "fetch_url", "x")), MAIL, allow_possible=False).endswith(
        "It would have been allowed by a mark_as_trusted policy on fetch_url results.")
