"""Another archestra instance as the upstream (provider ``archestra``): a team proxy in front of a central one.

Two real proxies: the central one in front of the fake upstream, the team one with ``archestra`` pointed at the
central. Clients use their provider's own SDK at ``/v1/archestra/{provider}`` of the team proxy; each instance
decides with its own policies and records the exchange; loops are refused with 508."""
from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import anthropic
import boto3
import botocore.config
import openai
import pytest
import requests
from botocore import UNSIGNED

from archestra.config import load_settings
from archestra.exchange import Exchange, ProfileInfo
from archestra.providers import PROVIDERS
from archestra.providers.archestra import Archestra, _with_model
from archestra.providers.hops import MAX_HOPS
from archestra.routing import Route
from tests.fakes import anthropic_wire, bedrock_wire, openai_wire
from tests.fakes.server import json_reply, sse_reply
from tests.security_drivers import DRIVERS, PAGE, explained
from tests.test_security import EVIL, refusal

HELLO = [{"role": "user", "content": "hi"}]
TOOLS = [{"type": "function", "function": {"name": n, "description": n, "parameters": {"type": "object"}}}
         for n in ("fetch_url", "send_email")]
CENTRAL_KEY_SHAPE = "archestra-vk-" + "c" * 43


@dataclasses.dataclass
class ViaTeam:
    """The team proxy as drivers see a proxy: each provider's base URL is the team's ``/v1/archestra/{provider}``."""

    url: str
    ca: str | None = None

    def base(self, provider: str, profile_id: str | None = None) -> str:
        return f"{self.url}/v1/archestra" + (f"/{profile_id}" if profile_id else "") + f"/{provider}"


@pytest.fixture(autouse=True)
def bedrock_key(monkeypatch):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-key")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def pair(make_proxy):
    """(team, central): the team's archestra provider goes to the central proxy."""
    central = make_proxy()
    team = make_proxy(base_urls={"archestra": central.url})
    return team, central


def interactions(proxy) -> list[dict[str, Any]]:
    proxy.flush()
    return proxy.api("GET", "/interactions").json()["data"]


def openai_client(team, key: str = "sk-client", profile: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=ViaTeam(team.url).base("openai", profile), max_retries=0)


def repoint(proxy, **base_urls: str) -> None:
    """Change a running proxy's base URLs (a loop needs its own URL, known once it listens)."""
    runtime = proxy.app.extensions["archestra"]
    runtime.settings = dataclasses.replace(runtime.settings, base_urls={**runtime.settings.base_urls, **base_urls})


# -- the SDKs through two instances ---------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_openai_sdk_through_the_team_proxy(pair, upstream, stream):
    team, central = pair
    upstream.reply_with(sse_reply(openai_wire.text_stream(["Hel", "lo"])) if stream
                        else json_reply(openai_wire.completion("Hello")))
    client = openai_client(team)
    if stream:
        text = "".join(chunk.choices[0].delta.content or "" for chunk in client.chat.completions.create(
            model="gpt-4o", messages=HELLO, stream=True, stream_options={"include_usage": True}) if chunk.choices)
    else:
        text = client.chat.completions.create(model="gpt-4o", messages=HELLO).choices[0].message.content
    assert text == "Hello"
    [got] = upstream.received
    assert got.path == "/chat/completions" and got.json["model"] == "gpt-4o"
    assert got.headers["Authorization"] == "Bearer sk-client"  # a caller's own key goes all the way
    team_id = team.app.extensions["archestra"].settings.instance_id
    assert got.headers["Via"] == f"1.1 archestra-{team_id}"
    [here] = interactions(team)
    [there] = interactions(central)
    assert (here["provider"], here["path"], here["model"], here["stream"]) == \
        ("archestra", "openai/chat/completions", "gpt-4o", stream)
    assert (there["provider"], there["path"], there["model"], there["stream"]) == \
        ("openai", "chat/completions", "gpt-4o", stream)
    assert here["status_code"] == there["status_code"] == 200
    assert here["input_tokens"] == there["input_tokens"] and here["input_tokens"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_anthropic_sdk_through_the_team_proxy(pair, upstream, stream):
    team, central = pair
    upstream.reply_with(sse_reply(anthropic_wire.text_stream(["Hel", "lo"])) if stream
                        else json_reply(anthropic_wire.message([anthropic_wire.text("Hello")])))
    client = anthropic.Anthropic(api_key="sk-ant-api03-client", base_url=ViaTeam(team.url).base("anthropic"),
                                 max_retries=0)
    if stream:
        with client.messages.stream(model="claude-x", max_tokens=10, messages=HELLO) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(model="claude-x", max_tokens=10, messages=HELLO)
    assert message.content[0].text == "Hello"
    [got] = upstream.received
    assert got.path == "/v1/messages"
    assert "sk-ant-api03-client" in (got.headers.get("x-api-key"), got.headers.get("Authorization", "")[7:])
    [here], [there] = interactions(team), interactions(central)
    assert (here["provider"], here["path"]) == ("archestra", "anthropic/v1/messages")
    assert (there["provider"], there["path"]) == ("anthropic", "v1/messages")
    assert here["output_tokens"] == there["output_tokens"] and here["output_tokens"]


def test_unknown_routes_are_404_in_the_named_providers_format(pair, upstream):
    team, _ = pair
    for path in ("nothing/chat/completions", "openai/completions", "gemini/v1beta/models/m:nothing"):
        answer = requests.post(f"{team.url}/v1/archestra/{path}", json={"model": "m", "messages": HELLO}, timeout=10)
        assert answer.status_code == 404, path
        error = answer.json()["error"]
        assert error.get("code") == "unknown_route" or error.get("status") == "NOT_FOUND", (path, error)
    gemini = requests.post(f"{team.url}/v1/archestra/gemini/v1beta/models/m:nothing", json={}, timeout=10).json()
    assert gemini["error"]["status"] == "NOT_FOUND"  # Gemini's error format, as its SDK parses it
    # Through one instance, a chain is one hop per instance: "archestra" is no provider of the other one.
    answer = requests.post(f"{team.url}/v1/archestra/archestra/openai/chat/completions",
                           json={"model": "m", "messages": HELLO}, timeout=10)
    assert answer.status_code == 404
    assert upstream.received == []


def test_not_enabled_without_its_base_url(make_proxy, upstream):
    alone = make_proxy()
    with pytest.raises(openai.NotFoundError) as refused:
        openai_client(alone).chat.completions.create(model="m", messages=HELLO)
    assert refused.value.body["code"] == "provider_not_enabled"
    assert upstream.received == []


# -- credentials ---------------------------------------------------------------------------------------
def test_held_key_is_the_central_virtual_key_and_names_its_profile(make_proxy, upstream):
    """The team's virtual key stays at the team; the central's virtual key (held by the team for provider
    ``archestra``) authenticates at the central, whose profile is named by ARCHESTRA_ARCHESTRA_PROFILE; the
    central's own held OpenAI key is what reaches OpenAI."""
    central = make_proxy(provider_keys={"openai": "sk-central-HELD"})
    created = central.api("POST", "/profiles", json={"name": "team-a", "slug": "team-a", "require_virtual_key": True})
    assert created.status_code == 201, created.text
    central_key = central.api("POST", "/virtual-keys", json={"profile_id": created.json()["id"], "name": "team"})
    team = make_proxy(base_urls={"archestra": central.url}, archestra_profile="team-a",
                      provider_keys={"archestra": central_key.json()["key"]})
    team_profile = team.api("POST", "/profiles", json={"name": "agents", "require_virtual_key": True}).json()["id"]
    team_key = team.api("POST", "/virtual-keys", json={"profile_id": team_profile, "name": "agent"}).json()["key"]
    upstream.reply_with(json_reply(openai_wire.completion("Hello")))

    answer = openai_client(team, team_key, team_profile).chat.completions.create(model="m", messages=HELLO)
    assert answer.choices[0].message.content == "Hello"
    [got] = upstream.received
    assert got.headers["Authorization"] == "Bearer sk-central-HELD"
    assert not any("archestra-vk-" in value or "archestra_" in value for value in got.headers.values())
    [there] = interactions(central)
    assert there["profile_id"] == created.json()["id"] and there["virtual_key_name"] == "team"
    [here] = interactions(team)
    assert here["profile_id"] == team_profile and here["virtual_key_name"] == "agent"

    # Without the team's virtual key, the team's profile refuses; nothing is forwarded.
    with pytest.raises(openai.AuthenticationError):
        openai_client(team, "sk-client", team_profile).chat.completions.create(model="m", messages=HELLO)
    assert len(upstream.received) == 1


def test_what_goes_to_the_other_instance(make_proxy, upstream):
    """Seen at the other instance's door (the fake stands in for it): the held key in X-Archestra-Token, no
    client key and no virtual key of this instance, the profile in the path, this instance in Via."""
    team = make_proxy(base_urls={"archestra": upstream.url + "/"}, archestra_profile="team-a",
                      provider_keys={"archestra": CENTRAL_KEY_SHAPE})
    team_profile = team.api("POST", "/profiles", json={"name": "agents"}).json()["id"]
    team_key = team.api("POST", "/virtual-keys", json={"profile_id": team_profile, "name": "agent"}).json()["key"]
    upstream.reply_with(json_reply(openai_wire.completion("Hello")))
    client = openai.OpenAI(api_key=team_key, base_url=ViaTeam(team.url).base("openai", team_profile),
                           default_headers={"Via": "1.1 corporate-proxy", "X-Archestra-Token": team_key},
                           max_retries=0)
    client.chat.completions.create(model="m", messages=HELLO)
    [got] = upstream.received
    assert got.path == "/v1/openai/team-a/chat/completions"
    assert got.headers["X-Archestra-Token"] == CENTRAL_KEY_SHAPE
    assert "Authorization" not in got.headers
    assert team_key not in json.dumps(dict(got.headers))
    team_id = team.app.extensions["archestra"].settings.instance_id
    assert got.headers["Via"] == f"1.1 corporate-proxy, 1.1 archestra-{team_id}"


def test_bedrock_through_a_hop_is_never_signed_here(make_proxy, upstream, monkeypatch):
    """This instance's AWS credentials are not used through a hop (the other instance signs with its own); a
    client's own SigV4 signature is refused, as it covers this proxy's host."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    team = make_proxy(base_urls={"archestra": upstream.url}, bedrock_aws_auth=True, cloud_auth_open=True)
    upstream.reply_with(json_reply(bedrock_wire.converse([{"text": "hi"}])))
    unsigned = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=ViaTeam(team.url).base("bedrock"),
                            config=botocore.config.Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
    answer = unsigned.converse(modelId="anthropic.claude-3", messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert answer["output"]["message"]["content"][0]["text"] == "hi"
    [got] = upstream.received
    assert got.path == "/v1/bedrock/model/anthropic.claude-3/converse"
    assert "Authorization" not in got.headers and "X-Amz-Date" not in got.headers

    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK")
    signed = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=ViaTeam(team.url).base("bedrock"),
                          config=botocore.config.Config(retries={"max_attempts": 1}))
    with pytest.raises(signed.exceptions.ValidationException) as refused:
        signed.converse(modelId="m", messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert "SigV4" in str(refused.value)
    assert len(upstream.received) == 1


# -- each instance decides -------------------------------------------------------------------------------
def _tool_id(proxy, name: str) -> str:
    proxy.flush()
    [tool] = proxy.api("GET", "/tools", params={"name": name}).json()["data"]
    return tool["id"]


def _block(proxy, tool: str, reason: str) -> None:
    created = proxy.api("POST", "/tool-call-policies", json={"tool_id": _tool_id(proxy, tool),
                                                             "action": "block_always", "reason": reason})
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_each_instance_decides_with_its_own_policies(pair, upstream, stream):
    team, central = pair

    def ask(name: str) -> tuple[list[str], str]:
        args = {"to": "boss@company.com"}
        call = openai_wire.tool_call(name, args, "call_1")
        upstream.reply_with(sse_reply(openai_wire.tool_stream([("call_1", name, [json.dumps(args)])])) if stream
                            else json_reply(openai_wire.completion(None, [call])))
        client = openai_client(team)
        if stream:
            with client.chat.completions.stream(model="m", messages=HELLO, tools=TOOLS) as events:
                for _ in events:
                    pass
                message = events.get_final_completion().choices[0].message
        else:
            message = client.chat.completions.create(model="m", messages=HELLO, tools=TOOLS).choices[0].message
        return [call.function.name for call in message.tool_calls or []], message.content or ""

    assert ask("send_email")[0] == ["send_email"]  # both instances discover the tools; nothing refused
    _block(team, "send_email", "the team keeps mail in-house")
    _block(central, "fetch_url", "the company forbids fetching")

    calls, text = ask("send_email")  # the central allows it, the team refuses it
    assert calls == [] and text.endswith("the team keeps mail in-house")
    calls, text = ask("fetch_url")  # the team would allow it, the central refuses it first
    assert calls == [] and text.endswith("the company forbids fetching")

    here, there = interactions(team), interactions(central)
    assert len(here) == len(there) == 3
    assert [row["blocked_count"] for row in here] == [0, 1, 0]
    assert sorted(row["blocked_count"] for row in there) == [0, 0, 1]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("driver", DRIVERS, ids=[d.provider for d in DRIVERS])
def test_lethal_trifecta_through_the_team_proxy(make_proxy, tls_cert, upstream, driver, stream):
    """Every provider's SDK through the hop: the central refuses the call its untrusted context forbids; once the
    central trusts the page, the team, whose context is still untrusted, refuses it itself."""
    central = make_proxy()
    tls = tls_cert if getattr(driver, "tls", False) else None
    team = make_proxy(tls=tls, base_urls={"archestra": central.url})
    via = ViaTeam(team.url, tls[0] if tls else None)

    def ask(with_result: bool):
        upstream.reply_with(driver.reply(stream, EVIL))
        return driver.ask(via, stream, with_result, PAGE)

    assert ask(with_result=False).calls == [("send_email", EVIL)]
    refused = ask(with_result=True)
    assert refused.calls == [] and refused.text.endswith(refusal(EVIL, explained(driver)))

    trust = central.api("POST", "/tool-result-policies", json={"tool_id": _tool_id(central, "fetch_url"),
                                                               "action": "mark_as_trusted"})
    assert trust.status_code == 201, trust.text
    refused = ask(with_result=True)
    assert refused.calls == [] and refused.text.endswith(refusal(EVIL, explained(driver)))
    assert [row["blocked_count"] for row in interactions(central)] == [0, 1, 0]  # newest first
    assert [row["blocked_count"] for row in interactions(team)] == [1, 0, 0]
    assert {row["provider"] for row in interactions(team)} == {"archestra"}


# -- loops -----------------------------------------------------------------------------------------------
def test_an_instance_pointed_at_itself_is_refused_with_508(make_proxy, upstream):
    """``archestra`` pointed at itself, and its OpenAI base at its own archestra route: the request comes back
    once and is refused; nothing reaches the provider."""
    alone = make_proxy()
    repoint(alone, archestra=alone.url, openai=f"{alone.url}/v1/archestra/openai")
    with pytest.raises(openai.APIStatusError) as refused:
        openai_client(alone).chat.completions.create(model="m", messages=HELLO)
    assert refused.value.status_code == 508
    assert refused.value.body["code"] == "loop_detected"
    assert upstream.received == []
    assert len(interactions(alone)) == 2  # the archestra route and the openai route, each once


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_two_instance_cycle_is_refused_with_508(pair, upstream, stream):
    """The central's Anthropic base is the team's archestra route: team -> central -> team, refused there."""
    team, central = pair
    client = anthropic.Anthropic(api_key="k", base_url=ViaTeam(team.url).base("anthropic"), max_retries=0)
    repoint(central, anthropic=f"{team.url}/v1/archestra/anthropic")
    with pytest.raises(anthropic.APIStatusError) as refused:
        client.messages.create(model="claude-x", max_tokens=10, messages=HELLO, stream=stream)
    assert refused.value.status_code == 508
    assert refused.value.body["error"]["type"] == "api_error"
    assert "Loop detected" in refused.value.body["error"]["message"]
    assert upstream.received == []
    assert len(interactions(team)) == len(interactions(central)) == 1


def test_too_many_hops_are_refused(pair, upstream):
    team, _ = pair
    chain = ", ".join(f"1.1 archestra-other{n}" for n in range(MAX_HOPS))
    answer = requests.post(f"{team.url}/v1/archestra/openai/chat/completions", headers={"Via": chain},
                           json={"model": "m", "messages": HELLO}, timeout=10)
    assert answer.status_code == 508 and answer.json()["error"]["code"] == "too_many_hops"
    shorter = ", ".join(f"1.1 archestra-other{n}" for n in range(MAX_HOPS - 1))
    upstream.reply_with(json_reply(openai_wire.completion("Hello")))
    answer = requests.post(f"{team.url}/v1/archestra/openai/chat/completions", headers={"Via": shorter},
                           json={"model": "m", "messages": HELLO}, timeout=10)
    assert answer.status_code == 200
    assert upstream.received[-1].headers["Via"].count("archestra-") == MAX_HOPS


# -- routes -----------------------------------------------------------------------------------------------
def test_a_model_chosen_by_a_hook_goes_in_the_path():
    gemini = Route("chat", "v1beta/models/gemini-a:generateContent", model="gemini-a", action="generateContent",
                   family=None)  # type: ignore[arg-type]
    assert _with_model(gemini, "gemini-b") == "v1beta/models/gemini-b:generateContent"
    assert _with_model(gemini, "gemini-a") == gemini.upstream_path
    bedrock = Route("chat", "model/arn:aws:bedrock:x:1:inference-profile/us.m/converse", model=
                    "arn:aws:bedrock:x:1:inference-profile/us.m", action="converse", family=None)  # type: ignore
    assert _with_model(bedrock, "us.cheaper") == "model/us.cheaper/converse"


ARCHESTRA = next(provider for provider in PROVIDERS if isinstance(provider, Archestra))


def test_dual_llm_questions_and_swapped_models_go_through_the_hop():
    """A proxy-made question (the dual LLM) is asked as the served provider asks it, at the other instance; a
    model a hook chose goes in the path where the path names the model."""
    settings = load_settings({"base_urls": {"archestra": "https://central:9000"}, "archestra_profile": "team-a",
                              "instance_id": "team1"}, env={})
    route = ARCHESTRA.route("POST", "gemini/v1beta/models/gemini-a:streamGenerateContent", {})
    question, body = ARCHESTRA.completion_request("gemini-b", "be brief", "why?", route)
    url, headers, _ = ARCHESTRA.upstream_request(settings, question, None, {"Content-Type": "application/json"}, "")
    assert url == "https://central:9000/v1/gemini/team-a/v1beta/models/gemini-b:generateContent"
    assert headers == {"Content-Type": "application/json", "Via": "1.1 archestra-team1"}
    assert question.family.provider == "archestra" and body["contents"][0]["parts"][0]["text"] == "why?"

    exchange = Exchange("archestra", ProfileInfo("p", "p"), "gemini-cheaper")
    url, _, query = ARCHESTRA.upstream_request(settings, route, exchange, {}, "alt=sse")
    assert url == "https://central:9000/v1/gemini/team-a/v1beta/models/gemini-cheaper:streamGenerateContent"
    assert query == "alt=sse"


def test_every_family_is_served_and_recorded_here():
    archestra = ARCHESTRA
    paths = {"openai/chat/completions": "openai", "openai/responses": "openai Responses API",
             "anthropic/v1/messages": "anthropic", "gemini/v1beta/models/m:streamGenerateContent": "gemini",
             "cohere/v2/chat": "cohere", "mistral/v1/chat/completions": "mistral",
             "bedrock/model/m/converse": "bedrock",
             "bedrock/model/m/invoke": "bedrock", "mantle/chat/completions": "mantle"}
    for path, family in paths.items():
        route = archestra.route("POST", path, {})
        assert route is not None and route.family.name == family and route.family.provider == "archestra", path
    invoke = archestra.route("POST", "bedrock/model/m/invoke", {}).family
    assert invoke.for_body({"anthropic_version": "bedrock-2023-05-31", "messages": []}).provider == "archestra"


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "cohere"])
def test_policy_replay_reads_the_teams_records(pair, upstream, provider):
    """The team's records (provider ``archestra``, path ``{provider}/...``) are read back through the archestra
    route table: a refusal the team made is replayed under a candidate policy like any other."""
    team, central = pair
    profile = central.api("GET", "/profiles").json()["data"][0]["id"]
    assert central.api("PATCH", f"/profiles/{profile}", json={"global_policy": "permissive"}).status_code == 200
    driver = next(d for d in DRIVERS if d.provider == provider)
    upstream.reply_with(driver.reply(False, EVIL))
    assert driver.ask(ViaTeam(team.url), False, True, PAGE).calls == []  # the team refuses; the central did not
    team.flush()
    started = team.api("POST", "/policy-replays", json={"global_policy": "permissive"})
    assert started.status_code == 202, started.text
    for _ in range(600):
        job = team.api("GET", f"/policy-replays/{started.json()['id']}").json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["status"] == "done", job
    assert job["report"]["totals"]["newly_allowed"] == 1 and job["report"]["totals"]["skipped"] == 0
    assert [entry["provider"] for entry in job["report"]["interactions"]] == ["archestra"]
