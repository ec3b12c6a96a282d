"""Gemini in Vertex AI mode: the proxy calls Vertex with its own OAuth2 token from google-auth.

A service-account key is generated here (a local RSA key) and its token URI points at the fake upstream,
so the real google-auth refresh flow runs: a JWT signed with that key, exchanged for an access token.
"""
from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google import genai
from google.genai import errors, types

from archestra.providers import vertex
from tests.fakes import gemini_wire as wire
from tests.fakes.server import json_reply

PROJECT, LOCATION = "proj-1", "europe-west4"
GENERATE = f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/gemini-2.5-flash:generateContent"


def write_service_account(path, token_uri: str):
    """A service-account key file (a fresh RSA key) whose token endpoint is ``token_uri``; its public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path.write_text(json.dumps({
        "type": "service_account", "project_id": PROJECT, "private_key_id": "key-1", "private_key": pem,
        "client_email": "proxy@proj-1.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri}))
    return key.public_key()


@pytest.fixture
def service_account(tmp_path, upstream):
    path = tmp_path / "sa.json"
    public_key = write_service_account(path, f"{upstream.url}/token")
    vertex.reset()
    yield path, public_key
    vertex.reset()


def vertex_upstream(upstream, expires_in: int):
    tokens = []

    def handler(request):
        if request.path == "/token":
            tokens.append(parse_qs(request.body.decode()))
            return json_reply({"access_token": f"ya29.token-{len(tokens)}", "expires_in": expires_in,
                               "token_type": "Bearer"})
        return json_reply(wire.chunk([{"text": "from vertex"}], "STOP"))

    upstream.reply_with(handler)
    return tokens


def vertex_proxy(make_proxy, upstream, credentials_file, cloud_auth_open=True):
    return make_proxy(gemini_vertex_ai_enabled=True, gemini_vertex_ai_project=PROJECT,
                      gemini_vertex_ai_location=LOCATION, gemini_vertex_ai_credentials_file=str(credentials_file),
                      gemini_vertex_ai_base_url=upstream.url, cloud_auth_open=cloud_auth_open)


def test_the_proxys_google_credentials_serve_only_callers_who_prove_the_profile(make_proxy, upstream,
                                                                                service_account):
    vertex_upstream(upstream, expires_in=3599)
    proxy = vertex_proxy(make_proxy, upstream, service_account[0], cloud_auth_open=False)
    with pytest.raises(errors.ClientError) as refused:
        ask(proxy, api_key="AIza-anyone")
    assert refused.value.code == 401 and "access token" in refused.value.message
    assert [r for r in upstream.received if r.path != "/token"] == []
    token = proxy.api("POST", "/profiles/" + proxy.api("GET", "/profiles").json()["data"][0]["id"] + "/token")
    headers = {"X-Archestra-Token": token.json()["token"]}
    client = genai.Client(api_key="AIza-anyone", http_options=types.HttpOptions(base_url=proxy.base("gemini"),
                                                                                headers=headers))
    assert client.models.generate_content(model="gemini-2.5-flash", contents="hi").text == "from vertex"


def ask(proxy, **client_options):
    client = genai.Client(http_options=types.HttpOptions(base_url=proxy.base("gemini")), **client_options)
    return client.models.generate_content(model="gemini-2.5-flash", contents="hi")


def test_vertex_call_uses_the_proxys_token_and_never_the_clients_key(make_proxy, upstream, service_account):
    path, public_key = service_account
    tokens = vertex_upstream(upstream, expires_in=3599)
    proxy = vertex_proxy(make_proxy, upstream, path)

    assert ask(proxy, api_key="AIza-client-key").text == "from vertex"
    assert ask(proxy, api_key="AIza-client-key").text == "from vertex"

    calls = [r for r in upstream.received if r.path != "/token"]
    assert [c.path for c in calls] == [GENERATE, GENERATE]
    assert all(c.headers["Authorization"] == "Bearer ya29.token-1" for c in calls)
    assert not any("x-goog-api-key" in c.headers or "AIza" in c.path for c in calls)
    assert len(tokens) == 1  # cached for the process while valid

    grant = tokens[0]
    assert grant["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    header, claims, signature = grant["assertion"][0].split(".")
    decode = lambda part: base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))  # noqa: E731
    assert json.loads(decode(claims))["iss"] == "proxy@proj-1.iam.gserviceaccount.com"
    assert "cloud-platform" in json.loads(decode(claims))["scope"]
    public_key.verify(decode(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())


def test_tokens_are_refreshed_before_expiry(make_proxy, upstream, service_account):
    tokens = vertex_upstream(upstream, expires_in=60)  # inside google-auth's 3m45s refresh margin
    proxy = vertex_proxy(make_proxy, upstream, service_account[0])
    ask(proxy, api_key="k")
    ask(proxy, api_key="k")
    calls = [r.headers["Authorization"] for r in upstream.received if r.path != "/token"]
    assert calls == ["Bearer ya29.token-1", "Bearer ya29.token-2"]
    assert len(tokens) == 2


def test_vertex_sdk_paths_are_accepted(make_proxy, upstream, service_account):
    vertex_upstream(upstream, expires_in=3599)
    proxy = vertex_proxy(make_proxy, upstream, service_account[0])
    assert ask(proxy, vertexai=True, api_key="express-key").text == "from vertex"
    assert upstream.received[-1].path == GENERATE.replace("/v1/", "/v1beta1/")


def test_broken_credentials_are_a_clear_502(make_proxy, upstream, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    vertex.reset()
    proxy = vertex_proxy(make_proxy, upstream, bad)
    with pytest.raises(errors.ServerError) as caught:
        ask(proxy, api_key="k")
    assert caught.value.code == 502 and "Vertex AI credentials" in caught.value.message
    assert upstream.received == []
