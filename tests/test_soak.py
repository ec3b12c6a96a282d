"""Soak: 20,000 mixed requests with faults through the proxy as deployed (gunicorn, one gevent worker).

Loopback only and bounded. Afterwards the worker holds no more descriptors than it did after warming up
(plus a small allowance), its memory grew less than the stated bound, it keeps no more upstream connections
than its pool, and every request that reached the chat pipeline was recorded exactly once.
"""
from __future__ import annotations

import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.fakes import openai_wire as wire
from tests.fakes.server import Received, Reply, json_reply, sse_reply
from tests.test_deployment import start_gunicorn, stop_gunicorn

TOTAL = 20_000
THREADS = 16
RSS_BOUND_MIB = 40   # growth allowed from the end of the warm-up to the end of the soak
FD_ALLOWANCE = 20    # descriptors above the warm-up count (pooled connections opened under more concurrency)
# What each request does, in rotation; True: it reaches the chat pipeline and must be recorded.
MIX = [("ok", True), ("ok", True), ("ok", True), ("stream", True), ("html_500", True), ("reset", True),
       ("ok", True), ("bad_json", False), ("unknown_profile", False), ("client_leaves", True), ("ok", True),
       ("stream", True)]


def upstream_answer(request: Received) -> Reply:
    kind = request.json["messages"][0]["content"]
    if kind == "stream" or kind == "client_leaves":
        return sse_reply(wire.text_stream(["a", "b", "c"] * (30 if kind == "client_leaves" else 1)))
    if kind == "html_500":
        return Reply(502, {"Content-Type": "text/html"}, [b"<html><body>Bad gateway</body></html>"])
    if kind == "reset":
        return sse_reply(wire.text_stream(["a", "b", "c", "d"]), reset_after=2)
    return json_reply(wire.completion("fine"))


def send(session: requests.Session, url: str, kind: str) -> str:
    chat = f"{url}/v1/openai/chat/completions"
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": kind}],
            "stream": kind in {"stream", "reset", "client_leaves"}}
    if kind == "bad_json":
        return str(session.post(chat, data=b'{"model": ', headers={"Content-Type": "application/json"},
                                timeout=30).status_code)
    if kind == "unknown_profile":
        return str(session.post(f"{url}/v1/openai/00000000-0000-4000-8000-000000000000/chat/completions",
                                json=body, timeout=30).status_code)
    if kind == "client_leaves":
        response = requests.post(chat, json=body, stream=True, timeout=30)  # its own connection, then dropped
        next(response.iter_content(64))
        response.close()
        return "left"
    response = session.post(chat, json=body, timeout=30)
    if body["stream"]:
        text = response.text
        ending = "error" if "stream broke off" in text else "done" if "data: [DONE]" in text else "cut"
        return f"{response.status_code}:{ending}"
    return str(response.status_code)


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1
    return int(children[0])


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


def upstream_connections(pid: int, port: int) -> int:
    inodes = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    count = 0
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == port and fields[3] == "01" and f"socket:[{fields[9]}]" in inodes:
            count += 1
    return count


def run(url: str, kinds: list[str]) -> Counter:
    local = threading.local()

    def one(kind: str) -> tuple[str, str]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return kind, send(local.session, url, kind)

    with ThreadPoolExecutor(THREADS) as pool:
        return Counter(pool.map(one, kinds))


def test_soak_20000_mixed_requests_with_faults(tmp_path, upstream):
    upstream.reply_with(upstream_answer)
    process, log, url = start_gunicorn(tmp_path, {"ARCHESTRA_OPENAI_BASE_URL": upstream.url})
    try:
        pid = worker_pid(process.pid)
        upstream_port = int(upstream.url.rsplit(":", 1)[1])
        kinds = [MIX[i % len(MIX)][0] for i in range(TOTAL)]
        warmup = 1200
        run(url, kinds[:warmup])
        fds, rss = len(os.listdir(f"/proc/{pid}/fd")), rss_mib(pid)

        outcomes = run(url, kinds[warmup:]) + Counter()
        fds_after, rss_after = len(os.listdir(f"/proc/{pid}/fd")), rss_mib(pid)

        print(f"soak: descriptors {fds} -> {fds_after}, worker RSS {rss:.1f} -> {rss_after:.1f} MiB")
        per_kind = Counter(kinds[warmup:])
        assert outcomes[("ok", "200")] == per_kind["ok"]
        assert outcomes[("stream", "200:done")] == per_kind["stream"]
        assert outcomes[("html_500", "502")] == per_kind["html_500"]
        assert outcomes[("reset", "200:error")] == per_kind["reset"]
        assert outcomes[("bad_json", "400")] == per_kind["bad_json"]
        assert outcomes[("unknown_profile", "404")] == per_kind["unknown_profile"]
        assert outcomes[("client_leaves", "left")] == per_kind["client_leaves"]
        assert fds_after <= fds + FD_ALLOWANCE, f"descriptors {fds} -> {fds_after}"
        assert rss_after - rss < RSS_BOUND_MIB, f"RSS {rss:.1f} -> {rss_after:.1f} MiB"
        assert upstream_connections(pid, upstream_port) <= THREADS + 1

        recorded_kinds = {kind for kind, recorded in MIX if recorded}
        expected = sum(1 for kind in kinds if kind in recorded_kinds)
        total = None
        for _ in range(100):
            total = requests.get(f"{url}/api/interactions?limit=1", headers={"Authorization": "Bearer t"},
                                 timeout=10).json()["total"]
            if total >= expected:
                break
            threading.Event().wait(0.1)
        assert total == expected
    finally:
        stop_gunicorn(process, log)
