"""Callers identified on the proxy routes, with the real SDKs: identity provider tokens (the fake IdP on a real
socket) as the API key, passthrough identity keys next to the caller's own key, keys of a person or a team;
attribution on interactions and in the spend API; subscription-covered exchanges."""
from __future__ import annotations

import json
from decimal import Decimal

import anthropic
import openai
import pytest
import requests
from google import genai
from google.genai import types

from tests.fakes import anthropic_wire, openai_wire
from tests.fakes.idp import FakeIdP, SigningKey
from tests.fakes.server import Received, json_reply
from tests.test_virtual_keys import replies

HELD = {"openai": "sk-held-openai-0001", "anthropic": "sk-ant-api03-held-0001", "gemini": "AIza" + "H" * 35}
ASK = [{"role": "user", "content": "hi"}]
GPT4O_COST = (Decimal(44) * Decimal("2.5") + Decimal(16) * 10) / 1_000_000


@pytest.fixture
def proxy(make_proxy, idp):
    return make_proxy(oidc_issuer=idp.issuer, oidc_audience=idp.audience, provider_keys=HELD,
                      oidc_admin_groups="platform", oidc_operator_groups="security", oidc_viewer_groups="eng")


def interactions(proxy, **params) -> list[dict]:
    proxy.flush()
    return proxy.api("GET", "/interactions", params=params).json()["data"]


def nothing_of(secret: str, received: Received) -> None:
    """The secret appears nowhere in what the upstream received."""
    assert secret not in json.dumps(dict(received.headers)) and secret not in received.path
    assert secret.encode() not in received.body


def test_openai_sdk_with_an_identity_token_uses_the_held_key(proxy, upstream, idp):
    token = idp.token("u-ada", email="ada@example.com", groups=["eng", "ml"])
    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    client = openai.OpenAI(api_key=token, base_url=proxy.base("openai"), max_retries=0,
                           default_headers={"X-Archestra-Team": "ml", "X-Id-Token": token})
    assert client.chat.completions.create(model="gpt-4o", messages=ASK).choices[0].message.content == "hi"
    sent = upstream.received[-1]
    assert sent.headers["Authorization"] == f"Bearer {HELD['openai']}"
    nothing_of(token, sent)
    [row] = interactions(proxy)
    assert (row["person_email"], row["team_name"], row["subscription"]) == ("ada@example.com", "ml", None)
    person = proxy.api("GET", f"/people/{row['person_id']}").json()
    assert person["subject"] == "u-ada" and {t["name"] for t in person["teams"]} == {"eng", "ml"}
    assert all(t["source"] == "idp" for t in person["teams"])
    assert interactions(proxy, person_email="ADA@example.com") == [row]
    assert interactions(proxy, team_id=row["team_id"]) == [row]
    assert interactions(proxy, person_id="someone-else") == []


@pytest.mark.parametrize("slot", ["api_key", "auth_token"])
def test_anthropic_sdk_with_an_identity_token(proxy, upstream, idp, slot):
    token = idp.token("u-bob", email="bob@example.com", groups=["security"])
    upstream.reply_with(json_reply(anthropic_wire.message([anthropic_wire.text("ok")])))
    client = anthropic.Anthropic(**{slot: token}, base_url=proxy.base("anthropic"), max_retries=0)
    assert client.messages.create(model="claude-x", max_tokens=5, messages=ASK).content[0].text == "ok"
    sent = upstream.received[-1]
    assert sent.headers["x-api-key"] == HELD["anthropic"] and "Authorization" not in sent.headers
    nothing_of(token, sent)
    assert interactions(proxy)[0]["person_email"] == "bob@example.com"


def test_gemini_sdk_with_an_identity_token(proxy, upstream, idp):
    token = idp.token("u-cy", email="cy@example.com")
    upstream.reply_with(replies)
    client = genai.Client(api_key=token, http_options=types.HttpOptions(base_url=proxy.base("gemini")))
    assert client.models.generate_content(model="gemini-2.5-flash", contents="hi").text == "hello from upstream"
    sent = upstream.received[-1]
    assert sent.headers["x-goog-api-key"] == HELD["gemini"]
    nothing_of(token, sent)


@pytest.mark.parametrize("case", ["expired", "wrong audience", "not yet valid", "alg none", "HS256 with the public key",
                                  "unknown key", "disabled person"])
def test_refused_identity_tokens_never_reach_the_upstream(proxy, upstream, idp, case):
    if case == "disabled person":
        created = proxy.api("POST", "/people", json={"email": "eve@example.com", "disabled": True})
        assert created.status_code == 201, created.text
    token = {"expired": lambda: idp.token(lifetime=-300),
             "wrong audience": lambda: idp.token(aud="another-app"),
             "not yet valid": lambda: idp.token(nbf=__import__("time").time() + 600),
             "alg none": lambda: idp.token(alg="none"),
             "HS256 with the public key": lambda: idp.token(alg="HS256", key=idp.public_pem()),
             "unknown key": lambda: idp.token(signer=SigningKey("k-rogue")),
             "disabled person": lambda: idp.token("u-eve", email="eve@example.com")}[case]()
    upstream.reply_with(json_reply(openai_wire.completion("never")))
    client = openai.OpenAI(api_key=token, base_url=proxy.base("openai"), max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=ASK)
    assert raised.value.code in {"invalid_identity_token", "person_disabled"}
    assert upstream.received == []


def test_key_rotation_is_followed(make_proxy, upstream, idp):
    proxy = make_proxy(oidc_issuer=idp.issuer, oidc_audience=idp.audience, provider_keys=HELD,
                       oidc_jwks_refresh_seconds=0)
    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    client = openai.OpenAI(api_key=idp.token("u1"), base_url=proxy.base("openai"), max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=ASK)
    idp.rotate(drop_old=True)
    client = openai.OpenAI(api_key=idp.token("u1"), base_url=proxy.base("openai"), max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=ASK)
    assert idp.jwks_fetches == 2 and len(upstream.received) == 2


def test_another_issuers_jwt_is_the_callers_own_key(proxy, upstream):
    """A JWT the identity provider did not issue (an Entra ID token, a ChatGPT sign-in) is no identity: it goes
    upstream as the caller's own credential, and no held key is used."""
    other = FakeIdP()
    try:
        foreign = other.token("x")
    finally:
        other.close()
    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    openai.OpenAI(api_key=foreign, base_url=proxy.base("openai"), max_retries=0).chat.completions.create(
        model="gpt-4o", messages=ASK)
    assert upstream.received[-1].headers["Authorization"] == f"Bearer {foreign}"
    assert interactions(proxy)[0]["person_id"] is None


def _person_key(proxy, identity_only: bool, **owner) -> str:
    profile = proxy.api("GET", "/profiles").json()["data"][0]["id"]
    name = f"k-{identity_only}-" + "-".join(f"{k}={v}" for k, v in owner.items())
    created = proxy.api("POST", "/virtual-keys", json={"profile_id": profile, "name": name[:200],
                                                       "identity_only": identity_only, **owner})
    assert created.status_code == 201, created.text
    return created.json()["key"]


def test_passthrough_identity_key_with_claude_code_on_a_subscription(proxy, upstream):
    """Claude Code on a Claude Pro/Max sign-in with ANTHROPIC_CUSTOM_HEADERS="X-Archestra-Virtual-Key: ...": the
    subscription token goes upstream, the identity key does not, the exchange is the person's and covered."""
    proxy.api("POST", "/teams", json={"name": "mobile"})
    person = proxy.api("POST", "/people", json={"email": "dee@example.com", "team_ids": ["mobile"]}).json()
    key = _person_key(proxy, True, person_id="dee@example.com")
    proxy.api("POST", "/limits", json={"scope": "person", "person_id": person["id"], "max_cost_usd": 0.000001})
    upstream.reply_with(json_reply(anthropic_wire.message([anthropic_wire.text("ok")])))
    oauth = "sk-ant-oat01-" + "s" * 40
    client = anthropic.Anthropic(auth_token=oauth, base_url=proxy.base("anthropic"), max_retries=0,
                                 default_headers={"anthropic-beta": "oauth-2025-04-20", "X-Archestra-Virtual-Key": key})
    for _ in range(3):  # covered by the subscription: never refused by the person's limit
        client.messages.create(model="claude-sonnet-4-20250514", max_tokens=5, messages=ASK)
    sent = upstream.received[-1]
    assert sent.headers["Authorization"] == f"Bearer {oauth}"
    nothing_of(key, sent)
    rows = interactions(proxy)
    assert {(r["person_email"], r["team_name"], r["subscription"]) for r in rows} == \
        {("dee@example.com", "mobile", "claude")}
    assert all(r["cost_usd"] > 0 and r["billed_cost_usd"] == 0 for r in rows)
    [group] = proxy.api("GET", "/spend", params={"group_by": "person"}).json()["data"]
    assert group["name"] == "dee@example.com" and group["billed_usd"] == 0
    assert group["covered_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows))
    limit = proxy.api("GET", "/limits").json()["data"][0]
    assert limit["used_usd"] == 0


def test_passthrough_identity_key_never_unlocks_a_held_key(proxy, upstream):
    key = _person_key(proxy, True)
    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    with pytest.raises(openai.AuthenticationError) as raised:  # in a key slot: refused
        openai.OpenAI(api_key=key, base_url=proxy.base("openai"), max_retries=0).chat.completions.create(
            model="gpt-4o", messages=ASK)
    assert raised.value.code == "identity_key_only"
    # Any virtual key in X-Archestra-Virtual-Key only identifies: the caller's own key goes upstream.
    full = _person_key(proxy, False)
    openai.OpenAI(api_key="sk-own-key-77", base_url=proxy.base("openai"), max_retries=0,
                  default_headers={"X-Archestra-Virtual-Key": full}).chat.completions.create(
        model="gpt-4o", messages=ASK)
    sent = upstream.received[-1]
    assert sent.headers["Authorization"] == "Bearer sk-own-key-77"
    nothing_of(full, sent)
    response = requests.post(proxy.base("openai") + "/chat/completions", timeout=10, json={
        "model": "gpt-4o", "messages": ASK}, headers={"X-Archestra-Virtual-Key": "not-a-key",
                                                       "Authorization": "Bearer sk-own"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_virtual_key"


def test_a_team_key_counts_for_the_team(proxy, upstream):
    team = proxy.api("POST", "/teams", json={"name": "search"}).json()
    key = _person_key(proxy, False, team_id="search")
    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    openai.OpenAI(api_key=key, base_url=proxy.base("openai"), max_retries=0).chat.completions.create(
        model="gpt-4o", messages=ASK)
    assert upstream.received[-1].headers["Authorization"] == f"Bearer {HELD['openai']}"
    [row] = interactions(proxy)
    assert (row["team_id"], row["team_name"], row["person_id"]) == (team["id"], "search", None)
    [group] = proxy.api("GET", "/spend", params={"group_by": "team"}).json()["data"]
    assert group["key"] == team["id"] and Decimal(str(group["billed_usd"])) == GPT4O_COST


def test_groups_follow_the_token(proxy, upstream, idp):
    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    for groups in (["eng", "ml"], ["eng"]):
        openai.OpenAI(api_key=idp.token("u-fay", email="fay@example.com", groups=groups),
                      base_url=proxy.base("openai"), max_retries=0).chat.completions.create(
            model="gpt-4o", messages=ASK)
    [person] = proxy.api("GET", "/people", params={"email": "fay@example.com"}).json()["data"]
    assert [t["name"] for t in person["teams"]] == ["eng"]
    other = proxy.api("POST", "/teams", json={"name": "oncall"}).json()
    proxy.api("PATCH", f"/people/{person['id']}", json={"team_ids": ["oncall"]})
    openai.OpenAI(api_key=idp.token("u-fay", email="fay@example.com", groups=[]),
                  base_url=proxy.base("openai"), max_retries=0).chat.completions.create(model="gpt-4o", messages=ASK)
    person = proxy.api("GET", f"/people/{person['id']}").json()
    assert [(t["id"], t["source"]) for t in person["teams"]] == [(other["id"], "api")]  # the operator's stays
    response = requests.post(proxy.base("openai") + "/chat/completions", timeout=10, json={
        "model": "gpt-4o", "messages": ASK}, headers={"Authorization": f"Bearer {idp.token('u-fay')}",
                                                       "X-Archestra-Team": "eng"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_a_team_member"


def test_codex_chatgpt_sign_in_is_subscription_covered(proxy, upstream):
    chatgpt = FakeIdP()
    try:
        access = chatgpt.token("acct", iss="https://auth.openai.com")
    finally:
        chatgpt.close()
    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    openai.OpenAI(api_key=access, base_url=proxy.base("openai"), max_retries=0,
                  default_headers={"chatgpt-account-id": "acct-1"}).chat.completions.create(model="gpt-4o",
                                                                                          messages=ASK)
    [row] = interactions(proxy)
    assert row["subscription"] == "chatgpt" and row["billed_cost_usd"] == 0
    assert interactions(proxy, covered="true") == [row] and interactions(proxy, covered="false") == []


def test_look_alike_credentials_stay_metered(proxy, upstream):
    """A JWT of another issuer with chatgpt-account-id, or a subscription-shaped token on another provider, is no
    subscription: no header takes a metered request out of its budget."""
    other = FakeIdP()
    try:
        entra = other.token("x")
    finally:
        other.close()
    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    for key in (entra, "sk-ant-oat01-" + "x" * 40):
        openai.OpenAI(api_key=key, base_url=proxy.base("openai"), max_retries=0,
                      default_headers={"chatgpt-account-id": "a", "anthropic-beta": "oauth-2025-04-20"}
                      ).chat.completions.create(model="gpt-4o", messages=ASK)
    assert [row["subscription"] for row in interactions(proxy)] == [None, None]


def test_subscription_detection_can_be_turned_off(make_proxy, upstream):
    proxy = make_proxy(subscription_detection=False)
    upstream.reply_with(json_reply(anthropic_wire.message([anthropic_wire.text("ok")])))
    anthropic.Anthropic(auth_token="sk-ant-oat01-" + "x" * 40, base_url=proxy.base("anthropic"), max_retries=0,
                        default_headers={"anthropic-beta": "oauth-2025-04-20"}).messages.create(
        model="claude-sonnet-4-20250514", max_tokens=5, messages=ASK)
    [row] = interactions(proxy)
    assert row["subscription"] is None and row["billed_cost_usd"] == row["cost_usd"] > 0


def test_console_spend_page_groups_by_person_and_team(proxy, upstream, idp):
    from tests.test_console import signed_in

    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    openai.OpenAI(api_key=idp.token("u-gil", email="gil@example.com", groups=["data"]),
                  base_url=proxy.base("openai"), max_retries=0).chat.completions.create(model="gpt-4o", messages=ASK)
    proxy.api("POST", "/limits", json={"scope": "person", "max_cost_usd": 5, "period": "rolling",
                                       "window_seconds": 3600})
    proxy.flush()
    page = signed_in(proxy.url).get("/console/spend").text
    section = page[page.index('id="people-spend"'):page.index('id="limits"')]
    assert "gil@example.com" in section and ">data<" in section
    assert "each person (default)" in page and "(3600 s)" in page
    assert "(most: gil@example.com)" not in page  # the limit came after gil's request: nothing counted yet
    openai.OpenAI(api_key=idp.token("u-gil", email="gil@example.com", groups=["data"]),
                  base_url=proxy.base("openai"), max_retries=0).chat.completions.create(model="gpt-4o", messages=ASK)
    proxy.flush()
    assert "(most: gil@example.com)" in signed_in(proxy.url).get("/console/spend").text


def test_console_traffic_shows_and_filters_who(proxy, upstream, idp):
    from tests.test_console import signed_in

    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    for sub in ("hal", "ivy"):
        openai.OpenAI(api_key=idp.token(sub, email=f"{sub}@example.com", groups=["ops"]),
                      base_url=proxy.base("openai"), max_retries=0).chat.completions.create(model="gpt-4o",
                                                                                          messages=ASK)
    proxy.flush()
    console = signed_in(proxy.url)
    page = console.get("/console/traffic", params={"person_email": "ivy@example.com"}).text
    assert "ivy@example.com (ops)" in page and "hal@example.com" not in page and "1 interaction<" in page


def test_model_router_takes_an_identity_token(proxy, upstream, idp):
    token = idp.token("u-jo", email="jo@example.com")
    upstream.reply_with(json_reply(openai_wire.completion("routed")))
    client = openai.OpenAI(api_key=token, base_url=f"{proxy.url}/v1/model-router", max_retries=0)
    answer = client.chat.completions.create(model="openai:gpt-4o", messages=ASK)
    assert answer.choices[0].message.content == "routed"
    sent = upstream.received[-1]
    assert sent.headers["Authorization"] == f"Bearer {HELD['openai']}"
    nothing_of(token, sent)
    assert interactions(proxy)[0]["person_email"] == "jo@example.com"


def test_passthrough_identity_key_rules(proxy, upstream, idp):
    key = _person_key(proxy, True)
    full = _person_key(proxy, False)
    upstream.reply_with(json_reply(openai_wire.completion("hi")))

    def post(**headers: str) -> requests.Response:
        return requests.post(proxy.base("openai") + "/chat/completions", timeout=10,
                             json={"model": "gpt-4o", "messages": ASK}, headers=headers)

    both = post(**{"Authorization": f"Bearer {full}", "X-Archestra-Virtual-Key": key})
    assert (both.status_code, both.json()["error"]["code"]) == (401, "conflicting_credentials")
    token_too = post(**{"Authorization": f"Bearer {idp.token('u')}", "X-Archestra-Virtual-Key": key})
    assert (token_too.status_code, token_too.json()["error"]["code"]) == (401, "conflicting_credentials")
    profile = proxy.api("GET", "/profiles").json()["data"][0]["id"]
    proxy.api("PATCH", f"/profiles/{profile}", json={"require_virtual_key": True})
    strict = post(**{"Authorization": "Bearer sk-own", "X-Archestra-Virtual-Key": key})
    assert (strict.status_code, strict.json()["error"]["code"]) == (401, "virtual_key_required")
    assert upstream.received == []


def test_a_profile_access_token_still_applies_to_identity_tokens(proxy, upstream, idp):
    profile = proxy.api("POST", "/profiles", json={"name": "restricted"}).json()["id"]
    access = proxy.api("POST", f"/profiles/{profile}/token").json()["token"]
    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    client = openai.OpenAI(api_key=idp.token("u-kim"), base_url=proxy.base("openai", profile), max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=ASK)
    assert raised.value.code == "profile_token_required" and upstream.received == []
    client = openai.OpenAI(api_key=idp.token("u-kim"), base_url=proxy.base("openai", profile), max_retries=0,
                           default_headers={"X-Archestra-Token": access})
    client.chat.completions.create(model="gpt-4o", messages=ASK)
    assert upstream.received[-1].headers["Authorization"] == f"Bearer {HELD['openai']}"


def test_a_disabled_persons_keys_are_refused_and_deleted_teams_keys_go(proxy, upstream):
    person = proxy.api("POST", "/people", json={"email": "lee@example.com"}).json()
    key = _person_key(proxy, False, person_id=person["id"])
    team = proxy.api("POST", "/teams", json={"name": "gone"}).json()
    team_key = _person_key(proxy, False, team_id="gone")
    upstream.reply_with(json_reply(openai_wire.completion("hi")))

    def send(api_key: str) -> str:
        try:
            openai.OpenAI(api_key=api_key, base_url=proxy.base("openai"), max_retries=0).chat.completions.create(
                model="gpt-4o", messages=ASK)
            return "ok"
        except openai.AuthenticationError as error:
            return error.code

    assert (send(key), send(team_key)) == ("ok", "ok")
    proxy.api("PATCH", f"/people/{person['id']}", json={"disabled": True})
    proxy.api("DELETE", f"/teams/{team['id']}")
    assert (send(key), send(team_key)) == ("person_disabled", "invalid_virtual_key")
    proxy.api("PATCH", f"/people/{person['id']}", json={"disabled": False})
    assert send(key) == "ok"


def test_identity_tokens_are_never_logged_or_stored(proxy, upstream, idp, caplog):
    caplog.set_level("DEBUG")
    good, bad = idp.token("u-mia", email="mia@example.com"), idp.token("u-mia", aud="elsewhere")
    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    openai.OpenAI(api_key=good, base_url=proxy.base("openai"), max_retries=0).chat.completions.create(
        model="gpt-4o", messages=ASK)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key=bad, base_url=proxy.base("openai"), max_retries=0).chat.completions.create(
            model="gpt-4o", messages=ASK)
    [row] = interactions(proxy)
    stored = json.dumps(proxy.api("GET", f"/interactions/{row['id']}").json())
    for token in (good, bad):
        for part in token.split("."):  # no piece of it either (the signature, the claims)
            assert part not in caplog.text and part not in stored
