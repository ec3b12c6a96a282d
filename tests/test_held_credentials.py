"""The proxy's own credentials (Bedrock SigV4, its Google token, the provider keys it holds) serve only callers who
proved the profile (its access token or one of its virtual keys), on the two-worker gunicorn over TLS, through the
real SDKs. A value in a key slot that the proxy does not recognise as the provider's own key format counts as no
key: it is never proof and never a reason to use the proxy's credentials. A virtual key never reaches an upstream,
whatever header or query parameter it rides in and however it is spelt."""
from __future__ import annotations

import base64
import ssl

import anthropic
import boto3
import botocore
import botocore.config
import httpx2
import openai
import pytest
import requests
from cryptography.fernet import Fernet
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from tests.fakes import anthropic_wire, bedrock_wire, gemini_wire, invoke_wire, openai_wire
from tests.fakes.server import FakeUpstream, json_reply
from tests.live import _start
from tests.test_claude_code_cloud import cloud_credentials
from tests.test_deployment import stop_gunicorn
from tests.test_vertex import write_service_account

PROJECT = "proxy-proj"
HELD_OPENAI = "sk-HELD-openai-0001"
#: Shaped like a long-term Bedrock API key (``ABSK`` + base64), so the proxy takes it for the caller's own.
BEDROCK_KEY = "ABSK" + base64.b64encode(b"BedrockAPIKey-test-at-123456789012:c2VjcmV0").decode()
CONVERSE = [{"role": "user", "content": [{"text": "hi"}]}]
HELLO = [{"role": "user", "content": "hi"}]


def reply(request):
    """Every provider the module talks to, on one fake upstream (Google's token endpoint included)."""
    path = request.path
    if path == "/token":
        return json_reply({"access_token": "ya29.proxy", "expires_in": 3599, "token_type": "Bearer"})
    if path.endswith("/converse"):
        return json_reply(bedrock_wire.converse([{"text": "from bedrock"}]))
    if ":rawPredict" in path:
        return json_reply(anthropic_wire.message([anthropic_wire.text("from vertex claude")]))
    if ":generateContent" in path:
        return json_reply(gemini_wire.chunk([{"text": "from vertex gemini"}], "STOP"))
    return json_reply(openai_wire.completion("from openai"))


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, tls_cert):
    """The proxy holding every kind of credential: AWS keys (SigV4), a Google service account (Anthropic and
    Gemini on Vertex AI) and an OpenAI key for virtual keys. Cloud use is not open: proof is required."""
    upstream = FakeUpstream()
    account = tmp_path_factory.mktemp("gcp") / "sa.json"
    write_service_account(account, f"{upstream.url}/token")
    env = {**cloud_credentials(account, upstream.url),
           "ARCHESTRA_GEMINI_VERTEX_AI_ENABLED": "true", "ARCHESTRA_GEMINI_VERTEX_AI_PROJECT": PROJECT,
           "ARCHESTRA_GEMINI_VERTEX_AI_CREDENTIALS_FILE": str(account),
           "ARCHESTRA_GEMINI_VERTEX_AI_BASE_URL": upstream.url,
           "ARCHESTRA_SECRET_KEY": Fernet.generate_key().decode(), "ARCHESTRA_CHAT_OPENAI_API_KEY": HELD_OPENAI}
    upstream.reply_with(reply)
    upstream, process, log, proxy = _start(tmp_path_factory, tls_cert, env, upstream)
    yield proxy
    stop_gunicorn(process, log)
    upstream.close()


@pytest.fixture(autouse=True)
def no_client_aws_credentials(monkeypatch):
    """boto3 in the test process has no AWS credentials of its own (only what each test gives it)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def new_sent(cloud, start: int) -> list:
    """What reached the upstream since ``start``, Google's token requests left out."""
    return [r for r in cloud.upstream.received[start:] if r.path != "/token"]


def virtual_key(cloud, profile_id: str) -> str:
    created = cloud.api("POST", "/virtual-keys", json={"profile_id": profile_id, "name": "agent"})
    assert created.status_code == 201, created.text
    return created.json()["key"]


def basic(secret: str) -> str:
    return "Basic " + base64.b64encode(f"user:{secret}".encode()).decode()


def nowhere(requests_sent: list, secret: str) -> bool:
    """``secret`` (its random part, in any case) is in no path, header name or value that went upstream."""
    tail = secret[len("archestra-vk-"):].lower()
    return all(tail not in f"{r.path} {dict(r.headers)}".lower() for r in requests_sent)


# -- Bedrock: SigV4 with the proxy's AWS credentials ------------------------------------------------------------
def bedrock(cloud, profile_id: str, headers: dict[str, str] | None = None, unsigned: bool = True):
    """boto3's bedrock-runtime client pointed at the proxy; ``headers`` set on every request (after botocore's own
    auth, so they are what the proxy receives)."""
    config = botocore.config.Config(retries={"max_attempts": 1},
                                    **({"signature_version": botocore.UNSIGNED} if unsigned else {}))
    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=cloud.base("bedrock", profile_id),
                          verify=cloud.ca, config=config)

    def add(request, **_):
        for name, value in (headers or {}).items():
            if name in request.headers:
                del request.headers[name]
            request.headers[name] = value
    client.meta.events.register("before-send.*.*", add)
    return client


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer x"},
    {"authorization": "bearer not-a-bedrock-key"},
    {"Authorization": basic("archestra-vk-" + "A" * 43)},  # stripped before forwarding: was signed
    {"Authorization": "Token archestra-vk-" + "B" * 43},
    {"Authorization": "Bearer archestra-vk-" + "C" * 43},  # not a key of anything
    {"Authorization": "Bearer " + BEDROCK_KEY + "," + BEDROCK_KEY},  # a repeated header, joined
    {"X-Api-Key": BEDROCK_KEY},  # a Bedrock key, but not where Bedrock takes it
    {"X-Amz-Security-Token": "session", "X-Amz-Date": "20260101T000000Z"},
], ids=["none", "junk-bearer", "lowercase", "basic-vk", "odd-scheme-vk", "unknown-vk", "repeated", "x-api-key",
        "amz-headers"])
def test_bedrock_signs_for_no_caller_without_proof(cloud, headers):
    pid = cloud.profile()
    start = len(cloud.upstream.received)
    client = bedrock(cloud, pid, headers)
    with pytest.raises(client.exceptions.AccessDeniedException) as refused:
        client.converse(modelId="m", messages=CONVERSE)
    assert "X-Archestra-Token" in str(refused.value) or "virtual key" in str(refused.value)
    assert new_sent(cloud, start) == []


def test_a_client_signature_in_any_case_is_refused_not_signed_over(cloud):
    pid = cloud.profile()
    start = len(cloud.upstream.received)
    client = bedrock(cloud, pid, {"Authorization": "aws4-hmac-sha256 Credential=AKIDCLIENT/x, Signature=00"})
    with pytest.raises(client.exceptions.ValidationException, match="ARCHESTRA_BEDROCK_AWS_AUTH"):
        client.converse(modelId="m", messages=CONVERSE)
    token = cloud.api("POST", f"/profiles/{pid}/token").json()["token"]  # proof: past the access check
    presigned = requests.post(f"{cloud.base('bedrock', pid)}/model/m/converse?X-Amz-Signature=00", json={
        "messages": CONVERSE}, headers={"X-Archestra-Token": token}, verify=cloud.ca, timeout=10)
    assert presigned.status_code == 400 and "SigV4" in presigned.json()["message"]
    assert new_sent(cloud, start) == []


def test_a_key_named_hop_by_hop_is_no_key(cloud):
    """``Connection: Authorization`` makes the proxy drop the header before forwarding: a key seen only on the
    way in must not let the request through to be signed with the proxy's credentials."""
    pid = cloud.profile()
    start = len(cloud.upstream.received)
    headers = {"Authorization": f"Bearer {BEDROCK_KEY}", "Connection": "keep-alive, Authorization"}
    answer = requests.post(f"{cloud.base('bedrock', pid)}/model/m/converse", json={"messages": CONVERSE},
                           headers=headers, verify=cloud.ca, timeout=10)
    assert answer.status_code == 401 and answer.headers["x-amzn-ErrorType"].startswith("AccessDeniedException")
    assert new_sent(cloud, start) == []


def test_a_recognised_bedrock_key_goes_upstream_unsigned(cloud, monkeypatch):
    """boto3 with a Bedrock API key (``AWS_BEARER_TOKEN_BEDROCK``) and no proof: its own key, never the proxy's
    signature."""
    pid = cloud.profile()
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", BEDROCK_KEY)
    start = len(cloud.upstream.received)
    answer = bedrock(cloud, pid, unsigned=False).converse(modelId="m", messages=CONVERSE)
    assert answer["output"]["message"]["content"][0]["text"] == "from bedrock"
    [sent] = new_sent(cloud, start)
    assert sent.headers["Authorization"] == f"Bearer {BEDROCK_KEY}"
    assert not any(name.lower().startswith("x-amz-") for name in sent.headers)


def test_proof_lets_the_proxy_sign_and_a_virtual_key_in_any_slot_stays_behind(cloud, monkeypatch):
    pid = cloud.profile()
    token = cloud.api("POST", f"/profiles/{pid}/token").json()["token"]
    key = virtual_key(cloud, pid)
    stray = "archestra-vk-" + "D" * 43
    start = len(cloud.upstream.received)
    # The access token, with a virtual-key-shaped value in odd places: signed, the value dropped everywhere.
    client = bedrock(cloud, pid, {"X-Archestra-Token": token, "Authorization": basic(stray),
                                  "X-Trace-Key": stray.upper()})
    assert client.converse(modelId="m", messages=CONVERSE)["output"]["message"]["content"][0]["text"]
    # A virtual key of the profile as boto3's Bedrock API key: signed by the proxy, the key never forwarded.
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", key)
    assert bedrock(cloud, pid, unsigned=False).converse(modelId="m", messages=CONVERSE)["output"]
    sent = new_sent(cloud, start)
    assert len(sent) == 2
    for received in sent:
        invoke_wire.check_sigv4(received)
    assert nowhere(sent, stray) and nowhere(sent, key) and token not in str([dict(r.headers) for r in sent])


# -- Google credentials: Anthropic and Gemini on Vertex AI ------------------------------------------------------
def vertex_claude(cloud, profile_id: str, access_token: str, **options) -> anthropic.AnthropicVertex:
    return anthropic.AnthropicVertex(region="us-east5", project_id="clients-project", access_token=access_token,
                                     base_url=cloud.base("anthropic", profile_id), max_retries=0,
                                     http_client=httpx2.Client(verify=ssl.create_default_context(cafile=cloud.ca)),
                                     **options)


@pytest.mark.parametrize("token, headers", [
    ("junk", {}),
    ("ya29.looks-like-a-google-token", {}),
    ("archestra-vk-" + "E" * 43, {}),
    ("t", {"x-api-key": "sk-ant-api03-" + "F" * 40}),  # an Anthropic key is not proof for Google's credentials
    ("t", {"Authorization": basic("archestra-vk-" + "G" * 43)}),
], ids=["junk", "google-shaped", "unknown-vk", "anthropic-key", "basic-vk"])
def test_anthropic_on_vertex_needs_proof(cloud, token, headers):
    pid = cloud.profile()
    start = len(cloud.upstream.received)
    client = vertex_claude(cloud, pid, token, default_headers=headers)
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(model="claude-sonnet-4@20250514", max_tokens=5, messages=HELLO)
    assert new_sent(cloud, start) == []


def test_anthropic_on_vertex_with_a_virtual_key(cloud):
    pid = cloud.profile()
    key = virtual_key(cloud, pid)
    start = len(cloud.upstream.received)
    client = vertex_claude(cloud, pid, key, default_headers={"x-api-key": "sk-ant-api03-client"},
                           default_query={"key": "client-query-key"})
    answer = client.messages.create(model="claude-sonnet-4@20250514", max_tokens=5, messages=HELLO)
    assert answer.content[0].text == "from vertex claude"
    [sent] = new_sent(cloud, start)
    assert sent.headers["Authorization"] == "Bearer ya29.proxy" and f"/projects/{PROJECT}/" in sent.path
    assert "x-api-key" not in sent.headers and "client-query-key" not in sent.path and nowhere([sent], key)


def vertex_gemini(cloud, profile_id: str, headers: dict[str, str] | None = None, **options) -> genai.Client:
    http = types.HttpOptions(base_url=cloud.base("gemini", profile_id), headers=headers or {},
                             client_args={"verify": cloud.ca})
    return genai.Client(http_options=http, **options)


@pytest.mark.parametrize("options", [
    {"vertexai": True, "project": "p", "location": "us-central1", "credentials": Credentials(token="junk")},
    {"vertexai": True, "api_key": "AIza" + "H" * 35},  # express mode: a real-looking Google key is not proof
    {"api_key": "archestra-vk-" + "I" * 43},
], ids=["oauth-junk", "express-key", "unknown-vk"])
def test_gemini_on_vertex_needs_proof(cloud, options):
    pid = cloud.profile()
    start = len(cloud.upstream.received)
    client = vertex_gemini(cloud, pid, **options)  # held: the SDK closes its connections once it is collected
    with pytest.raises(errors.ClientError) as refused:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert refused.value.code == 401
    assert new_sent(cloud, start) == []


def test_gemini_on_vertex_with_the_profile_token(cloud):
    pid = cloud.profile()
    token = cloud.api("POST", f"/profiles/{pid}/token").json()["token"]
    start = len(cloud.upstream.received)
    client = vertex_gemini(cloud, pid, {"X-Archestra-Token": token}, vertexai=True, project="p",
                           location="us-central1", credentials=Credentials(token="client-oauth-token"))
    assert client.models.generate_content(model="gemini-2.5-flash", contents="hi").text == "from vertex gemini"
    [sent] = new_sent(cloud, start)
    assert sent.headers["Authorization"] == "Bearer ya29.proxy" and f"/projects/{PROJECT}/" in sent.path
    assert "client-oauth-token" not in str(dict(sent.headers))


# -- Held provider keys and virtual keys (OpenAI) ---------------------------------------------------------------
def test_the_held_key_only_for_a_virtual_key_which_never_goes_upstream(cloud):
    pid = cloud.profile()
    key = virtual_key(cloud, pid)
    start = len(cloud.upstream.received)
    client = openai.OpenAI(api_key=key, base_url=cloud.base("openai", pid), max_retries=0,
                           http_client=openai.DefaultHttpxClient(verify=cloud.ca),
                           default_headers={"X-Trace-Key": key, "X-Upper": key.upper(), "api-key": key,
                                            "X-Encoded": key.replace("-", "%2D")},
                           default_query={"api_key": key, "k%65y": key, "note": f"by {key}"})
    assert client.chat.completions.create(model="m", messages=HELLO).choices[0].message.content == "from openai"
    [sent] = new_sent(cloud, start)
    assert sent.headers["Authorization"] == f"Bearer {HELD_OPENAI}" and nowhere([sent], key)


@pytest.mark.parametrize("authorization, forwarded", [
    ("Bearer junk", "Bearer junk"),  # the caller's own value, passed through: never the held key
    (basic("archestra-vk-" + "J" * 43), None),  # not a presentation of a key: stripped, no held key either
    ("Token archestra-vk-" + "K" * 43, None),
], ids=["junk", "basic-vk", "odd-scheme-vk"])
def test_no_held_key_without_a_virtual_key(cloud, authorization, forwarded):
    pid = cloud.profile()
    start = len(cloud.upstream.received)
    client = openai.OpenAI(api_key="unused", base_url=cloud.base("openai", pid), max_retries=0,
                           http_client=openai.DefaultHttpxClient(verify=cloud.ca),
                           default_headers={"Authorization": authorization})
    assert client.chat.completions.create(model="m", messages=HELLO).choices[0].message.content == "from openai"
    [sent] = new_sent(cloud, start)
    assert sent.headers.get("Authorization") == forwarded
    assert HELD_OPENAI not in str(dict(sent.headers)) and "archestra-vk-" not in str(dict(sent.headers)).lower()


def test_the_profile_token_sent_as_a_key_by_mistake_stays_behind(cloud):
    pid = cloud.profile()
    token = cloud.api("POST", f"/profiles/{pid}/token").json()["token"]
    start = len(cloud.upstream.received)
    client = openai.OpenAI(api_key=token, base_url=cloud.base("openai", pid), max_retries=0,
                           http_client=openai.DefaultHttpxClient(verify=cloud.ca),
                           default_headers={"X-Archestra-Token": token}, default_query={"token": token})
    assert client.chat.completions.create(model="m", messages=HELLO).choices[0].message.content == "from openai"
    [sent] = new_sent(cloud, start)
    assert "Authorization" not in sent.headers and token not in f"{sent.path} {dict(sent.headers)}"


def test_a_valid_virtual_key_in_an_odd_slot_is_neither_proof_nor_forwarded(cloud):
    """A real virtual key of a profile that requires one, sent where no SDK sends keys: not accepted as the
    caller's credential (refused), and nothing went upstream."""
    pid = cloud.profile(require_virtual_key=True)
    key = virtual_key(cloud, pid)
    start = len(cloud.upstream.received)
    client = openai.OpenAI(api_key="sk-client-own", base_url=cloud.base("openai", pid), max_retries=0,
                           http_client=openai.DefaultHttpxClient(verify=cloud.ca),
                           default_headers={"X-Key": key}, default_query={"api_key": key})
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="m", messages=HELLO)
    assert new_sent(cloud, start) == []


# -- the declared key formats ----------------------------------------------------------------------------------
def test_every_provider_declares_its_key_format():
    """A new provider must say whether its keys have a recognisable format (an empty declaration recognises
    nothing, so no decision can rest on its keys): ``Provider.key_format`` has no default."""
    from archestra.providers import PROVIDERS, Provider
    from archestra.providers.key_formats import KeyFormat

    assert all(isinstance(provider.key_format, KeyFormat) for provider in PROVIDERS)
    assert not hasattr(Provider, "key_format")


@pytest.mark.parametrize("provider, headers, query, expected", [
    ("bedrock", {"Authorization": f"Bearer {BEDROCK_KEY}"}, {}, BEDROCK_KEY),
    ("bedrock", {"authorization": "bearer bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29tLz9BY3Rpb249Q2FsbA=="}, {},
     "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29tLz9BY3Rpb249Q2FsbA=="),
    ("bedrock", {"Authorization": "Bearer ABSK"}, {}, None),
    ("bedrock", {"Authorization": f"Basic {BEDROCK_KEY}"}, {}, None),
    ("bedrock", {"Authorization": f"Bearer {BEDROCK_KEY} extra"}, {}, None),
    ("bedrock", {"X-Api-Key": BEDROCK_KEY}, {}, None),
    ("anthropic", {"x-api-key": "sk-ant-api03-abc_DEF-1"}, {}, "sk-ant-api03-abc_DEF-1"),
    ("anthropic", {"x-api-key": "sk-ant-api03-a", "Authorization": "Bearer sk-ant-oat01-b"}, {}, None),  # two keys
    ("anthropic", {"Authorization": "Bearer gateway-token"}, {}, None),
    ("gemini", {}, {"key": ["AIza" + "x" * 35]}, "AIza" + "x" * 35),
    ("gemini", {"x-goog-api-key": "AIza-short"}, {}, None),
    ("openai", {"Authorization": "Bearer sk-proj-abc"}, {}, "sk-proj-abc"),
    ("openai", {"Authorization": "Bearer eyJhbGciOi.jwt"}, {}, None),
    ("cohere", {"Authorization": "Bearer anything-at-all"}, {}, None),  # no documented format: never recognised
])
def test_own_key_recognises_only_the_providers_format(provider, headers, query, expected):
    from werkzeug.datastructures import MultiDict

    from archestra.providers import PROVIDERS
    from archestra.providers.key_formats import own_key

    key_format = next(found.key_format for found in PROVIDERS if found.name == provider)
    assert own_key(key_format, headers, MultiDict(query)) == expected
