"""Issue 30 section 2: calls that wait for a person's approval, through the openai SDK on the two-worker gunicorn.
A held call is refused with its approval's id; the API lists it (tool, arguments, context labels, who asked); the
webhook (a fake Slack-compatible receiver) hears of it; once approved the agent's retry passes exactly once, even
with two workers racing; a rejected one stays refused with the approver's reason; an expired one stays refused.
The console flow is in test_approvals_browser.py."""
from __future__ import annotations

import json
import re
import threading
import time

import openai
import pytest

from tests.fakes import openai_wire as wire
from tests.fakes.server import FakeUpstream, json_reply, sse_reply
from tests.live import _start
from tests.test_deployment import stop_gunicorn
from tests.test_labels import InProcess

SCHEMA = {"type": "object", "properties": {"to": {"type": "string"}, "amount": {"type": "number"},
                                           "id": {"type": "string"}}}
NAMES = ("crm_lookup", "send_payment")
PAYMENT = {"to": "ACME", "amount": 1200}
HOOK_PATH = "/services/T000/B000/XXXXsecret"
APPROVAL_ID = re.compile(r"awaits a person's approval \(approval ([0-9a-f-]{36})\)")


@pytest.fixture(scope="module")
def receiver():
    fake = FakeUpstream()
    fake.reply_with(json_reply({"ok": True}))
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory, receiver):
    upstream, process, log, proxy = _start(tmp_path_factory, None, {
        "ARCHESTRA_APPROVAL_WEBHOOK_URL": receiver.url + HOOK_PATH, "ARCHESTRA_APPROVAL_WINDOW_SECONDS": "600",
        "ARCHESTRA_CHAT_OPENAI_API_KEY": "held-openai-key"})
    proxy.log = log
    yield proxy
    stop_gunicorn(process, log)
    upstream.close()


class PayingAgent:
    """A profile whose payments need a person's approval; CRM results are trusted and labelled confidential."""

    def __init__(self, live, session: str | None = None, **profile):
        self.live, self.session = live, session or f"s-{time.monotonic_ns()}"
        self.pid = live.profile(**profile)
        self.ids = live.register_tools(self.pid, NAMES, SCHEMA)
        self.policy("result", "crm_lookup", "mark_as_trusted")
        self.policy("result", "crm_lookup", "add_labels", labels=["confidential"])
        self.policy("call", "send_payment", "require_approval", reason="Payments need a second pair of eyes.")

    def policy(self, kind: str, tool: str, action: str, labels=None, reason=None) -> dict:
        return self.live.tool_policy(kind, self.ids[tool], action, labels=labels or [], reason=reason)

    def pay(self, arguments: dict = PAYMENT, session: str | None = None, stream: bool = False,
            key: str = "k") -> str:
        """The model asks to pay after a CRM lookup; what the application receives."""
        if stream:
            text = json.dumps(arguments)
            self.live.upstream.reply_with(sse_reply(wire.tool_stream([("call_pay", "send_payment",
                                                                       [text[:6], text[6:]])])))
        else:
            self.live.upstream.reply_with(json_reply(wire.completion(None, [wire.tool_call(
                "send_payment", arguments, "call_pay")])))
        client = openai.OpenAI(api_key=key, base_url=self.live.base("openai", self.pid), max_retries=0)
        answer = client.chat.completions.create(
            model="gpt-4o", stream=stream,
            tools=[{"type": "function", "function": {"name": n, "description": n, "parameters": SCHEMA}}
                   for n in NAMES],
            messages=[{"role": "user", "content": "Pay ACME's invoice"},
                      {"role": "assistant", "content": None,
                       "tool_calls": [wire.tool_call("crm_lookup", {"id": "7"}, "c_crm")]},
                      {"role": "tool", "tool_call_id": "c_crm", "content": json.dumps({"customer": "ACME"})}],
            extra_headers={"X-Archestra-Session-Id": session or self.session, "X-Archestra-User-Id": "alice",
                           "X-Archestra-Agent-Id": "billing-bot"})
        if stream:
            chunks = [choice.delta for chunk in answer for choice in chunk.choices]
            calls = [call for delta in chunks for call in delta.tool_calls or []]
            return "called send_payment" if calls else "".join(delta.content or "" for delta in chunks)
        message = answer.choices[0].message
        return "called send_payment" if message.tool_calls else message.content

    def approvals(self, **filters) -> list[dict]:
        return self.live.api("GET", "/approvals", params={"profile_id": self.pid, **filters}).json()["data"]


def awaiting(refusal: str) -> str:
    assert "However, I was denied by a tool invocation policy" in refusal, refusal
    found = APPROVAL_ID.search(refusal)
    assert found, refusal
    return found.group(1)


def test_a_held_call_waits_then_passes_once_after_approval(live):
    agent = PayingAgent(live)
    refusal = agent.pay()
    approval_id = awaiting(refusal)
    assert refusal.startswith('I tried to invoke the send_payment tool with the following arguments: '
                              '{"to":"ACME","amount":1200}.\n\nHowever, I was denied by a tool invocation policy:\n\n')
    assert "Payments need a second pair of eyes." in refusal
    # Asking again before anyone decided: the same pending approval, not a second one.
    assert awaiting(agent.pay()) == approval_id
    [pending] = agent.approvals(status="pending")
    assert (pending["id"], pending["tool"], pending["arguments"], pending["context_labels"], pending["session_id"],
            pending["user_id"], pending["agent_id"], pending["policy_reason"]) == (
        approval_id, "send_payment", PAYMENT, ["confidential"], agent.session, "alice", "billing-bot",
        "Payments need a second pair of eyes.")

    decided = live.api("POST", f"/approvals/{approval_id}/approve", json={"reason": "Invoice 42 checked"})
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["decided_by"], decided.json()["decision_reason"]) == (
        "approved", "admin token", "Invoice 42 checked")
    # Other arguments, or another session, are other calls: not approved by it.
    assert awaiting(agent.pay({"to": "ACME", "amount": 99999})) != approval_id
    assert awaiting(agent.pay(session="another-session")) != approval_id
    # The same call passes once, then needs a new approval.
    assert agent.pay() == "called send_payment"
    again = agent.pay()
    assert awaiting(again) != approval_id
    used = live.api("GET", f"/approvals/{approval_id}").json()
    assert used["status"] == "used" and used["used_at"] and used["decided_by"] == "admin token"
    # The interaction that used it, and the one that asked, are on record.
    passed = live.eventually(lambda: live.api("GET", f"/interactions/{used['used_interaction_id']}").json().get("id"))
    assert passed == used["used_interaction_id"] and used["interaction_id"] != passed
    # A decided approval cannot be decided again; an unknown one does not exist.
    assert live.api("POST", f"/approvals/{approval_id}/reject", json={}).status_code == 409
    assert live.api("POST", "/approvals/00000000-0000-0000-0000-000000000000/approve").status_code == 404
    assert live.api("GET", "/approvals", params={"status": "nonsense"}).status_code == 400


def test_who_asked_is_the_virtual_key_that_authenticated_the_call(live):
    agent = PayingAgent(live)
    issued = live.api("POST", "/virtual-keys", json={"profile_id": agent.pid, "name": "billing laptop"})
    assert issued.status_code == 201, issued.text
    approval_id = awaiting(agent.pay(key=issued.json()["key"]))
    asked = live.api("GET", f"/approvals/{approval_id}").json()
    assert (asked["virtual_key_id"], asked["virtual_key_name"]) == (issued.json()["id"], "billing laptop")
    assert agent.approvals(virtual_key_id=issued.json()["id"])[0]["id"] == approval_id
    assert live.upstream.received[-1].headers["Authorization"] == "Bearer held-openai-key"


def test_two_workers_racing_the_same_retry_pass_it_exactly_once(live):
    agent = PayingAgent(live)
    approval_id = awaiting(agent.pay())
    assert live.api("POST", f"/approvals/{approval_id}/approve").status_code == 200
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def retry() -> None:
        barrier.wait()
        outcomes.append(agent.pay())

    # The fake model answers every request with the same call; fresh clients spread over both workers.
    threads = [threading.Thread(target=retry) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 6
    assert outcomes.count("called send_payment") == 1, outcomes
    assert all("approval" in outcome for outcome in outcomes if outcome != "called send_payment")


def test_a_streamed_call_is_held_and_its_streamed_retry_passes_once(live):
    agent = PayingAgent(live)
    approval_id = awaiting(agent.pay(stream=True))
    assert awaiting(agent.pay(stream=True)) == approval_id
    assert live.api("POST", f"/approvals/{approval_id}/approve").status_code == 200
    assert agent.pay(stream=True) == "called send_payment"
    assert awaiting(agent.pay(stream=True)) != approval_id
    assert live.api("GET", f"/approvals/{approval_id}").json()["status"] == "used"


def test_a_rejected_call_stays_refused_with_the_approvers_reason(live):
    agent = PayingAgent(live)
    approval_id = awaiting(agent.pay())
    rejected = live.api("POST", f"/approvals/{approval_id}/reject", json={"reason": "Not in this quarter's budget"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    for _ in range(3):
        refusal = agent.pay()
        assert (f"This call was rejected by admin token (approval {approval_id}): Not in this quarter's budget."
                in refusal), refusal
    assert [a["status"] for a in agent.approvals()] == ["rejected"]  # no new request while the rejection holds


def test_the_webhook_hears_of_each_request_and_decision(live, receiver):
    agent = PayingAgent(live)
    approval_id = awaiting(agent.pay())

    def posted(event: str) -> list[dict]:
        return [r.json for r in receiver.received if r.path == HOOK_PATH and r.json.get("event") == event
                and r.json["approval"]["id"] == approval_id]
    [requested] = live.eventually(lambda: posted("approval.requested"))
    assert requested["text"].startswith("Approval needed: send_payment {\"amount\":1200,\"to\":\"ACME\"}")
    assert f"approval {approval_id}" in requested["text"] and "confidential" in requested["text"]
    assert (requested["approval"]["tool"], requested["approval"]["context_labels"],
            requested["approval"]["user_id"]) == ("send_payment", ["confidential"], "alice")
    live.api("POST", f"/approvals/{approval_id}/approve", json={"reason": "ok"})
    [approved] = live.eventually(lambda: posted("approval.approved"))
    assert approved["text"] == f"Approval {approval_id} (send_payment) approved by admin token: ok."
    # The receiver's secret path never reaches the logs.
    with open(live.log.name) as log:
        assert "XXXXsecret" not in log.read()


def test_a_failing_webhook_is_logged_not_fatal(live, receiver):
    receiver.reply_with(json_reply({"error": "down"}, 500))
    try:
        agent = PayingAgent(live)
        approval_id = awaiting(agent.pay())
        assert live.api("POST", f"/approvals/{approval_id}/approve").status_code == 200
        assert agent.pay() == "called send_payment"
    finally:
        receiver.reply_with(json_reply({"ok": True}))


def test_monitor_mode_records_the_held_call_as_would_block_and_asks_no_one(live):
    agent = PayingAgent(live, mode="monitor")
    assert agent.pay() == "called send_payment"
    [row] = live.eventually(lambda: live.api("GET", "/blocked-tool-calls", params={
        "profile_id": agent.pid, "would_block": "true"}).json()["data"])
    assert "awaits a person's approval" in row["reason"]
    assert agent.approvals() == []


@pytest.fixture(scope="module")
def brief(tmp_path_factory):
    """A proxy whose approvals last three seconds."""
    upstream, process, log, proxy = _start(tmp_path_factory, None, {"ARCHESTRA_APPROVAL_WINDOW_SECONDS": "3"})
    yield proxy
    stop_gunicorn(process, log)
    upstream.close()


def test_an_expired_approval_stays_refused(brief):
    agent = PayingAgent(brief)
    pending = awaiting(agent.pay())
    time.sleep(3.2)  # nobody decided in time
    refusal = agent.pay()
    assert f"The earlier approval {pending} of this call expired before it was used." in refusal
    fresh = awaiting(refusal)
    late = brief.api("POST", f"/approvals/{pending}/approve")
    assert late.status_code == 409 and late.json()["error"]["code"] == "approval_expired", late.text
    # Approved, but the agent came back too late: refused, and a new approval is asked for.
    approved = brief.api("POST", f"/approvals/{fresh}/approve")
    assert approved.status_code == 200, approved.text
    time.sleep(3.2)
    refusal = agent.pay()
    assert f"The earlier approval {fresh} of this call expired before it was used." in refusal
    statuses = {a["id"]: a["status"] for a in agent.approvals()}
    assert (statuses[pending], statuses[fresh], statuses[awaiting(refusal)]) == ("expired", "expired", "pending")


def test_retention_purges_decided_approvals_and_keeps_pending_ones(make_proxy):
    from datetime import datetime, timedelta, timezone

    from archestra.extensions import db
    from archestra.metering.retention import purge_older_than
    from archestra.models import Approval

    proxy = make_proxy()
    old = datetime.now(timezone.utc) - timedelta(days=40)
    with proxy.app.app_context():
        for status in ("used", "rejected", "pending"):
            db.session.add(Approval(fingerprint=status, status=status, profile_id="p", tool="send_payment",
                                    created_at=old, expires_at=old))
        db.session.add(Approval(fingerprint="recent", status="used", profile_id="p", tool="send_payment",
                                expires_at=old))
        db.session.commit()
        purge_older_than(30)
        kept = sorted(row.fingerprint for row in db.session.query(Approval).all())
    assert kept == ["pending", "recent"]


def test_on_postgresql_one_question_per_call_and_one_pass_per_approval(make_proxy, postgres_url, upstream):
    """Racing requests on PostgreSQL: the same held call asked at once is one pending approval (its unique index),
    and the approved retry passes once (the conditional UPDATE)."""
    proxy = InProcess(make_proxy(database_url=postgres_url), upstream)
    agent = PayingAgent(proxy)

    def race(count: int) -> list[str]:
        outcomes: list[str] = []
        barrier = threading.Barrier(count)

        def one() -> None:
            barrier.wait()
            outcomes.append(agent.pay())
        threads = [threading.Thread(target=one) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(outcomes) == count
        return outcomes

    asked = {awaiting(outcome) for outcome in race(6)}
    assert len(asked) == 1 and [a["id"] for a in agent.approvals(status="pending")] == list(asked)
    assert proxy.api("POST", f"/approvals/{asked.pop()}/approve").status_code == 200
    assert race(6).count("called send_payment") == 1
