"""Azure OpenAI / Azure AI Foundry through the openai package's own clients (``AzureOpenAI`` for the deployments
scheme, ``OpenAI`` at ``/openai/v1/`` for the v1 scheme), against a fake speaking Azure's wire format (content
filter annotations, the stream's prompt-filter chunk), and the proxy's own Microsoft Entra ID identity against a
fake Entra token endpoint (azure-identity's real flow, over HTTPS as it requires)."""
from __future__ import annotations

import json
import ssl
from urllib.parse import parse_qs

import openai
import pytest
import requests
from cryptography.fernet import Fernet

from archestra.providers import azure_entra
from archestra.providers.azure import AZURE, DEPLOYMENT_CHAT, V1_CHAT
from tests.fakes import azure_wire as wire
from tests.fakes import openai_wire, responses_wire
from tests.fakes.server import FakeUpstream, json_reply, sse_reply
from tests.router_support import HELD as ROUTER_HELD
from tests.router_support import routed  # noqa: F401  (fixture)
from tests.security_drivers import PAGE, SCHEMA, AzureDriver, explained
from tests.test_security import refusal
from tests.test_virtual_keys import new_key

VERSION = "2024-10-21"
KEY = "0123456789abcdef0123456789abcdef"  # an Azure resource key's shape: 32 hexadecimal digits
DEPLOYMENT = "prod-chat"
CHAT_PATH = f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version={VERSION}"
USER = [{"role": "user", "content": "hi"}]
EVIL = {"to": "evil@attacker.io"}
TOOLS = [{"type": "function", "function": {"name": n, "description": n, "parameters": SCHEMA}}
         for n in ("fetch_url", "send_email")]


def azure(proxy, profile: str | None = None, **auth) -> openai.AzureOpenAI:
    """The client as Azure documents it, at the proxy (``azure_endpoint``: it appends ``/openai/...``)."""
    return openai.AzureOpenAI(azure_endpoint=proxy.base("azure", profile), api_version=VERSION, max_retries=0,
                              **(auth or {"api_key": KEY}))


def v1(proxy, api_key: str = KEY) -> openai.OpenAI:
    """The v1 scheme: the plain OpenAI client at ``{endpoint}/openai/v1/``."""
    return openai.OpenAI(base_url=proxy.base("azure") + "/openai/v1/", api_key=api_key, max_retries=0)


def interactions(proxy) -> list[dict]:
    proxy.flush()
    return proxy.api("GET", "/interactions").json()["data"]


# -- chat completions ---------------------------------------------------------------------------------------
def test_deployments_scheme_chat_plain_and_streamed(proxy, upstream):
    upstream.reply_with(json_reply(wire.completion("Hello from Azure")))
    answer = azure(proxy).chat.completions.create(model=DEPLOYMENT, messages=USER)
    assert answer.choices[0].message.content == "Hello from Azure" and answer.model == wire.MODEL
    assert answer.prompt_filter_results == wire.PROMPT_FILTERS  # Azure's metadata reaches the client as it was
    assert answer.choices[0].content_filter_results == wire.FILTERS
    sent = upstream.received[-1]
    assert sent.path == CHAT_PATH and sent.headers["api-key"] == KEY and "authorization" not in sent.headers
    assert sent.json["model"] == DEPLOYMENT

    upstream.reply_with(sse_reply(wire.text_stream(["Hel", "lo"])))
    with azure(proxy).chat.completions.stream(model=DEPLOYMENT, messages=USER) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello" and final.model == wire.MODEL
    assert upstream.received[-1].path == CHAT_PATH
    assert upstream.received[-1].json["stream_options"] == {"include_usage": True}

    # The deployment is the model asked; the answer's model (the one Azure runs) prices the exchange.
    recorded = interactions(proxy)
    assert [(i["model"], i["stream"]) for i in recorded] == [(DEPLOYMENT, True), (DEPLOYMENT, False)]
    assert all(i["cost_usd"] and i["cost_usd"] > 0 for i in recorded)
    assert recorded[0]["input_tokens"] == 44 and recorded[0]["output_tokens"] == 16


def test_deployment_set_on_the_client_and_body_without_model(proxy, upstream):
    """``azure_deployment=`` puts the deployment in the base URL: the body's model goes upstream as written. A
    client that sends no body model at all (Azure does not need one there) is served too."""
    upstream.reply_with(json_reply(wire.completion("ok")))
    client = openai.AzureOpenAI(azure_endpoint=proxy.base("azure"), azure_deployment=DEPLOYMENT, api_key=KEY,
                                api_version=VERSION, max_retries=0)
    assert client.chat.completions.create(model="gpt-4o", messages=USER).choices[0].message.content == "ok"
    assert upstream.received[-1].path == CHAT_PATH and upstream.received[-1].json["model"] == "gpt-4o"

    answer = requests.post(proxy.base("azure") + CHAT_PATH, json={"messages": USER}, headers={"api-key": KEY},
                           timeout=10)
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == "ok"
    assert upstream.received[-1].path == CHAT_PATH and "model" not in upstream.received[-1].json
    assert interactions(proxy)[0]["model"] == DEPLOYMENT


def test_v1_scheme_chat_plain_and_streamed(proxy, upstream):
    upstream.reply_with(json_reply(wire.completion("v1 answer")))
    assert v1(proxy).chat.completions.create(model=DEPLOYMENT, messages=USER).choices[0].message.content == \
        "v1 answer"
    sent = upstream.received[-1]
    assert sent.path == "/openai/v1/chat/completions" and sent.headers["authorization"] == f"Bearer {KEY}"

    upstream.reply_with(sse_reply(wire.text_stream(["v1 ", "stream"])))
    with v1(proxy).chat.completions.stream(model=DEPLOYMENT, messages=USER) as stream:
        text = "".join(event.delta for event in stream if event.type == "content.delta")
    assert text == "v1 stream" and upstream.received[-1].path == "/openai/v1/chat/completions"
    assert [i["model"] for i in interactions(proxy)] == [DEPLOYMENT, DEPLOYMENT]


def test_the_model_router_reaches_a_deployment_on_the_v1_scheme(routed, upstream):  # noqa: F811
    r = routed()
    upstream.reply_with(json_reply(wire.completion("routed to azure")))
    client = openai.OpenAI(api_key=r.key, base_url=r.base, max_retries=0)
    answer = client.chat.completions.create(model=f"azure:{DEPLOYMENT}", messages=USER)
    assert answer.choices[0].message.content == "routed to azure"
    sent = upstream.received[-1]
    assert (sent.path, sent.json["model"], sent.headers["api-key"]) == (
        "/openai/v1/chat/completions", DEPLOYMENT, ROUTER_HELD["azure"])
    assert r.key not in str(sent.headers) and "authorization" not in sent.headers
    # A plain OpenAI client at the provider's base reaches the v1 scheme the same way.
    assert v1_alias(r.proxy).chat.completions.create(model=DEPLOYMENT, messages=USER).choices[0].message.content \
        == "routed to azure"
    assert upstream.received[-1].path == "/openai/v1/chat/completions"


def v1_alias(proxy) -> openai.OpenAI:
    return openai.OpenAI(api_key=KEY, base_url=proxy.base("azure"), max_retries=0)


def test_stream_relays_azures_filter_chunks_byte_for_byte(proxy, upstream):
    """The prompt-filter chunk (empty id and model, no choices) and the asynchronous filter's annotation chunk
    (no delta) pass as Azure sent them; the client asked for usage itself, so nothing is stripped."""
    events = wire.text_stream(["Hel", "lo"])
    upstream.reply_with(sse_reply(events))
    answer = requests.post(proxy.base("azure") + CHAT_PATH, headers={"api-key": KEY}, timeout=10, json={
        "model": DEPLOYMENT, "messages": USER, "stream": True, "stream_options": {"include_usage": True}})
    assert answer.status_code == 200 and answer.content == b"".join(events)


# -- Responses and embeddings -------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["deployments", "v1"])
def test_responses_plain_and_streamed(proxy, upstream, scheme):
    client = azure(proxy) if scheme == "deployments" else v1(proxy)
    path = f"/openai/responses?api-version={VERSION}" if scheme == "deployments" else "/openai/v1/responses"
    upstream.reply_with(json_reply(wire.response([responses_wire.message("Responses on Azure")])))
    answer = client.responses.create(model=DEPLOYMENT, input="hi")
    assert answer.output_text == "Responses on Azure" and upstream.received[-1].path == path

    upstream.reply_with(sse_reply(wire.response_stream([responses_wire.message("streamed")])))
    with client.responses.stream(model=DEPLOYMENT, input="hi") as stream:
        for _ in stream:
            pass
        assert stream.get_final_response().output_text == "streamed"
    assert upstream.received[-1].path == path and upstream.received[-1].json["model"] == DEPLOYMENT
    assert [i["model"] for i in interactions(proxy)] == [DEPLOYMENT, DEPLOYMENT]


@pytest.mark.parametrize("scheme", ["deployments", "v1"])
def test_embeddings(proxy, upstream, scheme):
    upstream.reply_with(json_reply(wire.embeddings(2)))
    client = azure(proxy) if scheme == "deployments" else v1(proxy)
    answer = client.embeddings.create(model="embed-small", input=["a", "b"])
    assert [e.embedding for e in answer.data] == [[0.01, -0.02, 0.03]] * 2
    path = f"/openai/deployments/embed-small/embeddings?api-version={VERSION}" if scheme == "deployments" \
        else "/openai/v1/embeddings"
    assert upstream.received[-1].path == path
    [recorded] = interactions(proxy)
    assert (recorded["kind"], recorded["model"], recorded["input_tokens"]) == ("passthrough", "embed-small", 5)


def test_uninspected_generative_paths_are_refused(proxy, upstream):
    """Legacy completions and the other deployment endpoints would bypass the hooks: never forwarded."""
    for path in (f"/openai/deployments/{DEPLOYMENT}/completions", "/openai/v1/completions",
                 f"/openai/deployments/{DEPLOYMENT}/responses", "/openai/chat/completions",
                 "/openai/deployments/bad%20name/chat/completions"):
        answer = requests.post(proxy.base("azure") + path, json={"model": "m", "prompt": "x"},
                               headers={"api-key": KEY}, timeout=10)
        # (``openai/chat/completions`` reads as a profile slug "openai" before the bare ``chat/completions``.)
        assert answer.status_code == 404 and answer.json()["error"]["code"] in (
            "unknown_route", "profile_not_found"), path
    assert upstream.received == []


# -- the security engine ------------------------------------------------------------------------------------
def _ask_with_page(client, stream: bool):
    messages = [{"role": "user", "content": "Summarize the page"},
                {"role": "assistant", "content": None, "tool_calls": [
                    openai_wire.tool_call("fetch_url", {"url": "https://x.io"}, "call_f")]},
                {"role": "tool", "tool_call_id": "call_f", "content": PAGE}]
    if not stream:
        return client.chat.completions.create(model=DEPLOYMENT, messages=messages, tools=TOOLS).choices[0].message
    with client.chat.completions.stream(model=DEPLOYMENT, messages=messages, tools=TOOLS) as events:
        for _ in events:
            pass
        return events.get_final_completion().choices[0].message


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_lethal_trifecta_refused_in_azures_format(proxy, upstream, stream):
    """A fetched page in the context: the send_email call Azure answers (its filter results beside it) is
    refused, and the client reads the refusal as an ordinary answer."""
    args = json.dumps(EVIL)
    upstream.reply_with(sse_reply(wire.tool_stream([("call_e", "send_email", [args[:7], args[7:]])])) if stream
                        else json_reply(wire.completion(None, [openai_wire.tool_call("send_email", EVIL, "call_e")])))
    message = _ask_with_page(azure(proxy), stream)
    assert message.tool_calls in (None, []) and message.content.endswith(refusal(EVIL, explained(AzureDriver())))
    assert upstream.received[-1].path == CHAT_PATH

    # Without the page the same call passes: Azure's filter annotations are never taken for content.
    upstream.reply_with(sse_reply(wire.tool_stream([("call_e", "send_email", [args[:7], args[7:]])])) if stream
                        else json_reply(wire.completion(None, [openai_wire.tool_call("send_email", EVIL, "call_e")])))
    client = azure(proxy)
    if stream:
        with client.chat.completions.stream(model=DEPLOYMENT, messages=USER, tools=TOOLS) as events:
            for _ in events:
                pass
            message = events.get_final_completion().choices[0].message
    else:
        message = client.chat.completions.create(model=DEPLOYMENT, messages=USER, tools=TOOLS).choices[0].message
    assert [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [("send_email", EVIL)]


def test_proxy_made_questions_go_to_the_exchanges_scheme():
    """The dual LLM asks the exchange's own deployment (or, on the v1 scheme, its model) in chat completions."""
    route = AZURE.route("POST", f"openai/deployments/{DEPLOYMENT}/chat/completions", {})
    question, body = AZURE.completion_request(DEPLOYMENT, "sys", "q", route)
    assert (question.upstream_path, question.family, body["model"]) == (
        f"openai/deployments/{DEPLOYMENT}/chat/completions", DEPLOYMENT_CHAT, DEPLOYMENT)
    for path in ("openai/v1/chat/completions", "openai/v1/responses"):
        question, _ = AZURE.completion_request(DEPLOYMENT, "sys", "q", AZURE.route("POST", path, {}))
        assert (question.upstream_path, question.family) == ("openai/v1/chat/completions", V1_CHAT)
    question, _ = AZURE.completion_request(DEPLOYMENT, "sys", "q", AZURE.route("POST", "openai/responses", {}))
    assert question.upstream_path == f"openai/deployments/{DEPLOYMENT}/chat/completions"


# -- keys the proxy holds -----------------------------------------------------------------------------------
HELD = "fedcba9876543210fedcba9876543210"


def test_held_key_for_virtual_key_callers(make_proxy, upstream):
    proxy = make_proxy(provider_keys={"azure": HELD}, secret_key=Fernet.generate_key().decode())
    profile = proxy.api("GET", "/profiles").json()["data"][0]["id"]
    virtual = new_key(proxy, profile)["key"]
    upstream.reply_with(json_reply(wire.completion("held")))
    assert azure(proxy, api_key=virtual).chat.completions.create(
        model=DEPLOYMENT, messages=USER).choices[0].message.content == "held"
    assert v1(proxy, api_key=virtual).chat.completions.create(
        model=DEPLOYMENT, messages=USER).choices[0].message.content == "held"
    for sent in upstream.received:
        assert sent.headers["api-key"] == HELD and "authorization" not in sent.headers
        assert virtual not in json.dumps(dict(sent.headers)) + sent.path
    # A caller with its own key keeps it: the held key is for virtual keys only.
    azure(proxy).chat.completions.create(model=DEPLOYMENT, messages=USER)
    assert upstream.received[-1].headers["api-key"] == KEY

    own = "00112233445566778899aabbccddeeff"
    assert proxy.api("PUT", f"/profiles/{profile}/provider-keys/azure", json={"api_key": own}).status_code == 201
    azure(proxy, profile, api_key=virtual).chat.completions.create(model=DEPLOYMENT, messages=USER)
    assert upstream.received[-1].headers["api-key"] == own


# -- the proxy's own Entra ID identity ----------------------------------------------------------------------
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


class FakeEntra:
    """Microsoft Entra ID's OAuth2 endpoints as MSAL calls them: the tenant's OpenID configuration, and the
    client-credentials token endpoint, over HTTPS (azure-identity refuses an http authority)."""

    def __init__(self, tls_cert) -> None:
        self.fake = FakeUpstream()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls_cert)
        self.fake.server.socket = context.wrap_socket(self.fake.server.socket, server_side=True)
        self.url = self.fake.url.replace("http://", "https://")
        self.tokens: list[dict] = []
        self.fake.reply_with(self._answer)

    def _answer(self, request):
        tenant = request.path.split("/")[1]
        if request.path.endswith("/.well-known/openid-configuration"):
            base = f"{self.url}/{tenant}"
            return json_reply({"token_endpoint": f"{base}/oauth2/v2.0/token", "issuer": f"{base}/v2.0",
                               "authorization_endpoint": f"{base}/oauth2/v2.0/authorize"})
        if request.path == f"/{tenant}/oauth2/v2.0/token" and request.method == "POST":
            self.tokens.append({k: v[0] for k, v in parse_qs(request.body.decode()).items()})
            return json_reply({"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                               "access_token": self.token(len(self.tokens))})
        return json_reply({"error": "invalid_request"}, 400)

    @staticmethod
    def token(number: int) -> str:
        return f"eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJjb2duaXRpdmUifQ.entra-{number}"

    def close(self) -> None:
        self.fake.close()


@pytest.fixture
def entra(tls_cert, monkeypatch):
    pytest.importorskip("azure.identity")
    fake = FakeEntra(tls_cert)
    for name, value in {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": "proxy-app", "AZURE_CLIENT_SECRET": "s3cret",
                        "AZURE_AUTHORITY_HOST": fake.url, "REQUESTS_CA_BUNDLE": tls_cert[0],
                        "SSL_CERT_FILE": tls_cert[0]}.items():
        monkeypatch.setenv(name, value)
    azure_entra.reset()
    yield fake
    azure_entra.reset()
    fake.close()


def test_entra_id_held_by_the_proxy_serves_only_callers_who_prove_the_profile(make_proxy, upstream, entra):
    proxy = make_proxy(azure_entra_id=True)
    profile = proxy.api("GET", "/profiles").json()["data"][0]["id"]
    upstream.reply_with(json_reply(wire.completion("via entra")))

    # No proof and no Azure credential of its own (a value that is no Azure key is none): refused, in Azure's
    # (OpenAI's) error format, before anything goes upstream or a token is fetched.
    with pytest.raises(openai.AuthenticationError) as refused:
        azure(proxy, api_key="not-an-azure-key").chat.completions.create(model=DEPLOYMENT, messages=USER)
    assert refused.value.code == "profile_token_required"
    assert requests.post(proxy.base("azure") + CHAT_PATH, json={"messages": USER}, timeout=10).status_code == 401
    # A value shaped like an Entra token that carries one of the proxy's own secrets (which are never forwarded)
    # is no credential of the caller's: the proxy's token would otherwise go in its place.
    for smuggled in ("eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJ4In0.archestra-vk-" + "A" * 43,
                     "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJ4In0.archestra_" + "B" * 43):
        answer = requests.post(proxy.base("azure") + CHAT_PATH, json={"messages": USER}, timeout=10,
                               headers={"Authorization": f"Bearer {smuggled}"})
        assert answer.status_code == 401 and answer.json()["error"]["code"] in (
            "profile_token_required", "invalid_virtual_key"), answer.text
    assert upstream.received == [] and entra.tokens == []

    # A virtual key (no key held for Azure): the upstream sees the proxy's token, and nothing of the caller's.
    virtual = new_key(proxy, profile)["key"]
    for _ in range(3):
        assert azure(proxy, api_key=virtual).chat.completions.create(
            model=DEPLOYMENT, messages=USER).choices[0].message.content == "via entra"
    for sent in upstream.received:
        assert sent.headers["authorization"] == f"Bearer {entra.token(1)}" and "api-key" not in sent.headers
    # One token, cached across requests; asked with the client-credentials grant for Azure AI's audience.
    assert len(entra.tokens) == 1
    assert entra.tokens[0] == {"client_id": "proxy-app", "client_secret": "s3cret", "grant_type": "client_credentials",
                               "client_info": "1", "scope": "https://cognitiveservices.azure.com/.default"}

    # The profile's access token and no key: the proxy's token too (embeddings and Responses alike).
    token = proxy.api("POST", f"/profiles/{profile}/token").json()["token"]
    sent_embeddings = requests.post(proxy.base("azure") + "/openai/v1/embeddings", timeout=10,
                                    json={"model": "embed-small", "input": "x"}, headers={"X-Archestra-Token": token})
    assert sent_embeddings.status_code == 200
    assert upstream.received[-1].headers["authorization"] == f"Bearer {entra.token(1)}"
    assert "x-archestra-token" not in upstream.received[-1].headers

    # With the profile's token, a caller's own Azure key or Entra token goes upstream instead of the proxy's.
    own = openai.AzureOpenAI(azure_endpoint=proxy.base("azure"), api_version=VERSION, max_retries=0, api_key=KEY,
                             default_headers={"X-Archestra-Token": token})
    own.chat.completions.create(model=DEPLOYMENT, messages=USER)
    assert upstream.received[-1].headers["api-key"] == KEY and "authorization" not in upstream.received[-1].headers


def test_entra_id_with_the_clients_own_token_provider(make_proxy, upstream, entra):
    """The client's own Entra identity (azure-identity's token provider, as Microsoft documents it) passes
    through, proof or not: it is the caller's credential, not the proxy's."""
    identity = pytest.importorskip("azure.identity")  # a requirement; skipped only where it is not installed yet
    credential = identity.ClientSecretCredential(TENANT, "client-app", "theirs", authority=entra.url,
                                                 disable_instance_discovery=True)
    provider = identity.get_bearer_token_provider(credential, azure_entra.SCOPE)
    proxy = make_proxy(azure_entra_id=True)
    upstream.reply_with(json_reply(wire.completion("their token")))
    client = azure(proxy, azure_ad_token_provider=provider)
    for _ in range(2):
        assert client.chat.completions.create(model=DEPLOYMENT, messages=USER).choices[0].message.content == \
            "their token"
    assert [sent.headers["authorization"] for sent in upstream.received] == [f"Bearer {entra.token(1)}"] * 2
    assert [t["client_id"] for t in entra.tokens] == ["client-app"]  # the proxy fetched none of its own


def test_entra_id_failure_is_a_502_not_a_pass(make_proxy, upstream, entra, monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "wrong")
    entra.fake.reply_with(lambda request: json_reply({"error": "invalid_client", "error_description": "bad secret"},
                                                     401) if request.path.endswith("/token")
                          else entra._answer(request))
    proxy = make_proxy(azure_entra_id=True, cloud_auth_open=True)
    answer = requests.post(proxy.base("azure") + CHAT_PATH, json={"messages": USER}, timeout=30)
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "azure_credentials"
    assert upstream.received == []


def test_the_proxys_token_is_kept_until_it_nears_its_expiry(monkeypatch):
    """One token per lifetime: renewed once it is within the refresh margin of its expiry, not before."""
    asked = []

    class Credential:
        def get_token(self, *scopes):
            asked.append(scopes)
            return type("AccessToken", (), {"token": f"t{len(asked)}", "expires_on": now[0] + 3600})()

        def close(self):
            pass

    now = [1_000_000.0]
    monkeypatch.setattr(azure_entra.time, "time", lambda: now[0])
    azure_entra.reset()
    azure_entra._state["credential"] = Credential()
    try:
        assert [azure_entra.bearer_token() for _ in range(3)] == ["t1"] * 3
        now[0] += 3600 - azure_entra.REFRESH_MARGIN - 1
        assert azure_entra.bearer_token() == "t1"
        now[0] += 2
        assert azure_entra.bearer_token() == "t2" and asked == [(azure_entra.SCOPE,)] * 2
    finally:
        azure_entra.reset()
