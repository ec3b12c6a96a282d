"""The lethal trifecta stopped, the same way in every provider, through each provider's real SDK."""
from __future__ import annotations

import pytest

from tests.security_drivers import DRIVERS, PAGE, explained

EVIL = {"to": "evil@attacker.io"}
BOSS = {"to": "boss@company.com"}


def refusal(args: dict, reason: str) -> str:
    import json
    return (f"I tried to invoke the send_email tool with the following arguments: "
            f"{json.dumps(args, separators=(',', ':'))}.\n\nHowever, I was denied by a tool invocation policy:"
            f"\n\n{reason}")


@pytest.fixture(autouse=True)
def bedrock_key(monkeypatch):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-key")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")




def tool_id(proxy, name: str) -> str:
    proxy.flush()
    profile = proxy.api("GET", "/profiles").json()["data"][0]["id"]
    tools = proxy.api("GET", "/tools", params={"profile_id": profile, "name": name}).json()["data"]
    assert len(tools) == 1, tools
    return tools[0]["id"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("driver", DRIVERS, ids=[d.provider for d in DRIVERS])
def test_lethal_trifecta(make_proxy, tls_cert, upstream, driver, stream):
    secured = make_proxy(tls=tls_cert) if getattr(driver, "tls", False) else make_proxy()

    def ask(args, with_result, result=PAGE):
        upstream.reply_with(driver.reply(stream, args))
        return driver.ask(secured, stream, with_result, result)

    # 1. No tool result yet: the context is trusted, the call goes through unchanged (and tools are discovered).
    assert ask(EVIL, with_result=False).calls == [("send_email", EVIL)]

    # 2. A fetched web page in the context: untrusted by default, so the call is refused, with HTTP 200; the
    # reason names the untrusted result and the policies that would have allowed the call.
    outcome = ask(EVIL, with_result=True)
    assert outcome.calls == []
    assert outcome.text.endswith(refusal(EVIL, explained(driver)))

    # 3. A policy marks fetch_url results trusted: the same call now goes through.
    fetch, email = tool_id(secured, "fetch_url"), tool_id(secured, "send_email")
    trust = secured.api("POST", "/tool-result-policies", json={"tool_id": fetch, "action": "mark_as_trusted"})
    assert trust.status_code == 201, trust.text
    assert ask(EVIL, with_result=True).calls == [("send_email", EVIL)]
    secured.api("DELETE", f"/tool-result-policies/{trust.json()['id']}")

    # 4. Untrusted again, but an allow policy matches the call's arguments: it goes through; others do not.
    allow = secured.api("POST", "/tool-call-policies", json={
        "tool_id": email, "action": "allow_when_context_is_untrusted", "reason": "internal mail is fine",
        "conditions": [{"key": "to", "operator": "endsWith", "value": "@company.com"}]})
    assert allow.status_code == 201, allow.text
    assert ask(BOSS, with_result=True).calls == [("send_email", BOSS)]
    assert ask(EVIL, with_result=True).calls == []

    # 5. block_always blocks in any context, with its reason.
    secured.api("POST", "/tool-call-policies", json={
        "tool_id": email, "action": "block_always", "reason": "never mail the attacker",
        "conditions": [{"key": "to", "operator": "contains", "value": "attacker"}]})
    outcome = ask(EVIL, with_result=False)
    assert outcome.calls == [] and outcome.text.endswith(refusal(EVIL, "never mail the attacker"))

    # 6. block_always on the tool result: the upstream never sees the page.
    secured.api("POST", "/tool-result-policies", json={"tool_id": fetch, "action": "block_always",
                                                       "reason": "web pages are off limits"})
    ask(BOSS, with_result=True)
    sent = driver.sent_result(upstream.received[-1].json)
    assert "[Content blocked by policy: web pages are off limits]" in sent and "Ignore previous" not in sent

    # Every block was recorded, with the tool, arguments and reason.
    secured.flush()
    blocked = secured.api("GET", "/blocked-tool-calls").json()
    assert blocked["total"] == 3
    assert {(b["tool"], b["arguments"]["to"], b["reason"]) for b in blocked["data"]} == {
        ("send_email", "evil@attacker.io", explained(driver)),
        ("send_email", "evil@attacker.io", "never mail the attacker")}
