"""Bad requests get a clear error in the caller's provider format and never reach the upstream."""
from __future__ import annotations

import http.client
import json

import pytest
import requests

CHAT = "/chat/completions"


def post(proxy, provider, data, content_type="application/json", path=CHAT):
    return requests.post(proxy.base(provider) + path, data=data, timeout=10,
                         headers={"Content-Type": content_type, "Authorization": "Bearer k"})


@pytest.mark.parametrize("data,code,param", [
    (b"{not json", "invalid_json", None),
    (b"[1, 2]", None, None),
    (b'{"messages": []}', None, "model"),
    (b'{"model": "m", "messages": "hi"}', None, "messages"),
    (b'{"model": "m", "messages": [{"content": "no role"}]}', None, "messages[0].role"),
    (b'{"model": "m", "messages": [], "stream": "yes"}', None, "stream"),
    (b'{"model": "m", "messages": [], "tools": {}}', None, "tools"),
])
def test_malformed_requests_are_400_in_openai_format(proxy, upstream, data, code, param):
    response = post(proxy, "openai", data)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param
    if code:
        assert error["code"] == code
    assert upstream.received == []


def test_malformed_request_in_mistral_format(proxy, upstream):
    response = post(proxy, "mistral", b"{oops", path="/v1/chat/completions")
    assert response.status_code == 400
    assert response.json()["object"] == "error" and response.json()["code"] == "invalid_json"


def test_wrong_content_type_is_415(proxy, upstream):
    response = post(proxy, "openai", b"model=gpt", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert upstream.received == []


def test_oversized_body_is_413(make_proxy, upstream):
    proxy = make_proxy(max_body_bytes=1000)
    big = b'{"model": "m", "messages": [{"role": "user", "content": "' + b"x" * 2000 + b'"}]}'
    response = post(proxy, "openai", big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert "1000 bytes" in response.json()["error"]["message"]
    assert upstream.received == []


@pytest.mark.parametrize("method,path,status,code", [
    ("POST", "/assistants", 404, "unknown_route"),
    ("POST", "/completions", 404, "unknown_route"),
    ("GET", CHAT, 405, "method_not_allowed"),
    ("GET", "/models/../../etc/passwd", 400, "invalid_path"),
    ("GET", "/models/%2e%2e/%2e%2e/secret", 400, "invalid_path"),
])
def test_unknown_routes_and_path_tricks(proxy, upstream, method, path, status, code):
    # http.client sends the path as written (requests would normalise the dot segments away)
    host, port = proxy.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request(method, "/v1/openai" + path, headers={"Authorization": "Bearer k"})
    response = connection.getresponse()
    assert response.status == status
    assert json.loads(response.read())["error"]["code"] == code
    assert upstream.received == []


def test_vllm_is_disabled_until_configured(make_proxy, upstream):
    proxy = make_proxy(base_urls={"vllm": None})
    response = post(proxy, "vllm", b'{"model": "m", "messages": []}')
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "provider_not_enabled"
    assert "ARCHESTRA_VLLM_BASE_URL" in response.json()["error"]["message"]


def test_unknown_provider_is_404(proxy):
    assert requests.post(proxy.url + "/v1/nosuch/chat/completions", json={}, timeout=5).status_code == 404
