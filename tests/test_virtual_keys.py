"""Provider keys held by the proxy and virtual keys: the real SDKs of every provider send a virtual key as their
API key, the upstream sees only the provider key the proxy holds (the profile's own, else the environment's
default), and nobody without a valid virtual key of the profile ever gets a held key used for them."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import anthropic
import boto3
import botocore.config
import cohere
import ollama
import openai
import pytest
import requests
from cryptography.fernet import Fernet
from google import genai
from google.genai import types
from mistralai.client import Mistral

from archestra.config import ConfigError, load_settings
from archestra.secretbox import SecretBox, SecretKeyMissing, UndecryptableKey
from tests.fakes.server import Received, json_reply
from tests.security_drivers import DRIVERS

SECRET = Fernet.generate_key().decode()
PROVIDERS = [driver.provider for driver in DRIVERS]
ENV_KEYS = {name: f"env-{name}-HELDKEY-0001" for name in PROVIDERS}
HELLO = [{"role": "user", "content": "hi"}]
#: Where each provider takes the key the proxy holds.
HELD_HEADER = {name: ("Authorization", "Bearer ") for name in PROVIDERS} | {
    "anthropic": ("x-api-key", ""), "gemini": ("x-goog-api-key", ""), "azure": ("api-key", "")}


def replies(request: Received):
    """A short text answer in the format of whichever provider the request was meant for."""
    path = request.path
    if "/v1/messages" in path:
        provider = "anthropic"
    elif ":generateContent" in path:
        provider = "gemini"
    elif path.startswith("/v2/chat"):
        provider = "cohere"
    elif "/converse" in path:
        provider = "bedrock"
    elif path.startswith("/api/"):
        provider = "ollama-native"
    else:
        provider = "openai"
    return next(driver for driver in DRIVERS if driver.provider == provider).text_reply("hello from upstream")


def ask(proxy, provider: str, key: str, profile: str | None = None) -> str:
    """One chat through the provider's own SDK with ``key`` as its API key; the answer's text."""
    base = proxy.base(provider, profile)
    if provider == "mistral":
        answer = Mistral(api_key=key, server_url=base).chat.complete(model="mistral-large-latest", messages=HELLO)
        return answer.choices[0].message.content
    if provider == "anthropic":
        client = anthropic.Anthropic(api_key=key, base_url=base, max_retries=0)
        return client.messages.create(model="claude-x", max_tokens=10, messages=HELLO).content[0].text
    if provider == "gemini":
        client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=base))
        return client.models.generate_content(model="gemini-2.5-flash", contents="hi").text
    if provider == "cohere":
        answer = cohere.ClientV2(api_key=key, base_url=base).chat(model="command-a", messages=HELLO)
        return answer.message.content[0].text
    if provider == "ollama-native":  # the library sends OLLAMA_API_KEY this way (ollama.com)
        client = ollama.Client(host=base, headers={"Authorization": f"Bearer {key}"})
        return client.chat(model="llama3.2", messages=HELLO, stream=False).message.content
    if provider == "bedrock":
        client = boto3.client("bedrock-runtime", region_name="us-east-1", verify=proxy.ca, endpoint_url=base,
                              config=botocore.config.Config(retries={"max_attempts": 1}))
        answer = client.converse(modelId="m", messages=[{"role": "user", "content": [{"text": "hi"}]}])
        return answer["output"]["message"]["content"][0]["text"]
    if provider == "azure":
        client = openai.AzureOpenAI(api_key=key, azure_endpoint=base, api_version="2024-10-21", max_retries=0)
    else:
        client = openai.OpenAI(api_key=key, base_url=base, max_retries=0)
    return client.chat.completions.create(model="m", messages=HELLO).choices[0].message.content


def held_key_seen(request: Received, provider: str) -> str | None:
    name, prefix = HELD_HEADER[provider]
    value = request.headers.get(name, "")
    return value[len(prefix):] if value.startswith(prefix) else None


def assert_only(request: Received, provider: str, held: str, virtual: str) -> None:
    """The upstream got ``held`` where the provider takes keys, and the virtual key nowhere."""
    assert held_key_seen(request, provider) == held
    assert virtual not in f"{request.path} {dict(request.headers)} {request.body!r}"
    others = {"authorization", "x-api-key", "x-goog-api-key", "api-key"} - {HELD_HEADER[provider][0].lower()}
    assert not any(name.lower() in others for name in request.headers), dict(request.headers)


@pytest.fixture(autouse=True)
def no_aws_credentials(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def keyed(make_proxy, upstream):
    """A proxy with default keys for every provider and a secret key: returns a function starting one."""
    upstream.reply_with(replies)

    def start(tls=None, **settings):
        return make_proxy(tls=tls, **{"provider_keys": ENV_KEYS, "secret_key": SECRET, **settings})
    return start


def new_key(proxy, profile_id: str, name: str = "agent", **fields) -> dict:
    created = proxy.api("POST", "/virtual-keys", json={"profile_id": profile_id, "name": name, **fields})
    assert created.status_code == 201, created.text
    return created.json()


def new_profile(proxy, **fields) -> str:
    created = proxy.api("POST", "/profiles", json={"name": f"p-{len(proxy.api('GET', '/profiles').json()['data'])}",
                                                   **fields})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def database_dump(proxy) -> str:
    with sqlite3.connect(proxy.app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")) as connection:
        return "\n".join(connection.iterdump())


# -- every provider's SDK -----------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_sdk_with_a_virtual_key_reaches_the_upstream_with_the_held_key_only(keyed, upstream, tls_cert,
                                                                                 monkeypatch, provider):
    proxy = keyed(tls=tls_cert) if provider == "bedrock" else keyed()
    profile = new_profile(proxy)
    own = f"profile-{provider}-OWNKEY-0002"
    assert proxy.api("PUT", f"/profiles/{profile}/provider-keys/{provider}", json={"api_key": own}).status_code == 201
    key = new_key(proxy, profile)["key"]
    other = new_profile(proxy)  # no key of its own: the environment's default
    other_key = new_key(proxy, other)["key"]
    if provider == "bedrock":
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", key)
    assert ask(proxy, provider, key, profile) == "hello from upstream"
    assert_only(upstream.received[-1], provider, own, key)
    if provider == "bedrock":
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", other_key)
    assert ask(proxy, provider, other_key, other) == "hello from upstream"
    assert_only(upstream.received[-1], provider, ENV_KEYS[provider], other_key)


def test_gemini_query_key_and_the_archestra_token_header_carry_virtual_keys_too(keyed, upstream):
    proxy = keyed()
    profile = new_profile(proxy)
    key = new_key(proxy, profile)["key"]
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    answer = requests.post(f"{proxy.base('gemini', profile)}/v1beta/models/g:generateContent?key={key}&alt=json",
                           json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    sent = upstream.received[-1]
    assert_only(sent, "gemini", ENV_KEYS["gemini"], key)
    assert "key=" not in sent.path and "alt=json" in sent.path
    # In X-Archestra-Token, next to a client key that the held key replaces.
    client = openai.OpenAI(api_key="sk-client-own", base_url=proxy.base("openai", profile), max_retries=0,
                           default_headers={"X-Archestra-Token": key})
    assert client.chat.completions.create(model="m", messages=HELLO).choices[0].message.content
    assert_only(upstream.received[-1], "openai", ENV_KEYS["openai"], key)


def test_without_a_held_key_the_virtual_key_is_still_never_forwarded(keyed, upstream):
    proxy = keyed(provider_keys={})
    profile = new_profile(proxy)
    key = new_key(proxy, profile)["key"]
    assert ask(proxy, "ollama", key, profile)  # a local model needs no key
    assert "Authorization" not in upstream.received[-1].headers
    client = openai.OpenAI(api_key="sk-client-own", base_url=proxy.base("openai", profile), max_retries=0,
                           default_headers={"X-Archestra-Token": key})
    client.chat.completions.create(model="m", messages=HELLO)
    assert upstream.received[-1].headers["Authorization"] == "Bearer sk-client-own"


# -- who may use a held key ---------------------------------------------------------------------------------
def test_callers_without_a_virtual_key_never_get_a_held_key(keyed, upstream):
    proxy = keyed()
    profile = new_profile(proxy)
    proxy.api("PUT", f"/profiles/{profile}/provider-keys/openai", json={"api_key": "profile-openai-OWNKEY-3"})
    for target in (None, profile):
        assert ask(proxy, "openai", "sk-client-own", target)  # pass-through, as before
        assert upstream.received[-1].headers["Authorization"] == "Bearer sk-client-own"
        answer = requests.post(f"{proxy.base('openai', target)}/chat/completions", timeout=10,
                               json={"model": "m", "messages": HELLO})  # anonymous
        assert answer.status_code == 200
        assert "Authorization" not in upstream.received[-1].headers
    seen = " ".join(str(dict(r.headers)) for r in upstream.received)
    assert "HELDKEY" not in seen and "OWNKEY" not in seen


def test_a_virtual_key_of_another_profile_an_unknown_one_revoked_or_expired_are_refused(keyed, upstream):
    proxy = keyed()
    first, second = new_profile(proxy), new_profile(proxy)
    key = new_key(proxy, first)
    with pytest.raises(openai.AuthenticationError) as refused:
        ask(proxy, "openai", key["key"], second)
    assert refused.value.body["code"] == "invalid_virtual_key" and key["key"] not in str(refused.value.body)
    with pytest.raises(anthropic.AuthenticationError):
        ask(proxy, "anthropic", key["key"], None)  # the default profile is another profile too
    with pytest.raises(openai.AuthenticationError):
        ask(proxy, "openai", key["key"][:-2] + "xx", first)
    assert ask(proxy, "openai", key["key"], first)
    count = len(upstream.received)
    assert proxy.api("DELETE", f"/virtual-keys/{key['id']}").status_code == 204
    with pytest.raises(openai.AuthenticationError):
        ask(proxy, "openai", key["key"], first)
    expiring = new_key(proxy, first, "soon", expires_at=(datetime.now(timezone.utc) + timedelta(hours=1)).isoformat())
    assert ask(proxy, "openai", expiring["key"], first)
    past = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
    assert proxy.api("PATCH", f"/virtual-keys/{expiring['id']}", json={"expires_at": past}).status_code == 200
    with pytest.raises(openai.AuthenticationError):
        ask(proxy, "openai", expiring["key"], first)
    assert len(upstream.received) == count + 1
    shown = proxy.api("GET", f"/virtual-keys/{key['id']}").json()
    assert shown["revoked_at"] and "key" not in shown


def test_two_different_virtual_keys_in_one_request_are_refused(keyed, upstream):
    proxy = keyed()
    profile = new_profile(proxy)
    one, two = new_key(proxy, profile, "one")["key"], new_key(proxy, profile, "two")["key"]
    client = openai.OpenAI(api_key=one, base_url=proxy.base("openai", profile), max_retries=0,
                           default_headers={"X-Archestra-Token": two})
    with pytest.raises(openai.AuthenticationError) as refused:
        client.chat.completions.create(model="m", messages=HELLO)
    assert refused.value.body["code"] == "conflicting_virtual_keys"


def test_a_profile_can_require_virtual_keys_and_its_access_token_accepts_them(keyed, upstream):
    proxy = keyed()
    profile = new_profile(proxy, require_virtual_key=True)
    assert proxy.api("GET", f"/profiles/{profile}").json()["require_virtual_key"] is True
    with pytest.raises(openai.AuthenticationError) as refused:
        ask(proxy, "openai", "sk-client-own", profile)
    assert refused.value.body["code"] == "virtual_key_required"
    key = new_key(proxy, profile)["key"]
    assert ask(proxy, "openai", key, profile)
    # A profile with an access token: a virtual key of the profile stands in for it.
    guarded = new_profile(proxy)
    token = proxy.api("POST", f"/profiles/{guarded}/token").json()["token"]
    with pytest.raises(openai.AuthenticationError):
        ask(proxy, "openai", "sk-client-own", guarded)
    assert ask(proxy, "openai", new_key(proxy, guarded)["key"], guarded)
    client = openai.OpenAI(api_key="sk-client-own", base_url=proxy.base("openai", guarded), max_retries=0,
                           default_headers={"X-Archestra-Token": token})
    assert client.chat.completions.create(model="m", messages=HELLO)
    assert upstream.received[-1].headers["Authorization"] == "Bearer sk-client-own"


# -- the management API -------------------------------------------------------------------------------------
def test_provider_keys_are_write_only_encrypted_at_rest_rotated_and_deleted(keyed, upstream):
    proxy = keyed()
    profile = new_profile(proxy)
    path = f"/profiles/{profile}/provider-keys"
    first = proxy.api("PUT", f"{path}/anthropic", json={"api_key": "sk-ant-FIRSTSECRET-abcd"})
    assert first.status_code == 201
    assert first.json()["last4"] == "abcd" and len(first.json()["fingerprint"]) == 12
    rotated = proxy.api("PUT", f"{path}/anthropic", json={"api_key": "sk-ant-SECONDSECRET-wxyz"})
    assert rotated.status_code == 200 and rotated.json()["fingerprint"] != first.json()["fingerprint"]
    listing = proxy.api("GET", path).json()["data"]
    assert {"provider": "anthropic", "source": "profile"}.items() <= listing[0].items()
    assert {row["provider"] for row in listing if row["source"] == "environment"} == set(PROVIDERS) - {"anthropic"}
    dump = database_dump(proxy)
    assert "SECRET" not in json.dumps(listing) and "SECONDSECRET" not in dump and "FIRSTSECRET" not in dump
    key = new_key(proxy, profile)["key"]
    assert ask(proxy, "anthropic", key, profile)
    assert upstream.received[-1].headers["x-api-key"] == "sk-ant-SECONDSECRET-wxyz"
    assert proxy.api("DELETE", f"{path}/anthropic").status_code == 204
    assert ask(proxy, "anthropic", key, profile)  # back to the environment's default
    assert upstream.received[-1].headers["x-api-key"] == ENV_KEYS["anthropic"]
    assert proxy.api("DELETE", f"{path}/anthropic").status_code == 404
    assert proxy.api("PUT", f"{path}/nope", json={"api_key": "x"}).status_code == 404


def test_keys_are_not_stored_without_a_secret_key(make_proxy):
    proxy = make_proxy()
    refused = proxy.api("PUT", "/profiles/" + proxy.api("GET", "/profiles").json()["data"][0]["id"]
                        + "/provider-keys/openai", json={"api_key": "sk-NOSTORE-1234"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "secret_key_missing"
    assert "ARCHESTRA_SECRET_KEY" in refused.json()["error"]["message"]
    assert "NOSTORE" not in refused.text and "NOSTORE" not in database_dump(proxy)


def test_virtual_keys_are_shown_once_and_only_their_hash_is_stored(keyed, upstream):
    proxy = keyed()
    profile = new_profile(proxy)
    created = new_key(proxy, profile, "ci")
    key = created["key"]
    assert key.startswith("archestra-vk-") and len(key) > 50 and created["last4"] == key[-4:]
    assert proxy.api("POST", "/virtual-keys", json={"profile_id": profile, "name": "ci"}).status_code == 409
    listing = proxy.api("GET", "/virtual-keys", params={"profile_id": profile}).text
    assert key not in listing and key[13:-4] not in listing and '"name": "ci"' in listing.replace('":"', '": "')
    dump = database_dump(proxy)
    assert key[13:] not in dump


def test_interactions_name_the_virtual_key_and_its_last_use_is_recorded(keyed, upstream):
    proxy = keyed()
    profile = new_profile(proxy)
    created = new_key(proxy, profile, "build-bot")
    assert created["last_used_at"] is None
    ask(proxy, "openai", created["key"], profile)
    ask(proxy, "openai", "sk-client-own", profile)
    proxy.flush()
    rows = proxy.api("GET", "/interactions", params={"profile_id": profile}).json()["data"]
    assert sorted((row["virtual_key_id"], row["virtual_key_name"]) for row in rows if row["virtual_key_id"]) == [
        (created["id"], "build-bot")]
    assert len(rows) == 2
    by_key = proxy.api("GET", "/interactions", params={"virtual_key_id": created["id"]}).json()
    assert by_key["total"] == 1
    assert proxy.api("GET", f"/virtual-keys/{created['id']}").json()["last_used_at"]


def test_limits_can_be_scoped_to_one_virtual_key(keyed, upstream):
    proxy = keyed()
    proxy.api("POST", "/token-prices", json={"model": "m", "input_per_million": 1000, "output_per_million": 1000})
    profile = new_profile(proxy)
    capped, free = new_key(proxy, profile, "capped"), new_key(proxy, profile, "free")
    limit = proxy.api("POST", "/limits", json={"scope": "virtual_key", "virtual_key_id": capped["id"],
                                               "max_cost_usd": 0.000001, "period": "day"})
    assert limit.status_code == 201, limit.text
    assert limit.json()["profile_id"] == profile
    assert proxy.api("POST", "/limits", json={"scope": "virtual_key", "virtual_key_id": profile,
                                              "max_cost_usd": 1}).status_code == 400
    assert ask(proxy, "openai", capped["key"], profile)
    with pytest.raises(openai.RateLimitError) as limited:
        ask(proxy, "openai", capped["key"], profile)
    assert "virtual key" in limited.value.message
    assert ask(proxy, "openai", free["key"], profile)
    assert ask(proxy, "openai", "sk-client-own", profile)


def test_the_dual_llm_asks_with_the_same_held_key(keyed, upstream):
    from archestra.security.dual_llm import PRIVILEGED_SYSTEM, QUARANTINED_SYSTEM
    from tests.fakes import openai_wire

    proxy = keyed()
    profile = new_profile(proxy)
    key = new_key(proxy, profile)["key"]
    tools = [{"type": "function", "function": {"name": "fetch_url", "parameters": {"type": "object"}}}]
    client = openai.OpenAI(api_key=key, base_url=proxy.base("openai", profile), max_retries=0)
    client.chat.completions.create(model="m", messages=HELLO, tools=tools)
    proxy.flush()
    tool = proxy.api("GET", "/tools", params={"profile_id": profile, "name": "fetch_url"}).json()["data"][0]["id"]
    proxy.api("POST", "/tool-result-policies", json={"tool_id": tool, "action": "sanitize_with_dual_llm"})

    def handler(request: Received):
        text = request.body.decode()
        if PRIVILEGED_SYSTEM[:40] in text and "Ask your next question" in text:
            return json_reply(openai_wire.completion(json.dumps({"done": True})))
        if QUARANTINED_SYSTEM[:40] in text:
            return json_reply(openai_wire.completion("0"))
        return json_reply(openai_wire.completion("summary" if PRIVILEGED_SYSTEM[:40] in text else "final"))

    upstream.reply_with(handler)
    start = len(upstream.received)
    messages = HELLO + [{"role": "assistant", "content": None, "tool_calls": [
        openai_wire.tool_call("fetch_url", {"url": "x"}, "call_1")]},
        {"role": "tool", "tool_call_id": "call_1", "content": "<html>page</html>"}]
    assert client.chat.completions.create(model="m", messages=messages, tools=tools).choices[0].message.content
    sent = upstream.received[start:]
    assert len(sent) >= 2  # the privileged model's question(s) and the agent's request
    for request in sent:
        assert_only(request, "openai", ENV_KEYS["openai"], key)


# -- configuration and encryption ---------------------------------------------------------------------------
def test_default_keys_and_secret_keys_come_from_the_environment():
    env = {"ARCHESTRA_CHAT_OPENAI_API_KEY": "sk-env", "ARCHESTRA_CHAT_BEDROCK_API_KEY": " br ",
           "ARCHESTRA_CHAT_COHERE_API_KEY": "", "ARCHESTRA_SECRET_KEY": SECRET}
    settings = load_settings(env=env)
    assert settings.provider_keys == {"openai": "sk-env", "bedrock": "br"} and settings.secret_key == SECRET
    assert "sk-env" not in repr(settings) and SECRET not in repr(settings)
    with pytest.raises(ConfigError) as bad:
        load_settings(env={"ARCHESTRA_SECRET_KEY": "not-a-fernet-key"})
    assert "not-a-fernet-key" not in str(bad.value)


def test_secret_key_rotation_with_the_previous_key():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = SecretBox(old).encrypt("sk-rotate-me")
    rotating = SecretBox(new, [old])
    assert rotating.decrypt(stored) == "sk-rotate-me"
    rewritten = rotating.rotate(stored)
    assert SecretBox(new).decrypt(rewritten) == "sk-rotate-me"
    with pytest.raises(UndecryptableKey):
        SecretBox(new).decrypt(stored)
    with pytest.raises(SecretKeyMissing):
        SecretBox(None).encrypt("x")


def test_reencrypt_after_rotation_and_a_key_the_proxy_cannot_decrypt(make_proxy, upstream):
    upstream.reply_with(replies)
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    proxy = make_proxy(secret_key=old)
    profile = new_profile(proxy)
    proxy.api("PUT", f"/profiles/{profile}/provider-keys/openai", json={"api_key": "sk-held-ROTATE-1"})
    key = new_key(proxy, profile)["key"]
    database = proxy.app.config["SQLALCHEMY_DATABASE_URI"]
    rotated = make_proxy(database_url=database, secret_key=new, secret_key_previous=old)
    assert rotated.api("POST", "/provider-keys/reencrypt").json() == {"reencrypted": 1}
    assert ask(make_proxy(database_url=database, secret_key=new), "openai", key, profile)
    assert upstream.received[-1].headers["Authorization"] == "Bearer sk-held-ROTATE-1"
    with pytest.raises(openai.InternalServerError) as broken:  # the old key alone no longer opens it
        ask(make_proxy(database_url=database, secret_key=old), "openai", key, profile)
    assert broken.value.body["code"] == "provider_key_unavailable"


def test_a_virtual_key_hidden_in_a_repeated_header_or_an_odd_scheme_is_never_forwarded(keyed, upstream):
    import http.client
    from urllib.parse import urlsplit

    proxy = keyed()
    profile = new_profile(proxy)
    key = new_key(proxy, profile)["key"]
    target = urlsplit(proxy.base("openai", profile))
    body = json.dumps({"model": "m", "messages": HELLO})
    for headers in ([("x-api-key", "sk-own"), ("x-api-key", key)], [("Authorization", f"Basic {key}")],
                    [("Authorization", "Bearer sk-own"), ("Authorization", f"Bearer {key}")]):
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        connection.putrequest("POST", f"{target.path}/chat/completions")
        for name, value in [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers]:
            connection.putheader(name, value)
        connection.endheaders(body.encode())
        status = connection.getresponse().status
        connection.close()
        if status == 200:
            sent = upstream.received[-1]
            assert key[13:] not in f"{sent.path} {dict(sent.headers)}"
            assert "HELDKEY" not in str(dict(sent.headers))
        else:
            assert status == 401


def test_an_optimised_request_goes_with_the_same_held_key(keyed, upstream):
    proxy = keyed()
    profile = new_profile(proxy)
    key = new_key(proxy, profile)["key"]
    rule = proxy.api("POST", "/optimization-rules", json={"provider": "openai", "target_model": "gpt-4o-mini"})
    assert rule.status_code == 201, rule.text
    assert ask(proxy, "openai", key, profile)
    sent = upstream.received[-1]
    assert sent.json["model"] == "gpt-4o-mini"
    assert_only(sent, "openai", ENV_KEYS["openai"], key)


def test_virtual_keys_are_compared_in_constant_time(keyed, upstream, monkeypatch):
    import hmac

    from archestra import virtual_keys

    compared, original = [], hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(virtual_keys.hmac, "compare_digest", spy)
    proxy = keyed()
    profile = new_profile(proxy)
    key = new_key(proxy, profile)["key"]
    assert ask(proxy, "openai", key, profile)
    digest = virtual_keys.key_hash(key)
    assert (digest, digest) in compared and key not in str(compared)  # the stored hash with the presented one
