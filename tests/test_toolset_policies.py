"""Issue 25 section 3, toolsets: a policy on a toolset's name applies to every call whose ``ToolCall.toolset``
is that name (normalised like tool names), in addition to the member's own policies, and a block on either
wins. Hook-level cases; policies set through the management API and decided as the proxy loads them; and,
once the Responses family sets ``toolset`` from a call's ``namespace``, through the openai SDK on the
two-worker gunicorn."""
from __future__ import annotations

import openai
import pytest

from archestra.exchange import Exchange, Message, ProfileInfo, Tool, ToolCall, ToolResult
from archestra.hooks import Block
from archestra.providers.responses_items import call_of
from archestra.security.hooks import SNAPSHOT, CallPolicy
from archestra.security.policies import PolicyDirectory, ProfilePolicies, Rule
from tests.fakes import responses_wire
from tests.fakes.server import json_reply

pytest_plugins = ["tests.live"]  # the `live` fixture

ALLOW, BLOCK, BLOCK_UNTRUSTED = "allow_when_context_is_untrusted", "block_always", "block_when_context_is_untrusted"
NAVIGATE = ToolCall("c1", "browser_navigate", {"url": "https://evil.test/"}, toolset="Browser_Toolset")


def decide(policies: ProfilePolicies, call: ToolCall = NAVIGATE, untrusted: bool = True,
           declared: tuple[str, ...] = ("browser_navigate",)) -> Exchange:
    view = Exchange("anthropic", ProfileInfo("p", "p"), "m", tools=[Tool(name) for name in declared],
                    messages=[Message("tool", tool_results=[ToolResult("c0", "fetch_url", "page",
                                                                       trusted=not untrusted)])])
    view.state[SNAPSHOT] = policies
    CallPolicy(None)(view, call)  # type: ignore[arg-type]
    return view


def rules(**by_tool: tuple[Rule, ...]) -> ProfilePolicies:
    return ProfilePolicies(calls=by_tool)


@pytest.mark.parametrize("untrusted", [True, False])
def test_a_block_on_the_toolset_blocks_its_members(untrusted):
    with pytest.raises(Block, match="no browsing"):
        decide(rules(browser_toolset=(Rule((), BLOCK, "no browsing"),)), untrusted=untrusted)
    # the toolset's name is compared as tool names are (case, confusables, fullwidth)
    spelled = ToolCall("c1", "browser_navigate", {}, toolset="\uff22rowser_toolset")
    with pytest.raises(Block, match="no browsing"):
        decide(rules(browser_toolset=(Rule((), BLOCK, "no browsing"),)), spelled, untrusted=untrusted)
    # a call outside the toolset is not concerned
    decide(rules(browser_toolset=(Rule((), BLOCK, "no browsing"),)), ToolCall("c2", "browser_navigate", {}),
           untrusted=False)


def test_a_block_on_either_wins_over_an_allow_on_the_other():
    member_allows = Rule((), ALLOW, None)
    with pytest.raises(Block, match="not after a page"):
        decide(rules(browser_navigate=(member_allows,),
                     browser_toolset=(Rule((), BLOCK_UNTRUSTED, "not after a page"),)))
    evil = ({"key": "url", "operator": "contains", "value": "evil.test"},)
    with pytest.raises(Block, match="no evil"):
        decide(rules(browser_navigate=(member_allows,), browser_toolset=(Rule(evil, BLOCK, "no evil"),)))
    with pytest.raises(Block, match="member says no"):
        decide(rules(browser_navigate=(Rule((), BLOCK, "member says no"),), browser_toolset=(Rule((), ALLOW, None),)))


def test_an_allow_on_the_toolset_is_enough_when_nothing_blocks():
    with pytest.raises(Block):
        decide(rules())
    decide(rules(browser_toolset=(Rule((), ALLOW, None),)))
    # the allow is a grant: its conditions must hold on every value
    corp = ({"key": "url", "operator": "startsWith", "value": "https://corp.test/"},)
    both = ToolCall("c1", "browser_navigate", {"url": ["https://corp.test/a", "https://evil.test/"]},
                    toolset="browser_toolset")
    with pytest.raises(Block):
        decide(rules(browser_toolset=(Rule(corp, ALLOW, None),)), both)


def test_a_member_of_a_declared_toolset_is_declared():
    view = decide(rules(browser_toolset=(Rule((), ALLOW, None),)), declared=("browser_toolset",))
    assert view.undeclared_calls == []
    with pytest.raises(Block, match="did not declare"):
        decide(rules(browser_toolset=(Rule((), ALLOW, None),)), declared=("fetch_url",))


def test_the_refusal_names_the_toolset():
    with pytest.raises(Block) as refused:
        decide(rules())
    assert "an allow_when_context_is_untrusted policy on browser_navigate (or on its toolset Browser_Toolset)" in \
        refused.value.reason


def test_toolset_policies_set_through_the_api(proxy):
    pid = proxy.api("POST", "/profiles", json={"name": "toolsets"}).json()["id"]
    tool = proxy.api("POST", "/tools", json={"profile_id": pid, "name": "computer_toolset"})
    assert tool.status_code == 201, tool.text
    created = proxy.api("POST", "/tool-call-policies", json={
        "tool_id": tool.json()["id"], "action": BLOCK, "reason": "no clicks on evil.test",
        "conditions": [{"key": "url", "operator": "contains", "value": "evil.test"}]})
    assert created.status_code == 201, created.text
    with proxy.app.app_context():
        policies = PolicyDirectory.load(pid)
    click = ToolCall("c1", "computer_click", {"url": "https://EVIL\u3002test/"}, toolset="Computer_Toolset")
    with pytest.raises(Block, match="no clicks on evil.test"):
        decide(policies, click, untrusted=False, declared=("computer_click",))
    decide(policies, ToolCall("c1", "computer_click", {"url": "https://corp.test/"}, toolset="computer_toolset"),
           untrusted=False, declared=("computer_click",))


def _namespaced() -> dict:
    item = responses_wire.function_call("lookup", {"customer": "42"}, "call_ns1")
    item["namespace"] = "crm"
    return item


@pytest.mark.skipif(call_of(_namespaced()).toolset is None,
                    reason="the Responses family does not set ToolCall.toolset from namespace on this branch")
def test_a_policy_on_a_responses_namespace_applies_to_its_members_live(live):
    pid = live.profile()
    tool = live.api("POST", "/tools", json={"profile_id": pid, "name": "CRM"}).json()
    created = live.api("POST", "/tool-call-policies", json={"tool_id": tool["id"], "action": BLOCK,
                                                             "reason": "the crm is off limits"})
    assert created.status_code == 201, created.text
    client = openai.OpenAI(api_key="k", base_url=live.base("openai", pid), max_retries=0)
    tools = [{"type": "namespace", "name": "crm", "description": "d",
              "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]}]
    for _ in range(2):
        live.upstream.reply_with(json_reply(responses_wire.response([_namespaced()])))
        answer = client.responses.create(model="m", input="look up customer 42", tools=tools)
        assert not [item for item in answer.output if item.type == "function_call"]
        assert "the crm is off limits" in answer.output_text
