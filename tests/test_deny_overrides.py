"""Issue 25 section 4, deny overrides: an explicit block_always that holds (profile or template, with
conditions or without) is never lifted by an allow anywhere: a specific allow or trust next to a default
block_always, a profile policy restating a template's block_always, the permissive global policy. Monitor
mode records the same decision. Hook-level cases, then through the openai SDK on the two-worker gunicorn."""
from __future__ import annotations

import time

import pytest

from archestra.exchange import Exchange, Message, ProfileInfo, Tool, ToolCall, ToolResult
from archestra.hooks import Block
from archestra.security.hooks import SNAPSHOT, CallPolicy, ResultTrust
from archestra.security.policies import ProfilePolicies, Rule
from tests.policy_agent import Agent, result

pytest_plugins = ["tests.live"]  # the `live` fixture

TO_CORP = ({"key": "to", "operator": "endsWith", "value": "@corp.com"},)
INTRANET = ({"key": "source", "operator": "startsWith", "value": "https://intranet"},)
ALLOW, BLOCK, TRUST = "allow_when_context_is_untrusted", "block_always", "mark_as_trusted"


def decide(policies: ProfilePolicies, arguments: dict, untrusted: bool = True) -> None:
    """CallPolicy on a send_email call; raises Block when refused."""
    view = Exchange("openai", ProfileInfo("p", "p"), "m", tools=[Tool("send_email"), Tool("fetch_url")],
                    messages=[Message("tool", tool_results=[ToolResult("c0", "fetch_url", "page",
                                                                       trusted=not untrusted)])])
    view.state[SNAPSHOT] = policies
    CallPolicy(None)(view, ToolCall("c1", "send_email", arguments))  # type: ignore[arg-type]


def judge(policies: ProfilePolicies, document: dict) -> ToolResult:
    view = Exchange("openai", ProfileInfo("p", "p"), "m")
    view.state[SNAPSHOT] = policies
    judged = ToolResult("c1", "fetch_url", "", document=document)
    ResultTrust(None)(view, judged)  # type: ignore[arg-type]
    return judged


@pytest.mark.parametrize("untrusted", [True, False])
def test_a_default_block_always_is_not_lifted_by_a_specific_allow(untrusted):
    rules = (Rule(TO_CORP, ALLOW, None), Rule((), BLOCK, "mail is off"))
    for policy in ("restrictive", "permissive"):
        with pytest.raises(Block, match="mail is off"):
            decide(ProfilePolicies(policy, calls={"send_email": rules}), {"to": "boss@corp.com"}, untrusted)


def test_a_default_block_always_on_results_is_not_lifted_by_a_specific_trust():
    rules = (Rule(INTRANET, TRUST, None), Rule((), BLOCK, "pages are off"))
    for policy in ("restrictive", "permissive"):
        with pytest.raises(Block, match="pages are off"):
            judge(ProfilePolicies(policy, results={"fetch_url": rules}), {"source": "https://intranet/x"})
    # a matching block_always next to a matching trust: the block
    both = (Rule(INTRANET, TRUST, None), Rule(({"key": "source", "operator": "contains", "value": "x"},), BLOCK, "x"))
    with pytest.raises(Block):
        judge(ProfilePolicies(results={"fetch_url": both}), {"source": "https://intranet/x"})


def test_other_defaults_are_refined_by_specific_rules():
    # A default that is not block_always is a default: a specific allow refines it (mail to colleagues).
    rules = (Rule(TO_CORP, ALLOW, None), Rule((), "block_when_context_is_untrusted", "not after a page"))
    decide(ProfilePolicies(calls={"send_email": rules}), {"to": "boss@corp.com"})
    with pytest.raises(Block, match="not after a page"):
        decide(ProfilePolicies(calls={"send_email": rules}), {"to": "evil@attacker.io"})
    untrusting = (Rule(INTRANET, TRUST, None), Rule((), "mark_as_untrusted", None))
    assert judge(ProfilePolicies(results={"fetch_url": untrusting}), {"source": "https://intranet/x"}).trusted


def templated(own: dict, templates: tuple, kind: str = "call") -> ProfilePolicies:
    if kind == "call":
        return ProfilePolicies(calls=own, call_templates=templates)
    return ProfilePolicies(results=own, result_templates=templates)


def test_a_template_block_always_is_replaced_only_by_a_profile_block_always():
    guard = Rule(TO_CORP, BLOCK, "template guard", "t1", "send_*")
    for restated in (Rule(TO_CORP, ALLOW, None), Rule(TO_CORP, "block_when_context_is_untrusted", None)):
        policies = templated({"send_email": (restated,)}, (("send_*", guard),))
        assert guard in policies.call_rules("send_email")
        with pytest.raises(Block, match="template guard"):
            decide(policies, {"to": "a@corp.com"}, untrusted=False)
    own = Rule(TO_CORP, BLOCK, "profile words")
    policies = templated({"send_email": (own,)}, (("send_*", guard),))
    assert policies.call_rules("send_email") == (own,)
    with pytest.raises(Block, match="profile words"):
        decide(policies, {"to": "a@corp.com"}, untrusted=False)
    # An unconditional template block_always next to a profile's own default allow.
    everything = Rule((), BLOCK, "no mail at all", "t2", "send_email")
    policies = templated({"send_email": (Rule((), ALLOW, None),)}, (("send_email", everything),))
    with pytest.raises(Block, match="no mail at all"):
        decide(policies, {"to": "a@corp.com"})


def test_a_template_block_always_on_results_is_not_replaced_by_a_profile_trust():
    guard = Rule((), BLOCK, "pages are off", "t1", "fetch_*")
    policies = templated({"fetch_url": (Rule((), TRUST, None),)}, (("fetch_*", guard),), kind="result")
    with pytest.raises(Block, match="pages are off"):
        judge(policies, {"source": "https://intranet/x"})


def test_a_template_that_is_not_block_always_is_still_refined():
    template = Rule(TO_CORP, "block_when_context_is_untrusted", "template", "t1", "send_email")
    policies = templated({"send_email": (Rule(TO_CORP, ALLOW, None),)}, (("send_email", template),))
    assert template not in policies.call_rules("send_email")
    decide(policies, {"to": "a@corp.com"})


# -- through the SDK, on the two-worker proxy -----------------------------------------------------------------

def test_specific_allow_and_trust_never_lift_a_default_block_always_live(live):
    agent = Agent(live, global_policy="permissive")
    agent.policy("call", "send_email", ALLOW, list(TO_CORP))
    agent.policy("call", "send_email", BLOCK, reason="mail is off")
    for result_text in (None, "a page"):  # trusted and untrusted contexts
        refused = agent.ask("send_email", {"to": "boss@corp.com"}, result_text)
        assert not refused.tool_calls and refused.content.endswith("mail is off")
    agent.policy("result", "fetch_url", TRUST, list(INTRANET))
    agent.policy("result", "fetch_url", BLOCK, reason="pages are off")
    agent.ask("fetch_url", {"url": "x"}, result({"source": "https://intranet/x"}))
    assert agent.sent_result() == "[Content blocked by policy: pages are off]"


def test_a_template_block_always_holds_next_to_a_profile_allow_live(live):
    tool = f"mailer_{time.monotonic_ns()}"
    created = live.api("POST", "/policy-templates", json={"kind": "call", "tool_name": tool, "action": BLOCK,
                                                           "reason": "templates say no"})
    assert created.status_code == 201, created.text
    agent = Agent(live, tools=("fetch_url", tool))
    agent.policy("call", tool, ALLOW)  # the profile's own default, restating the template's (no conditions)
    for result_text in (None, "a page", None, "a page"):
        refused = agent.ask(tool, {"to": "boss@corp.com"}, result_text)
        assert not refused.tool_calls and refused.content.endswith("templates say no")
    shown = live.api("GET", "/effective-policy", params={"profile_id": agent.pid, "tool": tool}).json()
    assert [p["action"] for p in shown["call_policies"]["policies"]] == [ALLOW, BLOCK]
    assert live.api("DELETE", f"/policy-templates/{created.json()['id']}").status_code == 204


def test_monitor_mode_records_the_same_block_live(live):
    agent = Agent(live, mode="monitor")
    agent.policy("call", "send_email", ALLOW, list(TO_CORP))
    agent.policy("call", "send_email", BLOCK, reason="mail is off")
    assert agent.calls("send_email", {"to": "boss@corp.com"}) == ["send_email"]  # nothing changed on the wire
    rows = live.blocked(agent.pid, 1)
    assert rows and rows[0]["would_block"] and rows[0]["reason"] == "mail is off"
