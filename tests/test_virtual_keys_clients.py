"""Agent clients configured only with a base URL and a virtual key: the real Claude Code CLI
(``ANTHROPIC_API_KEY`` and ``ANTHROPIC_AUTH_TOKEN``) and a Codex-shaped Responses request (``env_key`` sent as a
Bearer token). The upstream sees the provider key the proxy holds, never the virtual key."""
from __future__ import annotations

import requests
from cryptography.fernet import Fernet

from tests.fakes import anthropic_wire, responses_wire
from tests.fakes.server import Reply, sse_reply
from tests.test_claude_code import claude_cli, run_claude, workdir  # noqa: F401  (fixtures)
from tests.test_responses import codex_request

HELD = {"anthropic": "sk-ant-HELD-claude-0001", "openai": "sk-HELD-codex-0002"}


def keyed_profile(make_proxy):
    proxy = make_proxy(provider_keys=HELD, secret_key=Fernet.generate_key().decode())
    profile = proxy.api("POST", "/profiles", json={"name": "agents", "require_virtual_key": True}).json()["id"]
    key = proxy.api("POST", "/virtual-keys", json={"profile_id": profile, "name": "agent"}).json()["key"]
    return proxy, profile, key


def test_claude_code_with_a_virtual_key(make_proxy, upstream, claude_cli, workdir):  # noqa: F811
    proxy, profile, key = keyed_profile(make_proxy)

    def handler(request) -> Reply:
        if request.method != "POST":
            return Reply(200, {"Content-Type": "text/plain"}, [b""])
        return sse_reply(anthropic_wire.text_stream(["Done."]))

    upstream.reply_with(handler)
    base = proxy.base("anthropic", profile)
    for variable in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        start = len(upstream.received)
        env = {"ANTHROPIC_API_KEY": ""} | {variable: key}
        assert run_claude(claude_cli, base, workdir, "Say done", env)["result"] == "Done."
        posts = [r for r in upstream.received[start:] if r.method == "POST"]
        assert posts and all(r.headers.get("x-api-key") == HELD["anthropic"] for r in posts)
        assert all(key[13:] not in f"{r.path} {dict(r.headers)}" for r in upstream.received[start:])
        assert all("Authorization" not in r.headers for r in posts)
    proxy.flush()
    rows = proxy.api("GET", "/interactions", params={"profile_id": profile}).json()["data"]
    assert rows and {row["virtual_key_name"] for row in rows} == {"agent"}


def test_a_codex_request_with_a_virtual_key(make_proxy, upstream):
    proxy, profile, key = keyed_profile(make_proxy)
    events = responses_wire.stream([responses_wire.message("Listing.")])
    upstream.reply_with(sse_reply(events))
    sent = codex_request()
    with requests.post(proxy.base("openai", profile) + "/responses", data=sent, stream=True, timeout=10,
                       headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"}) as answer:
        body = b"".join(answer.iter_content(chunk_size=None))
    assert answer.status_code == 200 and body == b"".join(events)
    received = upstream.received[-1]
    assert received.body == sent  # byte for byte: only the key changed
    assert received.headers["Authorization"] == f"Bearer {HELD['openai']}"
    with requests.post(proxy.base("openai", profile) + "/responses", data=sent, timeout=10, headers={
            "Content-Type": "application/json", "Authorization": "Bearer sk-own-key"}) as refused:
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "virtual_key_required"
