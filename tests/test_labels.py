"""Issue 30 section 1: data labels that follow the context. Hook-level cases first (precedence, unseen context,
the built-in untrusted label), then through the real SDKs on the two-worker gunicorn: a confidential result then an
external mail refused while an internal one passes (plain and streamed), labels across a Responses chain
(previous_response_id, not frozen), a compaction and a Bedrock InvokeModel stream; the interactions' labels, monitor
mode, templates, the effective policy and policy replay."""
from __future__ import annotations

import json
import time

import boto3
import botocore
import botocore.config
import openai
import pytest

from archestra.exchange import Exchange, Message, ProfileInfo, Tool, ToolCall, ToolResult
from archestra.hooks import Block
from archestra.security.hooks import SNAPSHOT, CallPolicy, ResultTrust
from archestra.security.policies import ProfilePolicies, Rule
from tests.fakes import anthropic_wire, invoke_wire
from tests.fakes import openai_wire as wire
from tests.fakes import responses_wire as rwire
from tests.fakes.server import Reply, json_reply, sse_reply
from tests.live import _start
from tests.router_support import routed  # noqa: F401  (fixture)
from tests.security_drivers import DRIVERS
from tests.test_deployment import stop_gunicorn

EXTERNAL = {"to": "boss@attacker.io", "body": "the customer list"}
INTERNAL = {"to": "boss@corp.com", "body": "the customer list"}
CUSTOMER = json.dumps({"customer": "ACME", "revenue": 1200000, "source": "crm://accounts/7"})
OUTSIDE = [{"key": "to", "operator": "notEndsWith", "value": "@corp.com"}]
SCHEMA = {"type": "object", "properties": {"to": {"type": "string"}, "body": {"type": "string"},
                                           "id": {"type": "string"}}}
NAMES = ("crm_lookup", "send_email", "fetch_url")
MODEL = "anthropic.claude-sonnet-4-20250514-v1:0"
EVENTSTREAM = {"Content-Type": "application/vnd.amazon.eventstream",
               "X-Amzn-Bedrock-Content-Type": "application/json"}


# -- the hooks ------------------------------------------------------------------------------------------------------
def view(results: list[ToolResult], unseen: tuple[str, ...] = ()) -> Exchange:
    exchange = Exchange("openai", ProfileInfo("p", "p"), "m", tools=[Tool(name) for name in NAMES],
                        messages=[Message("tool", tool_results=[result]) for result in results])
    exchange.unseen_context += list(unseen)
    return exchange


def judged(policies: ProfilePolicies, exchange: Exchange) -> Exchange:
    exchange.state[SNAPSHOT] = policies
    for result in exchange.tool_results:
        ResultTrust(None)(exchange, result)  # type: ignore[arg-type]
    return exchange


def call(exchange: Exchange, arguments: dict, tool: str = "send_email") -> None:
    CallPolicy(None)(exchange, ToolCall("c9", tool, arguments))  # type: ignore[arg-type]


LABELLING = ProfilePolicies(results={"crm_lookup": (Rule((), "mark_as_trusted", None),
                                                    Rule((), "add_labels", None, labels=("confidential",)))},
                            calls={"send_email": (Rule(tuple(OUTSIDE), "block_when_context_has_labels", "Stay inside.",
                                                       labels=("confidential",)),)})


def test_a_labelled_result_forbids_the_external_call_and_says_which_label_from_which_result():
    exchange = judged(LABELLING, view([ToolResult("c_crm", "crm_lookup", CUSTOMER)]))
    assert exchange.context_trusted and exchange.context_labels == {"confidential"}
    with pytest.raises(Block) as refused:
        call(exchange, EXTERNAL)
    assert refused.value.reason == ("The context holds the label confidential, from the result of crm_lookup (call "
                                    "c_crm): a block_when_context_has_labels policy on send_email forbids this call "
                                    "while it does. Stay inside.")
    call(exchange, INTERNAL)
    # A look-alike of the company domain is outside it (both readings must agree for it to be inside).
    with pytest.raises(Block):
        call(exchange, {"to": "boss@ｃｏｒｐ.com.attacker.io"})


def test_label_rules_stand_beside_the_trust_and_allow_decision():
    """Adding a label rule changes nothing else: a default allow still refines the untrusted default, a specific
    label rule that holds does not push the default trust aside; and an allow never lifts a label block."""
    policies = ProfilePolicies(
        results={"crm_lookup": (Rule((), "mark_as_trusted", None),
                                Rule(({"key": "source", "operator": "startsWith", "value": "crm://"},), "add_labels",
                                     None, labels=("customer-data",)))},
        calls={"send_email": (Rule((), "allow_when_context_is_untrusted", None),
                              Rule(tuple(OUTSIDE), "block_when_context_has_labels", None, labels=("customer-data",)))})
    exchange = judged(policies, view([ToolResult("c_crm", "crm_lookup", CUSTOMER),
                                      ToolResult("c_f", "fetch_url", "a page")]))
    assert exchange.tool_results[0].trusted is True and exchange.tool_results[0].labels == {"customer-data"}
    assert exchange.context_labels == {"customer-data", "untrusted"}
    call(exchange, INTERNAL)  # untrusted, but the default allow applies
    with pytest.raises(Block, match="label customer-data, from the result of crm_lookup"):
        call(exchange, EXTERNAL)


def test_untrusted_is_the_built_in_label_and_unseen_context_may_hold_any_label():
    guard = ProfilePolicies("permissive", calls={"send_email": (
        Rule((), "block_when_context_has_labels", None, labels=("untrusted",)),)})
    exchange = judged(guard, view([ToolResult("c_f", "fetch_url", "page")]))
    exchange.tool_results[0].trusted = False
    with pytest.raises(Block, match="label untrusted, from the result of fetch_url"):
        call(exchange, INTERNAL)
    unseen = judged(LABELLING, view([], unseen=("Gemini cachedContent cachedContents/x",)))
    with pytest.raises(Block, match="may hold the label confidential.*cachedContent"):
        call(unseen, EXTERNAL)


def test_block_unless_requires_every_label_and_a_blocked_result_keeps_its_labels():
    policies = ProfilePolicies("permissive", results={"crm_lookup": (
        Rule((), "add_labels", None, labels=("reviewed",)),
        Rule(({"key": "revenue", "operator": "equal", "value": "0"},), "block_always", "no empty accounts"))},
        calls={"send_email": (Rule((), "block_unless_context_has_labels", None, labels=("reviewed", "signed")),)})
    exchange = judged(policies, view([ToolResult("c_crm", "crm_lookup", CUSTOMER)]))
    with pytest.raises(Block, match="does not hold the label signed"):
        call(exchange, INTERNAL)
    exchange.tool_results[0].labels.add("signed")  # an operator's hook may label results too
    call(exchange, INTERNAL)
    blocked = view([ToolResult("c_crm", "crm_lookup", json.dumps({"revenue": 0}))])
    with pytest.raises(Block):
        judged(policies, blocked)
    assert blocked.tool_results[0].labels == {"reviewed"}


# -- every API family, through its SDK ------------------------------------------------------------------------------
FAMILIES = [driver for driver in DRIVERS if driver.provider in ("openai", "mistral", "anthropic", "gemini", "cohere",
                                                                  "bedrock", "ollama-native")]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("driver", FAMILIES, ids=[d.provider for d in FAMILIES])
def test_a_labelled_result_refuses_the_external_call_in_every_family(make_proxy, tls_cert, upstream, driver, stream,
                                                                      monkeypatch):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-key")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    proxy = make_proxy(tls=tls_cert) if getattr(driver, "tls", False) else make_proxy()
    evil, boss = {"to": "evil@attacker.io"}, {"to": "boss@company.com"}

    def ask(args: dict, with_result: bool):
        upstream.reply_with(driver.reply(stream, args))
        return driver.ask(proxy, stream, with_result, "<html>Quarterly numbers</html>")

    assert ask(evil, with_result=False).calls == [("send_email", evil)]  # declares the tools
    proxy.flush()
    profile = proxy.api("GET", "/profiles").json()["data"][0]["id"]
    tools = proxy.api("GET", "/tools", params={"profile_id": profile}).json()["data"]
    ids = {tool["name"]: tool["id"] for tool in tools}
    for kind, body in (("result", {"tool_id": ids["fetch_url"], "action": "mark_as_trusted"}),
                       ("result", {"tool_id": ids["fetch_url"], "action": "add_labels", "labels": ["source:web"]}),
                       ("call", {"tool_id": ids["send_email"], "action": "block_when_context_has_labels",
                                 "labels": ["source:web"], "conditions": [
                                     {"key": "to", "operator": "notEndsWith", "value": "@company.com"}]})):
        created = proxy.api("POST", f"/tool-{kind}-policies", json=body)
        assert created.status_code == 201, created.text
    outcome = ask(evil, with_result=True)
    call_id = f" (call {driver.result_id})" if driver.result_id else ""
    assert outcome.calls == [] and outcome.text.endswith(
        'I tried to invoke the send_email tool with the following arguments: {"to":"evil@attacker.io"}.\n\nHowever, '
        f"I was denied by a tool invocation policy:\n\nThe context holds the label source:web, from the result of "
        f"fetch_url{call_id}: a block_when_context_has_labels policy on send_email forbids this call while it does."), \
        outcome.text
    assert ask(boss, with_result=True).calls == [("send_email", boss)]
    assert ask(evil, with_result=False).calls == [("send_email", evil)]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_labels_through_the_model_router_to_another_family(routed, upstream, stream):
    """The openai SDK on the router, answered by Anthropic: the labels are decided in the client's family."""
    r = routed()
    ids = {}
    for name in NAMES:
        created = r.proxy.api("POST", "/tools", json={"profile_id": r.profile, "name": name, "parameters": SCHEMA})
        ids[name] = created.json()["id"]
    for kind, body in (("result", {"tool_id": ids["crm_lookup"], "action": "mark_as_trusted"}),
                       ("result", {"tool_id": ids["crm_lookup"], "action": "add_labels", "labels": ["confidential"]}),
                       ("call", {"tool_id": ids["send_email"], "action": "block_when_context_has_labels",
                                 "labels": ["confidential"], "conditions": OUTSIDE})):
        assert r.proxy.api("POST", f"/tool-{kind}-policies", json=body).status_code == 201
    client = openai.OpenAI(api_key=r.key, base_url=r.base, max_retries=0)
    tools = [{"type": "function", "function": {"name": n, "description": n, "parameters": SCHEMA}} for n in NAMES]
    messages = [{"role": "user", "content": "Mail the ACME numbers"},
                {"role": "assistant", "content": None,
                 "tool_calls": [wire.tool_call("crm_lookup", {"id": "7"}, "c_crm")]},
                {"role": "tool", "tool_call_id": "c_crm", "content": CUSTOMER}]

    def mail(arguments: dict) -> str:
        text = json.dumps(arguments)
        if stream:
            upstream.reply_with(sse_reply(anthropic_wire.tool_stream("send_email", [text[:8], text[8:]])))
            chunks = list(client.chat.completions.create(model="anthropic:claude-sonnet-4-5", messages=messages,
                                                         tools=tools, stream=True))
            calls = [c for chunk in chunks for choice in chunk.choices for c in choice.delta.tool_calls or []]
            said = "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices)
        else:
            upstream.reply_with(json_reply(anthropic_wire.message([anthropic_wire.tool_use("send_email", arguments)],
                                                                  "tool_use")))
            message = client.chat.completions.create(model="anthropic:claude-sonnet-4-5", messages=messages,
                                                     tools=tools).choices[0].message
            calls, said = message.tool_calls or [], message.content
        assert upstream.received[-1].path == "/v1/messages"
        return "called send_email" if calls else said

    assert "The context holds the label confidential, from the result of crm_lookup (call c_crm)" in mail(EXTERNAL)
    assert mail(INTERNAL) == "called send_email"


# -- through the SDKs, two workers ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Two workers; the proxy signs Bedrock requests with its own AWS credentials (InvokeModel streams)."""
    env = {"ARCHESTRA_BEDROCK_AWS_AUTH": "true", "ARCHESTRA_BEDROCK_AWS_REGION": "us-east-1",
           "ARCHESTRA_CLOUD_AUTH_OPEN": "true", "AWS_ACCESS_KEY_ID": invoke_wire.ACCESS_KEY,
           "AWS_SECRET_ACCESS_KEY": invoke_wire.SECRET_KEY, "AWS_SESSION_TOKEN": invoke_wire.SESSION_TOKEN,
           "AWS_EC2_METADATA_DISABLED": "true"}
    upstream, process, log, proxy = _start(tmp_path_factory, None, env)
    yield proxy
    stop_gunicorn(process, log)
    upstream.close()


class LabelledAgent:
    """A profile whose CRM results are trusted and labelled confidential, and whose mail outside corp.com is refused
    while the context holds that label."""

    def __init__(self, live, **profile):
        self.live = live
        self.pid = live.profile(**profile)
        self.ids = live.register_tools(self.pid, NAMES, SCHEMA)
        self.policy("result", "crm_lookup", "mark_as_trusted")
        self.label = self.policy("result", "crm_lookup", "add_labels", labels=["confidential"])
        self.policy("call", "send_email", "block_when_context_has_labels", OUTSIDE, labels=["confidential"],
                    reason="Confidential data stays inside corp.com.")

    def policy(self, kind: str, tool: str, action: str, conditions=None, labels=None, reason=None) -> dict:
        return self.live.tool_policy(kind, self.ids[tool], action, conditions, labels=labels or [], reason=reason)

    def chat(self, arguments: dict, history: bool = True, stream: bool = False) -> str:
        """The model asks to send a mail after (or without) a CRM lookup; what the application receives."""
        messages = [{"role": "user", "content": "Mail the ACME numbers to my boss"}]
        if history:
            messages += [{"role": "assistant", "content": None,
                          "tool_calls": [wire.tool_call("crm_lookup", {"id": "7"}, "c_crm")]},
                         {"role": "tool", "tool_call_id": "c_crm", "content": CUSTOMER}]
        tools = [{"type": "function", "function": {"name": n, "description": n, "parameters": SCHEMA}} for n in NAMES]
        client = openai.OpenAI(api_key="k", base_url=self.live.base("openai", self.pid), max_retries=0)
        if stream:
            self.live.upstream.reply_with(sse_reply(wire.tool_stream(
                [("call_mail", "send_email", [json.dumps(arguments)[:9], json.dumps(arguments)[9:]])])))
            text, calls = "", []
            for chunk in client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools,
                                                        stream=True):
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
                    calls += chunk.choices[0].delta.tool_calls or []
            return "called send_email" if calls else text
        self.live.upstream.reply_with(json_reply(wire.completion(None, [wire.tool_call("send_email", arguments,
                                                                                       "call_mail")])))
        message = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools).choices[0].message
        return "called send_email" if message.tool_calls else message.content


def test_a_confidential_result_then_an_external_mail_is_refused_an_internal_one_passes(live):
    agent = LabelledAgent(live)
    for stream in (False, True):
        refusal = agent.chat(EXTERNAL, stream=stream)
        assert refusal.startswith('I tried to invoke the send_email tool with the following arguments: '
                                  '{"to":"boss@attacker.io","body":"the customer list"}.\n\nHowever, I was denied by a '
                                  'tool invocation policy:\n\n'), refusal
        assert ("The context holds the label confidential, from the result of crm_lookup (call c_crm): a "
                "block_when_context_has_labels policy on send_email forbids this call while it does. Confidential "
                "data stays inside corp.com.") in refusal
        assert agent.chat(INTERNAL, stream=stream) == "called send_email"
        assert agent.chat(EXTERNAL, history=False, stream=stream) == "called send_email"  # no label without the result
    # The interactions record the context's labels; the refusals are recorded with the reason.
    rows = recorded(live, agent.pid, 6)
    assert sorted(json.dumps(r["labels"]) for r in rows) == sorted(['["confidential"]'] * 4 + ["[]"] * 2)
    labelled = [r["flags"]["labelled_results"] for r in rows if r["labels"]]
    assert labelled == [[{"tool": "crm_lookup", "tool_call_id": "c_crm", "labels": ["confidential"]}]] * 4
    blocked = live.blocked(agent.pid, 2)
    assert {b["tool"] for b in blocked} == {"send_email"} and all("label confidential" in b["reason"]
                                                                   for b in blocked)


def recorded(live, pid: str, count: int) -> list[dict]:
    """The profile's interactions (newest first), once there are ``count``."""
    def read() -> list[dict]:
        rows = live.api("GET", "/interactions", params={"profile_id": pid, "limit": 50}).json()["data"]
        return rows if len(rows) >= count else []
    return live.eventually(read)


def test_monitor_mode_records_the_label_refusal_as_would_block(live):
    agent = LabelledAgent(live, mode="monitor")
    assert agent.chat(EXTERNAL) == "called send_email"
    [row] = live.eventually(lambda: live.api("GET", "/blocked-tool-calls", params={"profile_id": agent.pid,
                                                                                 "would_block": "true"}).json()["data"])
    assert "label confidential, from the result of crm_lookup" in row["reason"]


def responses_turn(live, pid: str, output: list[dict], items, **kwargs):
    response_id = f"resp_lbl{time.monotonic_ns()}"
    live.upstream.reply_with(json_reply(rwire.response(output, response_id=response_id)))
    tools = [{"type": "function", "name": n, "description": n, "parameters": SCHEMA, "strict": False} for n in NAMES]
    client = openai.OpenAI(api_key="k", base_url=live.base("openai", pid), max_retries=0)
    return client.responses.create(model="gpt-5.1", input=items, tools=tools, **kwargs)


LOOKED_UP = [{"role": "user", "content": "Look up ACME"}, rwire.function_call("crm_lookup", {"id": "7"}, "c_crm"),
             {"type": "function_call_output", "call_id": "c_crm", "output": CUSTOMER}]


def mails(live, pid: str, arguments: dict, **kwargs) -> str:
    answer = responses_turn(live, pid, [rwire.function_call("send_email", arguments, "call_mail")], "Mail it",
                            **kwargs)
    calls = [item.name for item in answer.output if item.type == "function_call"]
    return "called send_email" if calls else answer.output_text


def test_labels_follow_a_responses_chain_and_are_never_frozen(live):
    agent = LabelledAgent(live)
    first = responses_turn(live, agent.pid, [rwire.message("ACME: 1.2M")], LOOKED_UP)
    second = responses_turn(live, agent.pid, [rwire.message("Noted.")], "Keep it",
                            previous_response_id=first.id)
    # Two turns later the CRM result is only at the provider: its label still holds, on every worker.
    assert live.eventually(lambda: "label confidential" in mails(live, agent.pid, EXTERNAL,
                                                                 previous_response_id=second.id))
    for _ in range(4):
        refusal = mails(live, agent.pid, EXTERNAL, previous_response_id=second.id)
        assert "label confidential, from the result of crm_lookup (call c_crm)" in refusal
        assert mails(live, agent.pid, INTERNAL, previous_response_id=second.id) == "called send_email"
    # Labels are decided again from the remembered results: without the policy the chain carries no label.
    assert live.api("DELETE", f"/tool-result-policies/{agent.label['id']}").status_code == 204
    assert live.eventually(lambda: mails(live, agent.pid, EXTERNAL, previous_response_id=second.id)
                           == "called send_email")


def test_labels_follow_a_compaction(live):
    agent = LabelledAgent(live)
    encrypted = f"gAAAAAB{time.monotonic_ns()}lbl=="
    live.upstream.reply_with(json_reply(rwire.compacted([LOOKED_UP[0], rwire.compaction(encrypted)])))
    client = openai.OpenAI(api_key="k", base_url=live.base("openai", agent.pid), max_retries=0)
    compacted = client.responses.compact(model="gpt-5.1", input=LOOKED_UP)
    items = [item.model_dump(exclude_none=True) for item in compacted.output]
    assert not any("c_crm" in json.dumps(item) for item in items)  # the result is only inside the compaction

    def after(arguments: dict) -> str:
        return _mails_items(live, agent.pid, arguments, items)
    assert live.eventually(lambda: "label confidential" in after(EXTERNAL))
    assert "from the result of crm_lookup (call c_crm)" in after(EXTERNAL)
    assert after(INTERNAL) == "called send_email"


def _mails_items(live, pid: str, arguments: dict, items: list[dict]) -> str:
    answer = responses_turn(live, pid, [rwire.function_call("send_email", arguments, "call_mail")],
                            [*items, {"role": "user", "content": "Mail it"}])
    calls = [item.name for item in answer.output if item.type == "function_call"]
    return "called send_email" if calls else answer.output_text


def test_labels_in_a_bedrock_invoke_model_stream(live):
    agent = LabelledAgent(live)
    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=live.base("bedrock", agent.pid),
                          config=botocore.config.Config(signature_version=botocore.UNSIGNED,
                                                        retries={"max_attempts": 1}))
    tools = [{"name": n, "description": n, "input_schema": SCHEMA} for n in NAMES]
    messages = [{"role": "user", "content": "Mail the ACME numbers to my boss"},
                {"role": "assistant", "content": [anthropic_wire.tool_use("crm_lookup", {"id": "7"}, "toolu_crm")]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_crm", "content": CUSTOMER}]}]

    def streamed(arguments: dict) -> tuple[str, bool]:
        text = json.dumps(arguments)
        live.upstream.reply_with(Reply(200, EVENTSTREAM, invoke_wire.from_sse(
            anthropic_wire.tool_stream("send_email", [text[:10], text[10:]]))))
        response = client.invoke_model_with_response_stream(modelId=MODEL, body=json.dumps({
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "tools": tools, "messages": messages}))
        events = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
        called = any(e.get("content_block", {}).get("type") == "tool_use" for e in events)
        return "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta"), called

    text, called = streamed(EXTERNAL)
    assert not called and "label confidential, from the result of crm_lookup (call toolu_crm)" in text
    assert invoke_wire.check_sigv4(live.upstream.received[-1]) == invoke_wire.ACCESS_KEY
    assert streamed(INTERNAL)[1]


def test_templates_effective_policy_and_replay_understand_labels(live):
    agent = LabelledAgent(live)
    template = live.api("POST", "/policy-templates", json={
        "kind": "result", "tool_name": "crm_*", "action": "add_labels", "labels": ["customer-data"]})
    assert template.status_code == 201, template.text
    try:
        effective = live.api("GET", "/effective-policy", params={"profile_id": agent.pid, "tool": "crm_lookup"}).json()
        assert {(p["action"], tuple(p["labels"]), p["source"]) for p in effective["result_policies"]["policies"]} == {
            ("mark_as_trusted", (), "profile"), ("add_labels", ("confidential",), "profile"),
            ("add_labels", ("customer-data",), "template")}
        assert agent.chat(INTERNAL) == "called send_email"
        rows = recorded(live, agent.pid, 1)
        assert rows[0]["labels"] == ["confidential", "customer-data"]
        by_label = live.api("GET", "/interactions", params={"profile_id": agent.pid, "label": "customer-data"})
        assert [row["id"] for row in by_label.json()["data"]] == [rows[0]["id"]]
        # Replay: a candidate that forbids any mail while the context holds customer-data would newly block it.
        job = live.api("POST", "/policy-replays", json={"profile_id": agent.pid, "add": [{
            "kind": "call", "tool": "send_email", "action": "block_when_context_has_labels",
            "labels": ["customer-data"]}]})
        assert job.status_code == 202, job.text
        done = live.eventually(lambda: (lambda j: j if j["status"] == "done" else None)(
            live.api("GET", f"/policy-replays/{job.json()['id']}").json()), timeout=30)
        assert done["report"]["totals"]["newly_blocked"] == 1, done["report"]
        [entry] = done["report"]["interactions"]
        assert "label customer-data, from the result of crm_lookup" in entry["candidate"]["reason"]
    finally:
        live.api("DELETE", f"/policy-templates/{template.json()['id']}")


@pytest.mark.parametrize("body, message", [
    ({"action": "add_labels"}, "add_labels needs at least one label"),
    ({"action": "mark_as_trusted", "labels": ["confidential"]}, "mark_as_trusted takes no labels"),
    ({"action": "add_labels", "labels": ["untrusted"]}, "use mark_as_untrusted"),
    ({"action": "add_labels", "labels": ["Top Secret"]}, "lower-case letters"),
])
def test_labels_are_validated(live, body, message):
    agent = LabelledAgent(live)
    answer = live.api("POST", "/tool-result-policies", json={"tool_id": agent.ids["crm_lookup"], **body})
    assert answer.status_code == 400 and message in answer.text, answer.text
    # A partial update is checked as the policy will be.
    changed = live.api("PATCH", f"/tool-result-policies/{agent.label['id']}", json={"action": "mark_as_trusted"})
    assert changed.status_code == 400 and "takes no labels" in changed.text, changed.text


class InProcess:
    """The in-process proxy (``make_proxy``) offering what the agents of these tests use of the ``live`` one."""

    def __init__(self, running, upstream):
        self.running, self.upstream = running, upstream

    def __getattr__(self, name):
        return getattr(self.running, name)

    def profile(self, **fields) -> str:
        created = self.running.api("POST", "/profiles", json={"name": f"p{time.monotonic_ns()}", **fields})
        assert created.status_code == 201, created.text
        return created.json()["id"]


def test_interactions_are_found_by_label_on_postgresql(make_proxy, postgres_url, upstream):
    proxy = InProcess(make_proxy(database_url=postgres_url), upstream)
    agent = LabelledAgent(proxy)
    assert agent.chat(INTERNAL) == "called send_email"
    assert agent.chat(INTERNAL, history=False) == "called send_email"
    proxy.flush()

    def found(label: str) -> int:
        answer = proxy.api("GET", "/interactions", params={"profile_id": agent.pid, "label": label})
        assert answer.status_code == 200, answer.text
        return answer.json()["total"]
    assert (found("confidential"), found("confidentia"), found("untrusted")) == (1, 0, 0)
    refused = proxy.api("GET", "/interactions", params={"label": "Not A Label"})
    assert refused.status_code == 400 and "must be a label" in refused.text


def test_an_operators_hook_may_label_results(make_proxy, upstream, tmp_path):
    from tests.test_hooks import hook_file

    labelling = """
        def on_tool_result(exchange, result):
            if '"revenue"' in result.content:
                result.labels.add("financials")
    """
    proxy = InProcess(make_proxy(hooks=hook_file(tmp_path, labelling)), upstream)
    agent = LabelledAgent(proxy)
    agent.policy("call", "send_email", "block_when_context_has_labels", labels=["financials"])
    refusal = agent.chat(INTERNAL)
    assert "The context holds the label financials, from the result of crm_lookup (call c_crm)" in refusal
    assert agent.chat(INTERNAL, history=False) == "called send_email"


def test_label_policies_through_the_console_forms(make_proxy):
    from tests.test_console import signed_in

    proxy = make_proxy(console_readonly_token="viewer-token")
    profile = proxy.api("POST", "/profiles", json={"name": "finance"}).json()["id"]
    tool = proxy.api("POST", "/tools", json={"profile_id": profile, "name": "crm_lookup"}).json()["id"]
    console = signed_in(proxy.url)
    console.get(f"/console/tools/{tool}")
    missing = console.post(f"/console/tools/{tool}/policies/result", {"action": "add_labels", "labels": " "})
    assert missing.status_code == 400 and "add_labels needs at least one label" in missing.text
    created = console.post(f"/console/tools/{tool}/policies/result", {
        "action": "add_labels", "labels": "confidential, customer-data", "cond_key": "source",
        "cond_operator": "startsWith", "cond_value": "crm://"})
    assert created.status_code == 302, created.text
    [policy] = proxy.api("GET", "/tool-result-policies", params={"tool_id": tool}).json()["data"]
    assert (policy["action"], policy["labels"]) == ("add_labels", ["confidential", "customer-data"])
    page = console.get(f"/console/tools/{tool}").text
    assert ('Results are labelled confidential and customer-data (the context holds these labels) when source '
            'startsWith &#34;crm://&#34;.') in page
    assert 'value="confidential, customer-data"' in page
    # A read-only session sees the approvals and decides nothing.
    viewer = signed_in(proxy.url, "viewer-token")
    assert viewer.get("/console/approvals").status_code == 200
    assert viewer.post("/console/approvals/00000000-0000-0000-0000-000000000000/approve").status_code == 403


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_migration_gives_existing_policies_no_labels_and_downgrades(database, tmp_path, request):
    import flask_migrate
    import sqlalchemy as sa

    from archestra import create_app
    from archestra.extensions import db

    url = f"sqlite:///{tmp_path}/fresh.db" if database == "sqlite" else request.getfixturevalue("postgres_url")
    app = create_app({"database_url": url})
    directory = app.extensions["migrate"].directory
    with app.app_context():
        flask_migrate.upgrade(directory=directory, revision="0016_provider_prices")
        with db.engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO profiles (id, name, is_default, consider_context_untrusted, "
                                       "require_virtual_key, created_at, updated_at) VALUES ('p1', 'old', false, "
                                       "false, false, '2026-01-01', '2026-01-01')"))
            connection.execute(sa.text("INSERT INTO tools (id, profile_id, name, first_seen_at, last_seen_at) "
                                       "VALUES ('t1', 'p1', 'send_email', '2026-01-01', '2026-01-01')"))
            connection.execute(sa.text("INSERT INTO tool_call_policies (id, tool_id, conditions, action, created_at, "
                                       "updated_at) VALUES ('c1', 't1', '[]', 'block_always', '2026-01-01', "
                                       "'2026-01-01')"))
        flask_migrate.upgrade(directory=directory)
        with db.engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT labels FROM tool_call_policies")).scalar()
        assert (json.loads(stored) if isinstance(stored, str) else stored) == []
        assert "approvals" in sa.inspect(db.engine).get_table_names()
        flask_migrate.downgrade(directory=directory, revision="0016_provider_prices")
        inspector = sa.inspect(db.engine)
        assert "approvals" not in inspector.get_table_names()
        assert "labels" not in {c["name"] for c in inspector.get_columns("interactions")}
        db.session.remove()
        db.engine.dispose()
