"""Consistency: a change acknowledged by the management API is enforced by the very next request on every worker
of the instance (gunicorn, two gevent workers, caches warm), and by other instances on the same PostgreSQL
within 250 ms.

Which worker served each request is read from gunicorn's own access log (its ``%(p)s`` atom, the pid), so the
tests know that both workers answered after each change and that their caches were warm before it.
"""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import openai
import pytest
import requests

from archestra.generation import ConfigCache, ConfigGeneration, SharedCounter
from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply
from tests.test_deployment import start_gunicorn, stop_gunicorn

ADMIN = {"Authorization": "Bearer t"}
ACCESS_FORMAT = "archestra-access %(p)s %(s)s %(U)s"
ACCESS_LINE = re.compile(r"archestra-access <(\d+)> (\d{3}) /v1/")
SEQUENTIAL, CONCURRENT = 70, 30
TOOLS = [{"type": "function", "function": {"name": "send_email", "description": "mail",
                                           "parameters": {"type": "object", "properties": {"to": {"type": "string"}}}}}]
HELLO = [{"role": "user", "content": "hi"}]
UNTRUSTED = [{"role": "user", "content": "hi"},
             {"role": "assistant", "content": None, "tool_calls": [wire.tool_call("fetch_url", {}, "c1")]},
             {"role": "tool", "tool_call_id": "c1", "content": "<html>page</html>"}]


# -- the mechanism ----------------------------------------------------------------------------------------
def test_processes_mapping_the_same_file_share_the_counter(tmp_path):
    path = str(tmp_path / "generation")
    one, other = SharedCounter(path), SharedCounter(path)  # two mappings, as two workers have
    assert one.value() == other.value() == 0
    assert one.bump() == 1
    assert other.value() == 1
    assert other.bump() == 2 and one.value() == 2


def test_a_value_loaded_before_a_change_is_never_served_after_it():
    generation = ConfigGeneration(SharedCounter(), engine=None)
    cache: ConfigCache[str] = ConfigCache(generation, ttl=60)
    database = {"policy": "allow"}

    def load_while_a_change_commits(key: str) -> str:
        value = database[key]  # read before the change...
        database[key] = "block"  # ...which commits and is acknowledged while this load is still running
        generation.changed()
        return value

    assert cache.get("policy", load_while_a_change_commits) == "allow"
    assert cache.get("policy", database.__getitem__) == "block"  # the stale value was not kept
    assert cache.get("policy", lambda key: "not read again") == "block"  # now cached
    generation.changed()
    assert cache.get("policy", lambda key: "reloaded") == "reloaded"


def test_the_poller_follows_the_database_and_drops_caches_when_it_cannot_read_it(tmp_path):
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE config_generation (id INTEGER PRIMARY KEY, generation BIGINT)"))
        connection.execute(text("INSERT INTO config_generation VALUES (1, 0)"))
    counter = SharedCounter()
    generation = ConfigGeneration(counter, engine=lambda: engine, poll_seconds=0.01)

    def moves(within: float = 30, start: int | None = None) -> bool:  # returns at the first move
        start, deadline = counter.value() if start is None else start, time.monotonic() + within
        while time.monotonic() < deadline:
            if counter.value() != start:
                return True
            time.sleep(0.005)
        return False

    before = counter.value()  # read first: the poller's first reading may come before moves() looks
    generation.current()  # starts the poller; its first reading bumps
    try:
        assert moves(start=before)
        time.sleep(0.1)
        assert not moves(0.1)  # nothing changed, nothing dropped
        before = counter.value()
        with engine.begin() as connection:  # another instance's write
            connection.execute(text("UPDATE config_generation SET generation = generation + 1"))
        assert moves(start=before)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE config_generation"))
        assert moves() and moves()  # unreadable: the counter keeps moving, caches are not trusted
    finally:
        generation.stop()


# -- the deployed proxy -----------------------------------------------------------------------------------
class Instance:
    """One gunicorn master with two workers, its admin API and its access log."""

    def __init__(self, url: str, log: Path):
        self.url, self.log = url, log
        self._clients: dict[tuple[str | None, str | None], openai.OpenAI] = {}

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = requests.request(method, f"{self.url}/api{path}", headers=ADMIN, timeout=10, **kwargs)
        assert response.status_code < 300, response.text
        return response

    def client(self, profile: str | None = None, token: str | None = None) -> openai.OpenAI:
        """An SDK client whose every request opens a new connection, so both workers take requests."""
        if (profile, token) not in self._clients:
            headers = {"Connection": "close", **({"X-Archestra-Token": token} if token else {})}
            base = f"{self.url}/v1/openai" + (f"/{profile}" if profile else "")
            self._clients[profile, token] = openai.OpenAI(api_key="k", base_url=base, max_retries=0, timeout=10,
                                                          default_headers=headers)
        return self._clients[profile, token]

    def log_offset(self) -> int:
        return self.log.stat().st_size

    def served_since(self, offset: int, count: int) -> list[tuple[int, int]]:
        """(worker pid, status) of the proxied requests logged after ``offset``, once ``count`` are there."""
        deadline = time.monotonic() + 10
        while True:
            with self.log.open("rb") as handle:
                handle.seek(offset)
                lines = handle.read().decode(errors="replace")
            served = [(int(pid), int(status)) for pid, status in ACCESS_LINE.findall(lines)]
            if len(served) >= count or time.monotonic() > deadline:
                return served
            time.sleep(0.05)


@pytest.fixture
def start(tmp_path, upstream) -> Iterator[Callable[..., Instance]]:
    running = []

    def start_instance(name: str = "a", **env: str) -> Instance:
        folder = tmp_path / name
        folder.mkdir()
        process, log, url = start_gunicorn(folder, {"ARCHESTRA_OPENAI_BASE_URL": upstream.url,
                                                    "ARCHESTRA_WORKERS": "2",
                                                    "GUNICORN_CMD_ARGS": f"--access-logformat '{ACCESS_FORMAT}'",
                                                    **env})
        running.append((process, log))
        return Instance(url, folder / "gunicorn.log")

    yield start_instance
    for process, log in running:
        stop_gunicorn(process, log)


def outcome(client: openai.OpenAI, messages: list[dict]) -> str:
    """What the client got: ``allowed`` (the tool call), ``blocked`` (the refusal text), or an error."""
    try:
        message = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS).choices[0].message
    except openai.APIStatusError as error:
        return f"{error.status_code} {error.code}"
    if message.tool_calls:
        return "allowed"
    assert "denied by a tool invocation policy" in (message.content or ""), message.content
    return "blocked"


def sender(client: openai.OpenAI) -> Callable[[int], str]:
    """A plain chat through ``client``: ``ok``, or the error's status and code."""
    def send(_index: int = 0) -> str:
        try:
            client.chat.completions.create(model="gpt-4o", messages=HELLO)
            return "ok"
        except openai.APIStatusError as error:
            return f"{error.status_code} {error.code}"
    return send


def burst(instance: Instance, send: Callable[[int], str]) -> list[str]:
    """Sequential requests then concurrent ones, all on new connections; both workers must have served some."""
    offset = instance.log_offset()
    results = [send(index) for index in range(SEQUENTIAL)]
    with ThreadPoolExecutor(10) as pool:
        results += pool.map(send, range(SEQUENTIAL, SEQUENTIAL + CONCURRENT))
    served = instance.served_since(offset, SEQUENTIAL + CONCURRENT)
    assert len(served) == SEQUENTIAL + CONCURRENT
    pids = {pid for pid, _ in served}
    assert len(pids) == 2, f"a single worker served all {len(served)} requests: {pids}"
    return results


def same(results: list[str], expected: str) -> None:
    wrong = [(index, got) for index, got in enumerate(results) if got != expected]
    assert not wrong, f"{len(wrong)} of {len(results)} requests were not {expected!r}, first: {wrong[:5]}"


def tool_calls_upstream(upstream) -> None:
    upstream.reply_with(json_reply(wire.completion(None, [wire.tool_call("send_email", {"to": "a@b.c"})])))


def discover_tool(instance: Instance) -> str:
    """Make the proxy record the tool (background writer), and return its id."""
    outcome(instance.client(), HELLO)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        tools = instance.api("GET", "/tools", params={"name": "send_email"}).json()["data"]
        if tools:
            return tools[0]["id"]
        time.sleep(0.05)
    pytest.fail("the tool was never recorded")


def test_policy_and_setting_changes_apply_to_the_next_request_on_every_worker(start, upstream):
    proxy = start()
    tool_calls_upstream(upstream)
    tool = discover_tool(proxy)
    client = proxy.client()

    same(burst(proxy, lambda _: outcome(client, HELLO)), "allowed")  # both workers cache "no policy"
    policy = proxy.api("POST", "/tool-call-policies", json={"tool_id": tool, "action": "block_always",
                                                            "reason": "no mail"}).json()
    same(burst(proxy, lambda _: outcome(client, HELLO)), "blocked")

    proxy.api("DELETE", f"/tool-call-policies/{policy['id']}")
    same(burst(proxy, lambda _: outcome(client, HELLO)), "allowed")

    same(burst(proxy, lambda _: outcome(client, UNTRUSTED)), "blocked")  # restrictive: untrusted context
    proxy.api("PATCH", "/settings", json={"global_policy": "permissive"})
    same(burst(proxy, lambda _: outcome(client, UNTRUSTED)), "allowed")
    proxy.api("PATCH", "/settings", json={"global_policy": "restrictive"})
    same(burst(proxy, lambda _: outcome(client, UNTRUSTED)), "blocked")


def test_a_rotated_profile_token_is_refused_at_once_everywhere(start, upstream):
    proxy = start()
    upstream.reply_with(json_reply(wire.completion("ok")))
    profile = proxy.api("POST", "/profiles", json={"name": "guarded"}).json()["id"]

    def ask(token: str | None) -> Callable[[int], str]:
        return sender(proxy.client(profile, token))

    old = proxy.api("POST", f"/profiles/{profile}/token").json()["token"]
    same(burst(proxy, ask(old)), "ok")
    new = proxy.api("POST", f"/profiles/{profile}/token").json()["token"]
    old_refused, new_accepted = ask(old), ask(new)
    results = burst(proxy, lambda index: old_refused(index) if index % 2 else new_accepted(index))
    same(results[1::2], "401 invalid_profile_token")
    same(results[0::2], "ok")

    proxy.api("DELETE", f"/profiles/{profile}/token")
    same(burst(proxy, ask(None)), "ok")


def test_a_new_limit_counts_from_the_next_request_on_every_worker(start, upstream):
    proxy = start()
    upstream.reply_with(json_reply(wire.completion("ok")))  # gpt-4o, 44 + 16 tokens: $0.00027
    profile = proxy.api("POST", "/profiles", json={"name": "capped"}).json()["id"]
    send = sender(proxy.client(profile))

    same(burst(proxy, send), "ok")  # both workers cache "no limit exists"
    proxy.api("POST", "/limits", json={"scope": "profile", "profile_id": profile, "max_cost_usd": 0.0001,
                                       "period": "day"})  # a total limit answers 402
    # The first request is admitted and counted; a worker that still believed no limit existed would admit
    # more, and would not even count them.
    results = burst(proxy, send)
    assert results[0] == "ok"
    same(results[1:], "429 token_cost_limit_exceeded")


def test_another_instance_on_the_same_postgresql_follows_within_250_ms(start, upstream, postgres_url):
    first = start("a", ARCHESTRA_DATABASE_URL=postgres_url)
    second = start("b", ARCHESTRA_DATABASE_URL=postgres_url)
    tool_calls_upstream(upstream)
    tool = discover_tool(first)
    probe = second.client()
    assert outcome(probe, HELLO) == "allowed"

    delays, offset, policy = [], second.log_offset(), None
    for _ in range(30):
        for _ in range(20):  # both workers of the second instance answer, caches warm
            assert outcome(probe, HELLO) == ("allowed" if policy is None else "blocked")
        if policy is None:
            policy = first.api("POST", "/tool-call-policies", json={"tool_id": tool, "action": "block_always"}
                               ).json()["id"]
        else:
            first.api("DELETE", f"/tool-call-policies/{policy}")
            policy = None
        acknowledged = time.monotonic()
        expected = "allowed" if policy is None else "blocked"
        # Probe for a while; the change took effect when every answer from then on is the new one.
        probes: list[tuple[float, str]] = []
        while time.monotonic() - acknowledged < 0.4 or len(probes) < 50:
            started = time.monotonic()
            probes.append((started, outcome(probe, HELLO)))
        stale = [index for index, (_, got) in enumerate(probes) if got != expected]
        assert not stale or stale[-1] < len(probes) - 10, f"still stale at the end of the window: {probes[-10:]}"
        delays.append(probes[stale[-1] + 1][0] - acknowledged if stale else 0.0)
    assert len({pid for pid, _ in second.served_since(offset, 1)}) == 2

    delays.sort()
    p50, p99 = delays[len(delays) // 2], delays[-1]  # 30 samples: the 99th percentile is the largest
    print(f"\npropagation to the other instance over {len(delays)} changes: p50 {p50 * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms, all: {[round(d * 1000) for d in delays]}")
    assert p99 < 0.25, f"p99 {p99 * 1000:.0f} ms; all: {[round(d * 1000) for d in delays]}"
