"""The proxy as deployed: gunicorn + gevent workers from gunicorn.conf.py, migrations before fork."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import openai
import pytest
import requests

from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply, sse_reply

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(tmp_path, env_extra: dict[str, str], scheme: str = "http", verify=None, bind_by: str = "env"):
    """gunicorn on a free port, given as ``ARCHESTRA_BIND`` (``bind_by="env"``), as gunicorn's own ``-b``
    (``"flag"``) or in ``GUNICORN_CMD_ARGS`` (``"cmd_args"``).

    A port found free can be taken by another test process before gunicorn binds it (tests run in parallel):
    the server is ready only once *this* gunicorn logs that it listens there; otherwise it is retried on
    another port, so a test never talks to someone else's server."""
    for _ in range(3):
        started = _try_gunicorn(tmp_path, env_extra, scheme, verify, bind_by)
        if started:
            return started
    pytest.fail("gunicorn found no free port: " + (tmp_path / "gunicorn.log").read_text())


def _try_gunicorn(tmp_path, env_extra, scheme, verify, bind_by):
    port = free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "ARCHESTRA_BIND": address, "ARCHESTRA_WORKERS": "1",
           "ARCHESTRA_DATABASE_URL": f"sqlite:///{tmp_path}/deploy.db", "ARCHESTRA_ADMIN_TOKEN": "t",
           "ARCHESTRA_ACCESS_LOG": "-", **env_extra}
    flags = []
    if bind_by != "env":
        del env["ARCHESTRA_BIND"]
        if bind_by == "flag":
            flags = ["-b", address]
        else:
            env["GUNICORN_CMD_ARGS"] = f"--bind={address}"
    log = open(tmp_path / "gunicorn.log", "w+")
    process = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", *flags,
                                "app:app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = (tmp_path / "gunicorn.log").read_text()
        if "Connection in use" in text:
            process.kill()
            process.wait(timeout=10)
            log.close()
            return None
        try:
            if f"Listening at: {url}" in text and \
                    requests.get(f"{url}/healthz", timeout=5, verify=verify).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.2)
        assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
    else:
        pytest.fail("gunicorn did not start: " + (tmp_path / "gunicorn.log").read_text())
    return process, log, url


def stop_gunicorn(process, log):
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=40)
    log.close()


@pytest.fixture
def gunicorn(tmp_path, upstream):
    process, log, url = start_gunicorn(tmp_path, {"ARCHESTRA_OPENAI_BASE_URL": upstream.url,
                                                  "ARCHESTRA_GEMINI_BASE_URL": upstream.url})
    yield url, tmp_path / "gunicorn.log"
    stop_gunicorn(process, log)


def gated_stream(gate: threading.Event, events: list[bytes], first: int = 2):
    """Yield the first events, then wait for the test to open the gate (bounded) before the rest."""
    def chunks():
        yield from events[:first]
        gate.wait(timeout=20)
        yield from events[first:]
    return chunks()


def test_migrated_before_fork_and_ready(gunicorn):
    gunicorn, _ = gunicorn
    ready = requests.get(f"{gunicorn}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    profiles = requests.get(f"{gunicorn}/api/profiles", headers={"Authorization": "Bearer t"}, timeout=5)
    assert [p["name"] for p in profiles.json()["data"]] == ["default"]


def test_stream_is_relayed_as_it_arrives_and_one_worker_serves_many(gunicorn, upstream):
    gunicorn, _ = gunicorn
    gate = threading.Event()
    events = wire.text_stream(["first", " second", " third"])
    upstream.reply_with(lambda r: sse_reply(gated_stream(gate, events)) if r.json["messages"][0]["content"] == "A"
                        else sse_reply(wire.text_stream(["B done"])))
    # A read timeout well under the gate's: a proxy that held text back would time out here.
    client = openai.OpenAI(api_key="k", base_url=f"{gunicorn}/v1/openai", max_retries=0, timeout=5)

    stream_a = client.chat.completions.create(model="m", stream=True, messages=[{"role": "user", "content": "A"}])
    a_iter = iter(stream_a)
    assert next(a_iter).choices[0].delta.content == ""
    assert next(a_iter).choices[0].delta.content == "first"  # arrived while upstream still holds the rest

    # The single gevent worker serves a second exchange while the first stream is open.
    b_chunks = list(client.chat.completions.create(model="m", stream=True,
                                                   messages=[{"role": "user", "content": "B"}]))
    assert "".join(c.choices[0].delta.content or "" for c in b_chunks if c.choices) == "B done"

    gate.set()
    rest = [c.choices[0].delta.content for c in a_iter if c.choices]
    assert "".join(r or "" for r in rest) == " second third"


def test_client_disconnect_closes_the_upstream_stream(gunicorn, upstream):
    gunicorn, _ = gunicorn
    gate = threading.Event()
    endless = [wire.event({"choices": [{"index": 0, "delta": {"content": f"{i} "}}]}) for i in range(2000)]

    def slow_chunks():
        yield endless[0]
        yield endless[1]
        gate.set()
        for item in endless[2:]:
            time.sleep(0.02)
            yield item

    reply = sse_reply(slow_chunks())
    upstream.reply_with(reply)
    response = requests.post(f"{gunicorn}/v1/openai/chat/completions", stream=True, timeout=10,
                             json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    lines = response.iter_lines()
    assert next(lines).startswith(b"data: ")
    assert gate.wait(10)
    response.close()  # the client goes away mid-stream
    assert reply.closed.wait(10), "the proxy kept reading the upstream after the client left"


def open_silent_stream(url: str, upstream, wrap=None):
    """A raw client whose stream got its first event while the upstream (the model, thinking) stays silent."""
    reply = sse_reply([wire.event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})],
                      hold_open=30)
    upstream.reply_with(reply)
    body = b'{"model": "m", "stream": true, "messages": [{"role": "user", "content": "x"}]}'
    host, port = url.split("://")[1].split(":")
    client = socket.create_connection((host, int(port)), timeout=10)
    if wrap is not None:
        client = wrap(client)
    client.sendall(b"POST /v1/openai/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    seen = b""
    while b"data: " not in seen:
        seen += client.recv(4096)
    return client, reply


def assert_upstream_closed_and_recorded(url: str, reply, left: float, verify=None) -> None:
    assert reply.closed.wait(10), "the proxy kept the silent upstream open after the client left"
    assert time.monotonic() - left < 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = requests.get(f"{url}/api/interactions", headers={"Authorization": "Bearer t"}, timeout=5,
                            verify=verify).json()
        if rows["data"]:
            break
        time.sleep(0.1)
    assert rows["data"][0]["error"] == "client disconnected before the end of the stream"


def test_client_leaving_a_silent_stream_closes_the_upstream_at_once(gunicorn, upstream):
    """The model is still thinking (nothing to relay) when the client hangs up: the proxy must not wait for the
    next chunk to notice, and the interaction is recorded as cut short by the client."""
    gunicorn, _ = gunicorn
    client, reply = open_silent_stream(gunicorn, upstream)
    left = time.monotonic()
    client.close()  # the client's process goes away: FIN, nothing more
    assert_upstream_closed_and_recorded(gunicorn, reply, left)


def test_tls_client_saying_close_notify_before_leaving_a_silent_stream(tmp_path, upstream, tls_cert):
    """Many TLS clients (Go, curl, browsers) send a close_notify alert before their FIN: bytes that are not a
    sign of life. The proxy must still notice the hang-up and close the upstream."""
    import ssl

    cert, key = tls_cert
    process, log, url = start_gunicorn(tmp_path, {"ARCHESTRA_OPENAI_BASE_URL": upstream.url,
                                                  "ARCHESTRA_TLS_CERT": cert, "ARCHESTRA_TLS_KEY": key},
                                       scheme="https", verify=cert)
    try:
        context = ssl.create_default_context(cafile=cert)
        client, reply = open_silent_stream(url, upstream,
                                           lambda raw: context.wrap_socket(raw, server_hostname="localhost"))
        left = time.monotonic()
        client.settimeout(0.3)
        try:
            client.unwrap()  # sends close_notify, then waits for the server's, which does not come
        except (ssl.SSLError, OSError):
            pass
        client.close()  # then FIN
        assert_upstream_closed_and_recorded(url, reply, left, verify=cert)
    finally:
        stop_gunicorn(process, log)


def test_sigterm_lets_an_open_stream_finish_and_records_it(tmp_path, upstream):
    process, log, url = start_gunicorn(tmp_path, {"ARCHESTRA_OPENAI_BASE_URL": upstream.url,
                                                  "ARCHESTRA_GRACEFUL_TIMEOUT": "20"})
    try:
        gate = threading.Event()
        upstream.reply_with(sse_reply(gated_stream(gate, wire.text_stream(["still", " going", " strong"]))))
        client = openai.OpenAI(api_key="k", base_url=f"{url}/v1/openai", max_retries=0, timeout=30)
        chunks = iter(client.chat.completions.create(model="gpt-4o", stream=True,
                                                     messages=[{"role": "user", "content": "x"}]))
        assert next(chunks).choices[0].delta.content == ""
        process.send_signal(signal.SIGTERM)  # the stream is mid-way
        time.sleep(1.5)
        with pytest.raises(requests.ConnectionError):  # no new work is accepted meanwhile
            requests.get(f"{url}/healthz", timeout=2)
        assert process.poll() is None
        gate.set()
        text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
        assert text == "still going strong"
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            stop_gunicorn(process, log)
        log.close()
    import sqlite3
    with sqlite3.connect(tmp_path / "deploy.db") as connection:
        rows = connection.execute("SELECT error, output_tokens FROM interactions").fetchall()
    assert rows == [(None, 16)]


def test_slow_uploads_are_cut_off_with_408(tmp_path, upstream):
    """Slowloris: clients that trickle their body hold no connection past the body timeout, and the worker keeps
    serving everyone else meanwhile."""
    process, log, url = start_gunicorn(tmp_path, {"ARCHESTRA_OPENAI_BASE_URL": upstream.url,
                                                  "ARCHESTRA_CLIENT_BODY_TIMEOUT": "1"})
    try:
        upstream.reply_with(json_reply(wire.completion("served")))
        host, port = url.removeprefix("http://").split(":")
        slow = []
        for _ in range(20):
            client = socket.create_connection((host, int(port)), timeout=15)
            client.sendall(b"POST /v1/openai/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                           b"\r\nAuthorization: Bearer sk-slow\r\nContent-Length: 5000\r\n\r\n{\"model\": ")
            slow.append(client)
        started = time.monotonic()
        fast = openai.OpenAI(api_key="k", base_url=f"{url}/v1/openai", max_retries=0, timeout=5)
        answer = fast.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert answer.choices[0].message.content == "served"
        for client in slow:
            client.sendall(b'"')  # still trickling
            head = b""
            while b"\r\n\r\n" not in head or not head.rstrip().endswith(b"}"):
                head += client.recv(4096)
            assert head.startswith(b"HTTP/1.1 408 ")
            error = json.loads(head.split(b"\r\n\r\n", 1)[1])["error"]
            assert error["code"] == "request_timeout" and "1 seconds" in error["message"]
        assert time.monotonic() - started < 10
        for client in slow:  # and the connection is closed soon after (gunicorn's keep-alive timeout)
            client.settimeout(10)
            try:
                while client.recv(4096):
                    pass
            except ConnectionResetError:
                pass
            client.close()
        assert len(upstream.received) == 1  # only the fast request went upstream
    finally:
        stop_gunicorn(process, log)


def test_keys_in_query_strings_stay_out_of_the_access_log(gunicorn, upstream):
    url, log = gunicorn
    upstream.reply_with(json_reply({"candidates": []}))
    response = requests.post(f"{url}/v1/gemini/v1beta/models/m:generateContent?key=AIza-very-secret", timeout=10,
                             json={"contents": [{"parts": [{"text": "hi"}]}]})
    assert response.status_code == 200
    assert upstream.received[-1].path.endswith("?key=AIza-very-secret")  # forwarded, not logged
    time.sleep(0.5)  # let gunicorn write the access line
    text = log.read_text()
    assert "/v1/gemini/v1beta/models/m:generateContent" in text
    assert "AIza-very-secret" not in text


def test_tls_serving_for_boto3_bearer_keys(tmp_path, upstream, tls_cert, monkeypatch):
    import boto3

    from tests.fakes import bedrock_wire
    from tests.fakes.server import Reply

    cert, key = tls_cert
    process, log, url = start_gunicorn(tmp_path, {"ARCHESTRA_BEDROCK_BASE_URL": upstream.url,
                                                  "ARCHESTRA_TLS_CERT": cert, "ARCHESTRA_TLS_KEY": key},
                                       scheme="https", verify=cert)
    try:
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-key")
        upstream.reply_with(Reply(200, {"Content-Type": "application/vnd.amazon.eventstream"},
                                  bedrock_wire.text_stream(["over ", "TLS"])))
        bedrock = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=f"{url}/v1/bedrock",
                               verify=cert)
        events = list(bedrock.converse_stream(modelId="amazon.nova-pro-v1:0",
                                              messages=[{"role": "user", "content": [{"text": "hi"}]}])["stream"])
        assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e) == \
            "over TLS"
        assert upstream.received[-1].headers["Authorization"] == "Bearer bedrock-key"
    finally:
        stop_gunicorn(process, log)


def test_a_stream_longer_than_the_worker_timeout_is_not_killed(tmp_path, upstream):
    process, log, url = start_gunicorn(tmp_path, {"ARCHESTRA_OPENAI_BASE_URL": upstream.url,
                                                  "ARCHESTRA_WORKER_TIMEOUT": "2"})
    try:
        upstream.reply_with(sse_reply(wire.text_stream([f"{i} " for i in range(10)]), delay=0.5))  # ~5.5 s
        client = openai.OpenAI(api_key="k", base_url=f"{url}/v1/openai", max_retries=0, timeout=30)
        chunks = list(client.chat.completions.create(model="m", stream=True,
                                                     messages=[{"role": "user", "content": "x"}]))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
            "".join(f"{i} " for i in range(10))
        assert "WORKER TIMEOUT" not in (tmp_path / "gunicorn.log").read_text()
    finally:
        stop_gunicorn(process, log)


def test_metrics_aggregate_all_workers_and_sigterm_drains_records(tmp_path, upstream):
    process, log, url = start_gunicorn(tmp_path, {"ARCHESTRA_OPENAI_BASE_URL": upstream.url,
                                                  "ARCHESTRA_WORKERS": "2"})
    try:
        upstream.reply_with(json_reply({"id": "c", "object": "chat.completion", "model": "gpt-4o", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}))
        for _ in range(20):  # new connections: both workers take some
            requests.post(f"{url}/v1/openai/chat/completions", timeout=10, headers={"Connection": "close"},
                          json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]})
        text = requests.get(f"{url}/metrics", timeout=10).text
        total = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                    if line.startswith("archestra_requests_total{") and 'status="200"' in line)
        assert total == 20  # summed over both workers
    finally:
        stop_gunicorn(process, log)  # SIGTERM: workers flush pending records before they exit
    import sqlite3
    with sqlite3.connect(tmp_path / "deploy.db") as connection:
        assert connection.execute("SELECT count(*) FROM interactions").fetchone() == (20,)
