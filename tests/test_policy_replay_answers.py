"""Policy replay (issue 19) of what a stored answer alone cannot show: every call of an answer an enforced refusal
replaced, the provider's results inside a streamed answer, and the provider-executed tools of the request (removed
or not). Each replayed outcome is checked against enforcing the candidate on the same request."""
from __future__ import annotations

import json

import pytest

from tests.fakes import anthropic_wire as wire
from tests.fakes.server import json_reply, sse_reply
from tests.test_bypass_anthropic import CLIENT_TOOLS, PAGE, ask
from tests.test_policy_replay import ALLOW_INTERNAL, BOSS, EVIL, NO_ATTACKERS, run_replay

FETCHED = [{"role": "user", "content": "Summarize the page"},
           {"role": "assistant", "content": [wire.tool_use("fetch_url", {"url": "x"}, "toolu_f")]},
           {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_f", "content": PAGE}]}]
TRUSTED = [{"role": "user", "content": "Read x.io and tell my boss"}]


def reply(content: list[dict], stream: bool):
    return sse_reply(wire.answer_stream(content)) if stream else json_reply(wire.message(content, "tool_use"))


def profile_of(proxy) -> str:
    return proxy.api("GET", "/profiles").json()["data"][0]["id"]


def enforce(proxy, kind: str, tool: str, **policy) -> None:
    """The candidate policy, created for real on the discovered tool."""
    [found] = proxy.api("GET", "/tools", params={"name": tool}).json()["data"]
    created = proxy.api("POST", f"/tool-{kind}-policies", json={"tool_id": found["id"], **policy})
    assert created.status_code == 201, created.text


def only(report: dict) -> dict:
    [entry] = report["interactions"]
    return entry


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_every_call_of_a_refused_answer_is_replayed(proxy, upstream, stream):
    # Enforced: the first mail is refused for the untrusted context, so the answer the client got (and the
    # stored one) holds neither call. The candidate allows internal mail and never mails attackers: the second
    # call is the one it refuses, for its own reason.
    content = [wire.text("Ok. "), wire.tool_use("send_email", BOSS, "toolu_1"), wire.tool_use("send_email", EVIL,
                                                                                              "toolu_2")]
    upstream.reply_with(reply(content, stream))
    calls, text = ask(proxy, None, FETCHED, CLIENT_TOOLS, stream=stream)
    assert calls == [] and "denied by a tool invocation policy" in text
    proxy.flush()
    entry = only(run_replay(proxy, add=[ALLOW_INTERNAL, NO_ATTACKERS]))
    assert entry["change"] == "changed_reason"
    assert (entry["current"]["arguments"], entry["candidate"]) == (BOSS, {
        "tool": "send_email", "arguments": EVIL, "reason": "never mail the attacker"})

    for policy in (ALLOW_INTERNAL, NO_ATTACKERS):
        enforce(proxy, "call", "send_email", **{k: v for k, v in policy.items() if k not in ("kind", "tool")})
    upstream.reply_with(reply(content, stream))
    calls, text = ask(proxy, None, FETCHED, CLIENT_TOOLS, stream=stream)
    assert calls == [] and json.dumps(EVIL, separators=(",", ":")) in text
    assert text.endswith("never mail the attacker")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_provider_result_inside_the_answer_is_replayed(proxy, upstream, stream):
    # A trusted conversation; the provider fetches a page inside the answer, then the model mails: refused for
    # the page. The candidate trusts web_fetch results: newly allowed, also for a stream (whose rebuilt answer
    # keeps no result: the replay reads the decisions recorded with the interaction).
    tools = [*CLIENT_TOOLS, wire.web_fetch_tool()]
    content = [wire.server_tool_use("web_fetch", {"url": "https://x.io"}, "srvtoolu_w"),
               wire.web_fetch_result("srvtoolu_w", "https://x.io", PAGE),
               wire.tool_use("send_email", BOSS, "toolu_e")]
    upstream.reply_with(reply(content, stream))
    assert ask(proxy, None, TRUSTED, tools, stream=stream)[0] == []
    proxy.flush()
    candidate = {"kind": "result", "tool": "web_fetch", "action": "mark_as_trusted"}
    entry = only(run_replay(proxy, add=[candidate]))
    assert (entry["change"], entry["candidate"], entry["current"]["arguments"]) == ("newly_allowed", None, BOSS)
    assert "web_fetch" in entry["current"]["reason"]

    enforce(proxy, "result", "web_fetch", action="mark_as_trusted")
    upstream.reply_with(reply(content, stream))
    assert ask(proxy, None, TRUSTED, tools, stream=stream)[0] == [("send_email", BOSS)]


def test_provider_executed_tools_of_the_request_are_replayed(proxy, upstream):
    # An untrusted context: the web_fetch server tool is taken out of the request. The candidate allows it there.
    tools = [*CLIENT_TOOLS, wire.web_fetch_tool()]
    upstream.reply_with(json_reply(wire.message([wire.text("ok")])))
    ask(proxy, None, FETCHED, tools)
    assert [t["name"] for t in upstream.received[-1].json["tools"]] == ["fetch_url", "send_email"]
    proxy.flush()
    candidate = {"kind": "call", "tool": "web_fetch", "action": "allow_when_context_is_untrusted"}
    entry = only(run_replay(proxy, add=[candidate]))
    assert entry["change"] == "newly_allowed" and entry["current"] is None and entry["candidate"] is None
    removed = entry["removed_server_tools"]
    assert [t["tool"] for t in removed["current"]] == ["web_fetch"] and removed["candidate"] == []
    # A candidate that changes nothing for it reports nothing.
    assert run_replay(proxy, add=[{**candidate, "tool": "fetch_url"}])["totals"]["unchanged"] == 1

    enforce(proxy, "call", "web_fetch", action="allow_when_context_is_untrusted")
    ask(proxy, None, FETCHED, tools)
    assert [t["name"] for t in upstream.received[-1].json["tools"]] == ["fetch_url", "send_email", "web_fetch"]
