"""The security API: tools, policies with validation, settings, and what they change for a client."""
from __future__ import annotations

import openai
import pytest

from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply

TOOLS = [{"type": "function", "function": {"name": "send_email", "description": "mail",
                                           "parameters": {"type": "object", "properties": {"to": {"type": "string"}}}}}]
UNTRUSTED = [{"role": "user", "content": "hi"},
             {"role": "assistant", "content": None, "tool_calls": [wire.tool_call("fetch_url", {}, "c1")]},
             {"role": "tool", "tool_call_id": "c1", "content": "<html>page</html>"}]


def call_email(proxy, upstream, messages, profile_id=None):
    upstream.reply_with(json_reply(wire.completion(None, [wire.tool_call("send_email", {"to": "a@b.c"})])))
    client = openai.OpenAI(api_key="k", base_url=proxy.base("openai", profile_id), max_retries=0)
    return client.chat.completions.create(model="m", messages=messages, tools=TOOLS).choices[0].message


def discovered(proxy, upstream) -> dict:
    call_email(proxy, upstream, [{"role": "user", "content": "hi"}])
    proxy.flush()
    return proxy.api("GET", "/tools").json()["data"][0]


def test_tools_are_discovered_with_their_definition(proxy, upstream):
    tool = discovered(proxy, upstream)
    assert tool["name"] == "send_email" and tool["description"] == "mail"
    assert tool["parameters"]["properties"] == {"to": {"type": "string"}}
    default = proxy.api("GET", "/profiles").json()["data"][0]["id"]
    assert tool["profile_id"] == default
    assert proxy.api("GET", "/tools", params={"name": "nope"}).json()["data"] == []
    call_email(proxy, upstream, [{"role": "user", "content": "again"}])
    proxy.flush()
    assert len(proxy.api("GET", "/tools").json()["data"]) == 1  # recorded once, not per request


@pytest.mark.parametrize("path,body,status,code", [
    ("/tool-call-policies", {"tool_id": "6f1c1a7e-0000-4000-8000-000000000000", "action": "block_always"},
     400, "unknown_tool"),
    ("/tool-call-policies", {"action": "block_always"}, 400, "validation_error"),
    ("/tool-call-policies", {"tool_id": "{tool}", "action": "mark_as_trusted"}, 400, "validation_error"),
    ("/tool-result-policies", {"tool_id": "{tool}", "action": "block_when_context_is_untrusted"}, 400,
     "validation_error"),
    ("/tool-call-policies", {"tool_id": "{tool}", "action": "block_always",
                             "conditions": [{"key": "to", "operator": "like", "value": "x"}]}, 400, "validation_error"),
    ("/tool-call-policies", {"tool_id": "{tool}", "action": "block_always",
                             "conditions": [{"key": "to", "operator": "regex", "value": "([a-z"}]}, 400,
     "validation_error"),
    ("/tool-result-policies", {"tool_id": "{tool}", "action": "mark_as_trusted",
                               "conditions": [{"key": "a", "operator": "equal"}]}, 400, "validation_error"),
])
def test_policy_validation(proxy, upstream, path, body, status, code):
    tool = discovered(proxy, upstream)
    body = {k: (v.replace("{tool}", tool["id"]) if isinstance(v, str) else v) for k, v in body.items()}
    response = proxy.api("POST", path, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_invalid_regex_message_is_clear(proxy, upstream):
    tool = discovered(proxy, upstream)
    response = proxy.api("POST", "/tool-call-policies", json={
        "tool_id": tool["id"], "action": "block_always", "conditions": [{"key": "to", "operator": "regex",
                                                                          "value": "([a-z"}]})
    assert "invalid regex" in str(response.json()["error"]["details"])


def test_policy_crud(proxy, upstream):
    tool = discovered(proxy, upstream)
    created = proxy.api("POST", "/tool-call-policies", json={"tool_id": tool["id"], "action": "block_always",
                                                              "reason": "no"}).json()
    assert created["conditions"] == [] and created["action"] == "block_always"
    updated = proxy.api("PATCH", f"/tool-call-policies/{created['id']}", json={"reason": "still no"}).json()
    assert updated["reason"] == "still no" and updated["action"] == "block_always"
    assert [p["id"] for p in proxy.api("GET", "/tool-call-policies", params={"tool_id": tool["id"]}).json()["data"]] \
        == [created["id"]]
    assert proxy.api("DELETE", f"/tool-call-policies/{created['id']}").status_code == 204
    assert proxy.api("GET", f"/tool-call-policies/{created['id']}").status_code == 404


def test_settings_default_restrictive_and_permissive_lets_everything_through(proxy, upstream):
    assert proxy.api("GET", "/settings").json() == {"global_policy": "restrictive", "mode": "enforce"}
    assert call_email(proxy, upstream, UNTRUSTED).tool_calls is None
    assert proxy.api("PATCH", "/settings", json={"global_policy": "lax"}).status_code == 400
    assert proxy.api("PATCH", "/settings", json={"global_policy": "permissive"}).json() == {
        "global_policy": "permissive", "mode": "enforce"}
    assert call_email(proxy, upstream, UNTRUSTED).tool_calls[0].function.name == "send_email"


def test_consider_context_untrusted_profile(proxy, upstream):
    profile = proxy.api("POST", "/profiles", json={"name": "paranoid", "consider_context_untrusted": True}).json()
    message = call_email(proxy, upstream, [{"role": "user", "content": "hi"}], profile["id"])
    assert message.tool_calls is None and "untrusted" in message.content
    # the default profile, same request: trusted (no tool results), the call passes
    assert call_email(proxy, upstream, [{"role": "user", "content": "hi"}]).tool_calls is not None


def test_deleting_a_profile_removes_its_tools_and_policies(proxy, upstream):
    profile = proxy.api("POST", "/profiles", json={"name": "temp"}).json()
    call_email(proxy, upstream, [{"role": "user", "content": "hi"}], profile["id"])
    proxy.flush()
    tool = proxy.api("GET", "/tools", params={"profile_id": profile["id"]}).json()["data"][0]
    policy = proxy.api("POST", "/tool-call-policies", json={"tool_id": tool["id"], "action": "block_always"}).json()
    assert proxy.api("DELETE", f"/profiles/{profile['id']}").status_code == 204
    assert proxy.api("GET", f"/tools/{tool['id']}").status_code == 404
    assert proxy.api("GET", f"/tool-call-policies/{policy['id']}").status_code == 404
