"""Policy replay (issue 19): candidate policies re-run over recorded traffic of several provider families, streamed
and not, report exactly the answers enforcing them changes (checked by enforcing them on the same requests)."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import openai
import pytest

from tests.fakes import responses_wire
from tests.fakes.server import json_reply, sse_reply
from tests.security_drivers import (
    PAGE,
    AnthropicDriver,
    BedrockDriver,
    CohereDriver,
    GeminiDriver,
    MistralDriver,
    OpenAIDriver,
    Outcome,
)


class ResponsesDriver:
    """The same agent on the OpenAI Responses API."""

    provider = "openai"
    tools = [{"type": "function", "name": n, "description": n, "parameters": {"type": "object"}, "strict": False}
             for n in ("fetch_url", "send_email")]

    def ask(self, proxy, stream: bool, with_result: bool) -> Outcome:
        client = openai.OpenAI(api_key="k", base_url=proxy.base("openai"), max_retries=0)
        items: list = [{"role": "user", "content": "Summarize the page"}]
        if with_result:
            items += [responses_wire.function_call("fetch_url", {"url": "https://x.io"}, "call_fetch1"),
                      {"type": "function_call_output", "call_id": "call_fetch1", "output": PAGE}]
        if stream:
            with client.responses.stream(model="gpt-5.1", input=items, tools=self.tools) as events:
                answer = events.get_final_response()
        else:
            answer = client.responses.create(model="gpt-5.1", input=items, tools=self.tools)
        return Outcome([(item.name, json.loads(item.arguments)) for item in answer.output
                        if item.type == "function_call"], answer.output_text)

    def reply(self, stream: bool, args: dict):
        email = responses_wire.function_call("send_email", args, "call_mail1")
        return sse_reply(responses_wire.stream([email])) if stream else json_reply(responses_wire.response([email]))


SDK_FAMILIES = [OpenAIDriver("openai"), MistralDriver(), AnthropicDriver(), GeminiDriver(), CohereDriver(),
                ResponsesDriver()]
# boto3 sends Bedrock API keys only over TLS: Bedrock Converse on a proxy of its own.
TRAFFIC = {"sdk-families": (SDK_FAMILIES, False), "bedrock": ([BedrockDriver()], True)}


@pytest.fixture(autouse=True)
def bedrock_key(monkeypatch):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-key")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
EVIL = {"to": "evil@attacker.io"}
BOSS = {"to": "boss@company.com"}
# (history with a fetched page, arguments of the mail the model sends)
REQUESTS = [(True, BOSS), (True, EVIL), (False, EVIL)]
ALLOW_INTERNAL = {"kind": "call", "tool": "send_email", "action": "allow_when_context_is_untrusted",
                  "conditions": [{"key": "to", "operator": "endsWith", "value": "@company.com"}]}
NO_ATTACKERS = {"kind": "call", "tool": "send_email", "action": "block_always", "reason": "never mail the attacker",
                "conditions": [{"key": "to", "operator": "contains", "value": "attacker"}]}


def traffic(proxy, upstream, drivers: list) -> list[tuple[list, str]]:
    """Every request of the scenario once, in order: what the client received (calls, text) each time."""
    seen = []
    for driver in drivers:
        for stream in (False, True):
            for with_result, args in REQUESTS:
                upstream.reply_with(driver.reply(stream, args))
                outcome = driver.ask(proxy, stream, with_result)
                seen.append((outcome.calls, outcome.text))
    return seen


def run_replay(proxy, **changes) -> dict:
    started = proxy.api("POST", "/policy-replays", json=changes)
    assert started.status_code == 202, started.text
    assert started.json()["status"] in ("pending", "running", "done")
    deadline = time.monotonic() + 60
    while True:
        job = proxy.api("GET", f"/policy-replays/{started.json()['id']}").json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert job["status"] == "done", job
    return job["report"]


@pytest.mark.parametrize("families", list(TRAFFIC))
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_replay_reports_exactly_what_enforcing_the_candidate_changes(make_proxy, upstream, tls_cert, database,
                                                                     families, request):
    overrides = {"database_url": request.getfixturevalue("postgres_url")} if database == "postgresql" else {}
    drivers, tls = TRAFFIC[families]
    replay_scenario(make_proxy(tls=tls_cert if tls else None, **overrides), upstream, drivers)


def replay_scenario(proxy, upstream, drivers: list) -> None:
    """Traffic recorded in monitor mode, replayed under candidates, checked against enforcing them."""
    profile = proxy.api("GET", "/profiles").json()["data"][0]["id"]
    # Recorded in monitor mode: every answer reached the client as the upstream sent it.
    assert proxy.api("PATCH", f"/profiles/{profile}", json={"mode": "monitor"}).status_code == 200
    assert all(calls for calls, _ in traffic(proxy, upstream, drivers))
    proxy.flush()

    # Restrictive, no policies: a mail after a fetched page is refused. The candidate allows internal mail in an
    # untrusted context and never mails attackers.
    report = run_replay(proxy, profile_id=profile, add=[ALLOW_INTERNAL, NO_ATTACKERS])
    per_request = len(drivers) * 2
    assert report["totals"] == {"interactions": 3 * per_request, "newly_allowed": per_request,
                                "changed_reason": per_request, "newly_blocked": per_request, "unchanged": 0,
                                "skipped": 0}
    entries = report["interactions"]
    assert [e["change"] for e in entries] == ["newly_allowed", "changed_reason", "newly_blocked"] * per_request
    assert [(e["provider"], e["stream"]) for e in entries[::3]] == [
        (driver.provider, stream) for driver in drivers for stream in (False, True)]

    # The time window: nothing after now, everything before.
    later = (datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat()
    assert run_replay(proxy, since=later, global_policy="permissive")["totals"]["interactions"] == 0
    assert run_replay(proxy, until=later, add=[ALLOW_INTERNAL])["totals"]["newly_allowed"] == per_request

    # Another candidate over the same traffic: permissive lets every mail after the page through.
    report = run_replay(proxy, profile_id=profile, global_policy="permissive")
    assert {k: report["totals"][k] for k in ("newly_allowed", "unchanged", "newly_blocked")} == {
        "newly_allowed": 2 * per_request, "unchanged": per_request, "newly_blocked": 0}

    # Checked against enforcing the first candidate on the same requests.
    email = proxy.api("GET", "/tools", params={"name": "send_email", "profile_id": profile}).json()["data"][0]["id"]
    ids = []
    for policy in (ALLOW_INTERNAL, NO_ATTACKERS):
        body = {"tool_id": email, **{k: v for k, v in policy.items() if k not in ("kind", "tool")}}
        created = proxy.api("POST", "/tool-call-policies", json=body)
        assert created.status_code == 201
        ids.append(created.json()["id"])
    assert proxy.api("PATCH", f"/profiles/{profile}", json={"mode": "enforce"}).status_code == 200
    enforced = traffic(proxy, upstream, drivers)
    for entry, (calls, text) in zip(entries, enforced, strict=True):
        refused = entry["candidate"]
        if refused is None:
            assert calls and calls[0][0] == "send_email", entry
        else:
            assert calls == [] and text.endswith(refused["reason"]), (entry, text)
    proxy.flush()

    # Removing a policy, replayed over monitored and enforced traffic alike (an enforced refusal took the call
    # out of the answer: the replay reads it from the record): without the block_always, the mail without a
    # page passes, the one after the page is refused for the untrusted context instead.
    report = run_replay(proxy, profile_id=profile, remove=[ids[1]])
    assert {k: report["totals"][k] for k in ("interactions", "newly_allowed", "changed_reason", "unchanged")} == {
        "interactions": 6 * per_request, "newly_allowed": 2 * per_request, "changed_reason": 2 * per_request,
        "unchanged": 2 * per_request}


def test_replay_validation(proxy):
    assert proxy.api("POST", "/policy-replays", json={"global_policy": "lax"}).status_code == 400
    # An action of the other kind of policy, added or edited; an edit of a policy that does not exist.
    wrong = proxy.api("POST", "/policy-replays", json={"add": [{**ALLOW_INTERNAL, "action": "mark_as_trusted"}]})
    assert wrong.status_code == 400 and "allow_when_context_is_untrusted" in wrong.text
    template = proxy.api("POST", "/policy-templates", json={"kind": "call", "tool_name": "send_email",
                                                            "action": "block_always"}).json()
    for edit in ({"id": template["id"], "action": "mark_as_trusted"},
                 {"id": "6f1c1a7e-0000-4000-8000-000000000000", "action": "block_always"}):
        assert proxy.api("POST", "/policy-replays", json={"edit": [edit]}).status_code == 400, edit
    allowed = {"id": template["id"], "action": "allow_when_context_is_untrusted"}
    assert proxy.api("POST", "/policy-replays", json={"edit": [allowed]}).status_code == 202
    assert proxy.api("POST", "/policy-replays", json={"profile_id": "nobody"}).status_code == 400
    assert proxy.api("GET", "/policy-replays/6f1c1a7e-0000-4000-8000-000000000000").status_code == 404
