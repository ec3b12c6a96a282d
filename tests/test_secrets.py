"""Provider keys never leave the exchange they belong to: not in logs, records, metrics or error bodies.

The proxy runs as deployed (gunicorn, DEBUG logging, access log on); every way a key can arrive (Bearer,
x-api-key, x-goog-api-key, ?key=) is used on successful, failing, streamed and broken exchanges, then every
output the proxy has is searched for any fragment of any key.
"""
from __future__ import annotations

import sqlite3

import requests

from tests.fakes import anthropic_wire, gemini_wire
from tests.fakes import openai_wire as wire
from tests.fakes.server import Received, Reply, json_reply, sse_reply
from tests.test_deployment import start_gunicorn, stop_gunicorn

KEYS = {name: f"{name}-SECRETKEY-{index:04d}-9f8e7d6c5b4a" for index, name in
        enumerate(["openai", "anthropic", "gemini_header", "gemini_query", "cohere", "mistral"])}


def answers(request: Received) -> Reply:
    text = request.body.decode(errors="replace")
    if "fail-upstream" in text:
        return json_reply({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                     "code": "invalid_api_key"}}, status=401)
    if "break-stream" in text:
        return sse_reply(wire.text_stream(["a", "b", "c"]), reset_after=1)
    if "/v1/messages" in request.path:
        return json_reply(anthropic_wire.message([anthropic_wire.text("ok")]))
    if ":generateContent" in request.path:
        return json_reply(gemini_wire.chunk([{"text": "ok"}], finish="STOP"))
    if request.path.startswith("/v2/chat"):
        return json_reply({"id": "c", "finish_reason": "COMPLETE", "message": {
            "role": "assistant", "content": [{"type": "text", "text": "ok"}]},
            "usage": {"billed_units": {"input_tokens": 1, "output_tokens": 1}, "tokens": {}}})
    if '"stream": true' in text:
        return sse_reply(wire.text_stream(["ok"]))
    return json_reply(wire.completion("ok"))


def exchanges(url: str) -> list[requests.Response]:
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}
    openai_headers = {"Authorization": f"Bearer {KEYS['openai']}"}
    out = []
    for content in ("hello", "fail-upstream", "break-stream"):
        for stream in (False, True):
            body = {**chat, "messages": [{"role": "user", "content": content}], "stream": stream}
            out.append(requests.post(f"{url}/v1/openai/chat/completions", json=body, headers=openai_headers,
                                     timeout=10))
    out.append(requests.post(f"{url}/v1/openai/chat/completions", data=b"{broken", headers={
        **openai_headers, "Content-Type": "application/json"}, timeout=10))
    out.append(requests.post(f"{url}/v1/openai/00000000-0000-4000-8000-000000000000/chat/completions", json=chat,
                             headers=openai_headers, timeout=10))
    out.append(requests.get(f"{url}/v1/openai/models/../../x", headers=openai_headers, timeout=10))
    out.append(requests.post(f"{url}/v1/mistral/v1/chat/completions", json=chat, timeout=10,
                             headers={"Authorization": f"Bearer {KEYS['mistral']}"}))
    out.append(requests.post(f"{url}/v1/anthropic/v1/messages", timeout=10, headers={
        "x-api-key": KEYS["anthropic"], "anthropic-version": "2023-06-01"},
        json={"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}))
    gemini = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    out.append(requests.post(f"{url}/v1/gemini/v1beta/models/gemini-2.5-flash:generateContent", json=gemini,
                             headers={"x-goog-api-key": KEYS["gemini_header"]}, timeout=10))
    out.append(requests.post(f"{url}/v1/gemini/v1beta/models/gemini-2.5-flash:generateContent"
                             f"?key={KEYS['gemini_query']}", json=gemini, timeout=10))
    out.append(requests.post(f"{url}/v1/gemini/v1beta/models/gemini-2.5-flash:generateContent"
                             f"?key={KEYS['gemini_query']}", json={"contents": "wrong"}, timeout=10))
    out.append(requests.post(f"{url}/v1/cohere/v2/chat", json={"model": "command-a", "messages": [
        {"role": "user", "content": "hi"}]}, headers={"Authorization": f"Bearer {KEYS['cohere']}"}, timeout=10))
    return out


def fragments() -> list[str]:
    """Each key whole and its distinctive middle part (a masked key would still show it)."""
    return [piece for key in KEYS.values() for piece in (key, key.split("-", 1)[1])]


def test_keys_appear_in_no_log_record_metric_or_error_body(tmp_path, upstream):
    upstream.reply_with(answers)
    base = {name: upstream.url for name in ("OPENAI", "ANTHROPIC", "GEMINI", "COHERE", "MISTRAL")}
    process, log, url = start_gunicorn(tmp_path, {"ARCHESTRA_LOG_LEVEL": "debug", **{
        f"ARCHESTRA_{name}_BASE_URL": value for name, value in base.items()}})
    try:
        responses = exchanges(url)
        statuses = [response.status_code for response in responses]
        assert statuses.count(200) >= 8 and 401 in statuses and 400 in statuses and 404 in statuses
        # every key did reach the upstream, so the proxy handled each one
        seen_upstream = " ".join(f"{r.path} {dict(r.headers)}" for r in upstream.received)
        assert all(key in seen_upstream for key in KEYS.values())
        api = {"Authorization": "Bearer t"}
        listing = requests.get(f"{url}/api/interactions?limit=500", headers=api, timeout=10)
        details = [requests.get(f"{url}/api/interactions/{row['id']}", headers=api, timeout=10).text
                   for row in listing.json()["data"]]
        assert len(details) >= 10
        metrics = requests.get(f"{url}/metrics", timeout=10).text
    finally:
        stop_gunicorn(process, log)
    log_text = assert_nowhere(fragments(), tmp_path, metrics, listing.text + "".join(details), responses)
    assert "POST /v1/openai/chat/completions" in log_text  # the access log was on


def assert_nowhere(pieces: list[str], tmp_path, metrics: str, api: str, responses: list[requests.Response]) -> str:
    """No piece in the gunicorn log, the database, the metrics, the API answers or the client bodies; the log."""
    with sqlite3.connect(tmp_path / "deploy.db") as connection:
        database = "\n".join(connection.iterdump())
    outputs = {"log": (tmp_path / "gunicorn.log").read_text(), "database": database, "metrics": metrics,
               "api": api, "client bodies": "".join(response.text for response in responses)}
    for where, text in outputs.items():
        for piece in pieces:
            assert piece not in text, f"a key fragment {piece!r} appears in the {where}"
    return outputs["log"]


HELD = {"openai": "sk-envheld-SECRETKEY-7001-1a2b3c4d5e6f", "gemini": "AIza-envheld-SECRETKEY-7002-6f5e4d3c2b1a",
        "anthropic": "sk-ant-profileheld-SECRETKEY-7003-0a9b8c7d"}


def virtual_key_exchanges(url: str, profile: str, key: str, revoked: str) -> list[requests.Response]:
    """Every way a virtual key arrives, on successful, failing, streamed, broken and refused exchanges."""
    base, out = f"{url}/v1/openai/{profile}/chat/completions", []
    for content in ("hello", "fail-upstream", "break-stream"):
        for stream in (False, True):
            out.append(requests.post(base, headers={"Authorization": f"Bearer {key}"}, timeout=10, json={
                "model": "gpt-4o", "messages": [{"role": "user", "content": content}], "stream": stream}))
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    out.append(requests.post(base, data=b"{broken", timeout=10, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"}))
    for wrong in (revoked, key[:-3] + "zzz"):
        out.append(requests.post(base, json=chat, headers={"Authorization": f"Bearer {wrong}"}, timeout=10))
    out.append(requests.post(f"{url}/v1/openai/chat/completions", json=chat, timeout=10,  # another profile
                             headers={"X-Archestra-Token": key}))
    out.append(requests.post(f"{url}/v1/anthropic/{profile}/v1/messages", timeout=10, headers={
        "x-api-key": key, "anthropic-version": "2023-06-01"},
        json={"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}))
    gemini = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    path = f"{url}/v1/gemini/{profile}/v1beta/models/gemini-2.5-flash:generateContent"
    out.append(requests.post(f"{path}?key={key}", json=gemini, timeout=10))
    out.append(requests.post(path, json=gemini, headers={"x-goog-api-key": key}, timeout=10))
    out.append(requests.post(f"{path}?key={revoked}", json={"contents": "wrong"}, timeout=10))
    return out


def test_held_keys_and_virtual_keys_appear_in_no_log_record_metric_api_answer_or_error_body(tmp_path, upstream):
    from cryptography.fernet import Fernet

    upstream.reply_with(answers)
    env = {"ARCHESTRA_LOG_LEVEL": "debug", "ARCHESTRA_SECRET_KEY": Fernet.generate_key().decode(),
           "ARCHESTRA_CHAT_OPENAI_API_KEY": HELD["openai"], "ARCHESTRA_CHAT_GEMINI_API_KEY": HELD["gemini"],
           **{f"ARCHESTRA_{name}_BASE_URL": upstream.url for name in ("OPENAI", "ANTHROPIC", "GEMINI")}}
    process, log, url = start_gunicorn(tmp_path, env)
    api = {"Authorization": "Bearer t"}
    try:
        profile = requests.post(f"{url}/api/profiles", json={"name": "keyed"}, headers=api, timeout=10).json()["id"]
        answers_ = [requests.put(f"{url}/api/profiles/{profile}/provider-keys/anthropic", headers=api, timeout=10,
                                 json={"api_key": HELD["anthropic"]})]
        key = requests.post(f"{url}/api/virtual-keys", json={"profile_id": profile, "name": "agent"}, headers=api,
                            timeout=10).json()  # the one answer that shows the key
        revoked = requests.post(f"{url}/api/virtual-keys", json={"profile_id": profile, "name": "old"},
                                headers=api, timeout=10).json()
        answers_.append(requests.delete(f"{url}/api/virtual-keys/{revoked['id']}", headers=api, timeout=10))
        responses = virtual_key_exchanges(url, profile, key["key"], revoked["key"])
        statuses = [response.status_code for response in responses]
        assert statuses.count(200) == 6 and statuses.count(401) == 6 and 400 in statuses, statuses
        seen_upstream = " ".join(f"{r.path} {dict(r.headers)}" for r in upstream.received)
        assert all(held in seen_upstream for held in HELD.values())
        assert key["key"][13:] not in seen_upstream and revoked["key"][13:] not in seen_upstream
        for path in ("/interactions?limit=500", f"/profiles/{profile}/provider-keys", "/virtual-keys",
                     f"/virtual-keys/{key['id']}", "/limits", "/profiles"):
            answers_.append(requests.get(f"{url}/api{path}", headers=api, timeout=10))
        rows = answers_[-6].json()["data"]
        assert any(row["virtual_key_name"] == "agent" for row in rows)
        answers_ += [requests.get(f"{url}/api/interactions/{row['id']}", headers=api, timeout=10) for row in rows]
        metrics = requests.get(f"{url}/metrics", timeout=10).text
    finally:
        stop_gunicorn(process, log)
    secrets = [*HELD.values(), key["key"], revoked["key"]]
    pieces = [piece for secret in secrets for piece in (secret, secret.split("-", 2)[2])]
    assert_nowhere(pieces, tmp_path, metrics, "".join(answer.text for answer in answers_), responses)
