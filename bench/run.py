"""Benchmark: the proxy's added cost against a direct call to the same fast fake upstream.

    python -m bench.run [--seconds 10] [--leak-requests 50000] [--idle-streams 1000] [--no-postgres]
                        [--litellm PATH_TO_litellm | --no-litellm] [--write bench/RESULTS.md]

Starts the fake upstream (OpenAI and Anthropic Messages), the proxy under gunicorn exactly as deployed
(gunicorn.conf.py, gevent, one worker, built-in security hooks and interaction recording on) on SQLite and then on
PostgreSQL, and LiteLLM's proxy when it is installed; wrk generates the load from its own process. Chat completions
and the Responses API (direct, stack floor, archestra) are measured side by side in the same run, and so is the Model
Router (the same chat request for an Anthropic model, translated to Anthropic Messages) next to the native chat
route. The proxy is pinned to one core and the load generator and upstream to the other, so "per worker" means one
core.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import consistency, measure
from .report import COMPACTION, DIRECT_MESSAGES, FLOOR, INVOKE, INVOKE_DIRECT, RESPONSES_API, ROUTER, Report

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
UPSTREAM_PORT, PROXY_PORT, FLOOR_PORT, LITELLM_PORT = 9201, 9200, 9202, 9205
CHAT = "/v1/chat/completions"
PROXY_CHAT = "/v1/openai/chat/completions"
RESPONSES = "/v1/responses"
PROXY_RESPONSES = "/v1/openai/responses"
MESSAGES = "/v1/messages"
#: The Model Router's chat completions for the default profile (no profile segment).
PROXY_ROUTER = "/v1/model-router/chat/completions"
#: Bedrock InvokeModel with an Anthropic body (``/invoke``; streamed ``/invoke-with-response-stream``).
INVOKE_PATH = f"/model/{measure.INVOKE_MODEL}/invoke"
PROXY_INVOKE = f"/v1/bedrock{INVOKE_PATH}"
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/archestra_bench")
LITELLM_KEY = "sk-bench-litellm-master-key-0123456789"


def pinning() -> tuple[str | None, str | None]:
    """(cores for the server under test, cores for everything else), when there are two cores to split."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return "1", "0"
    return None, None


SERVER_CPU, LOAD_CPU = pinning()


@contextmanager
def process(command: list[str], env: dict[str, str], log: Path, ready: tuple[int, str] | None = None,
            cpu: str | None = None):
    with log.open("w") as out:
        proc = subprocess.Popen(measure.pinned(command, cpu), env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT, start_new_session=True)
    try:
        if ready:
            measure.wait_http(HOST, ready[0], ready[1])
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def proxy_env(database_url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHESTRA_")}
    env.update({
        "ARCHESTRA_DATABASE_URL": database_url, "ARCHESTRA_OPENAI_BASE_URL": f"http://{HOST}:{UPSTREAM_PORT}/v1",
        # The Model Router's Anthropic upstream: the fake's /v1/messages, with the key the proxy holds.
        "ARCHESTRA_ANTHROPIC_BASE_URL": f"http://{HOST}:{UPSTREAM_PORT}",
        "ARCHESTRA_CHAT_ANTHROPIC_API_KEY": "sk-ant-bench-held-key",
        # Bedrock InvokeModel: the client's Bedrock API key (the bench key) goes on to the fake upstream.
        "ARCHESTRA_BEDROCK_BASE_URL": f"http://{HOST}:{UPSTREAM_PORT}",
        "ARCHESTRA_BIND": f"{HOST}:{PROXY_PORT}", "ARCHESTRA_WORKERS": "1", "ARCHESTRA_ADMIN_TOKEN": "bench-admin",
        # 1,000 idle streams plus the load generator's connections: above gunicorn's default of 1,000.
        "ARCHESTRA_WORKER_CONNECTIONS": "4000", "ARCHESTRA_LOG_LEVEL": "warning",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    })
    return env


def reset_postgres(url: str = POSTGRES_URL) -> bool:
    """Drop and create the bench database at ``url``; False when no PostgreSQL answers."""
    from sqlalchemy import create_engine, text

    base, _, name = url.rpartition("/")
    try:
        engine = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return True
    except Exception as exc:  # noqa: BLE001 - reported, and the PostgreSQL rows are skipped
        print(f"PostgreSQL not available ({exc.__class__.__name__}); skipping its rows", file=sys.stderr)
        return False


def worker_pid(master: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        kids = measure.children(master)
        if kids:
            return kids[0]
        time.sleep(0.2)
    raise RuntimeError("gunicorn started no worker")


@dataclass(frozen=True)
class Target:
    """One request measured: the row's name and API table, where it goes, what it sends, how its stream ends
    (None: not streamed) and the bearer key (None: ``BENCH_KEY`` or a fake provider key)."""

    name: str
    api: str
    path: str
    body: dict
    end: bytes | None
    key: str | None


def targets(name: str, path: str, key: str | None = None, responses: str | None = None, compact: bool = False,
            router: str | None = None, messages: str | None = None, invoke: tuple[str, str] | None = None
            ) -> list[Target]:
    """The chat request at ``path``, then, each right after it so that they see the same machine: with ``router``
    (a virtual key) the Model Router's chat request for an Anthropic model (the ``ROUTER`` rows); with ``messages``
    (its path) the Anthropic Messages request (``DIRECT_MESSAGES``); with ``responses`` (its path) the Responses
    API request, and with ``compact`` its compaction pass (``{responses}/compact``, not streamed); with ``invoke``
    (a row name and the InvokeModel path) Bedrock InvokeModel with an Anthropic body, plain and streamed."""
    found = [Target(name, "chat", path, measure.BODY, measure.DONE, key)]
    if router:
        found.append(Target(ROUTER, "chat", PROXY_ROUTER, measure.ROUTER_BODY, measure.DONE, router))
    if messages:
        found.append(Target(DIRECT_MESSAGES, "chat", messages, measure.MESSAGES_BODY, measure.MESSAGE_STOP, key))
    if invoke:
        # Streamed: the same path's ``-with-response-stream`` (measure._stream_request).
        found.append(Target(invoke[0], "chat", invoke[1], measure.INVOKE_BODY, measure.EVENTSTREAM_END, key))
    if responses:
        found.append(Target(name, RESPONSES_API, responses, measure.RESPONSES_BODY, measure.RESPONSE_COMPLETED, key))
    if responses and compact:
        found.append(Target(name, COMPACTION, f"{responses}/compact", measure.COMPACT_BODY, None, key))
    return found


def load_rows(report: Report, port: int, measured: list[Target], seconds: float, pid: int | None = None) -> None:
    """Latency at concurrency 1, 10, 100; throughput and CPU per request; the targets in turn at each."""
    for target in measured:  # warm-up
        measure.wrk(f"http://{HOST}:{port}{target.path}", 10, 2, cpu=LOAD_CPU, body=target.body, key=target.key)
    for connections in (1, 10, 100):
        for target in measured:
            before = measure.cpu_seconds(pid) if pid else None
            load = measure.wrk(f"http://{HOST}:{port}{target.path}", connections, seconds, cpu=LOAD_CPU,
                               body=target.body, key=target.key)
            cpu_ms = (measure.cpu_seconds(pid) - before) * 1000 / max(load.requests, 1) if pid else None
            report.load(target.name, connections, load, cpu_ms, target.api)


def stream_rows(report: Report, port: int, measured: list[Target], runs: int, pid: int | None = None) -> None:
    """Fast and paced streams of the streamed targets, in turn in each mode; with ``pid``, its CPU per stream."""
    for mode in ("", "paced"):
        for target in measured:
            if target.end is not None:
                before = measure.cpu_seconds(pid) if pid else None
                first, last = measure.stream_times(HOST, port, target.path, runs, mode, target.body, target.end,
                                                   target.key)
                cpu_ms = (measure.cpu_seconds(pid) - before) * 1000 / runs if pid else None
                report.stream(target.name, mode or "fast", first, last, target.api, cpu_ms)


def api_call(method: str, path: str, admin_token: str, body: dict | None = None, key: str | None = None) -> dict:
    """One call to the proxy (its admin API, or with ``key`` as the bearer token); the JSON answer. An HTTP error
    raises with the answer's text."""
    request = urllib.request.Request(
        f"http://{HOST}:{PROXY_PORT}{path}", method=method, data=json.dumps(body).encode() if body else None,
        headers={"Authorization": f"Bearer {key or admin_token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"{method} {path}: {error.code} {error.read().decode(errors='replace')[:1000]}") from None


def router_key(admin_token: str) -> str:
    """A virtual key of the default profile (what the Model Router requires), checked with one router request."""
    default = next(p for p in api_call("GET", "/api/profiles", admin_token)["data"] if p["is_default"])
    key = api_call("POST", "/api/virtual-keys", admin_token, {"profile_id": default["id"], "name": "bench"})["key"]
    answer = api_call("POST", PROXY_ROUTER, admin_token, measure.ROUTER_BODY, key)
    calls = answer["choices"][0]["message"].get("tool_calls") or []
    if [call["function"]["name"] for call in calls] != ["get_weather"]:
        raise RuntimeError(f"the Model Router answered without the get_weather call: {answer}")
    return key


def idle_rows(report: Report, name: str, port: int, path: str, pid: int, count: int) -> None:
    before = measure.rss_mib(pid)
    sockets = measure.open_idle_streams(HOST, port, path, count)
    time.sleep(1)
    after = measure.rss_mib(pid)
    for sock in sockets:
        sock.close()
    report.idle(name, len(sockets), before, after)
    if len(sockets) < count:
        report.note(f"{name} held only {len(sockets)} open streams: stream {len(sockets) + 1} got no first "
                    "event within 10 s.")


def leak_rows(report: Report, name: str, pid: int, total: int, admin_token: str) -> None:
    """About ``total`` requests in five equal rounds; RSS and descriptors after each. Then the exact record check:
    a counted number of requests (none left in flight) against the interactions recorded for them."""
    rounds = 5
    rate = report.loads[(name, 10)][0].rps
    sent = 0
    for index in range(rounds):
        wanted = (total - sent) / (rounds - index)
        seconds = max(1, math.ceil(wanted / rate))  # wrk takes whole seconds
        load = measure.wrk(f"http://{HOST}:{PROXY_PORT}{PROXY_CHAT}", 10, seconds, cpu=LOAD_CPU)
        sent += load.requests
        rate = load.rps
        report.leak(name, index + 1, load.requests, load.errors, measure.rss_mib(pid), measure.open_fds(pid))
    before = _count_interactions(admin_token)
    answered, refused = measure.counted_requests(HOST, PROXY_PORT, PROXY_CHAT, RECORD_CHECK)
    report.recorded(name, answered + refused, _count_interactions(admin_token, before + answered + refused) - before)


#: Requests sent one by one (ten connections) for the exact check of requests answered against interactions recorded.
RECORD_CHECK = 2000


def bench_proxy(report: Report, options, workdir: Path, label: str, database_url: str, full: bool) -> None:
    env = proxy_env(database_url, workdir)
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"]
    with process(command, env, workdir / f"proxy-{label}.log", (PROXY_PORT, "/readyz"), SERVER_CPU) as proc:
        pid = worker_pid(proc.pid)
        name = f"archestra ({label})"
        key = None
        if full:  # the Model Router rows: on the first database only (their name has none)
            try:
                key = router_key(env["ARCHESTRA_ADMIN_TOKEN"])
            except Exception as exc:  # noqa: BLE001 - reported; the native rows are measured all the same
                report.note(f"The Model Router rows were not measured: {exc.__class__.__name__}: {exc}")
                print(f"Model Router setup failed: {exc}", file=sys.stderr)
        measured = targets(name, PROXY_CHAT, responses=PROXY_RESPONSES, compact=True, router=key,
                           invoke=(INVOKE if full else f"{INVOKE} ({label})", PROXY_INVOKE))
        load_rows(report, PROXY_PORT, measured, options.seconds, pid)
        if not full:
            return
        stream_rows(report, PROXY_PORT, measured, options.stream_runs, pid)
        idle_rows(report, name, PROXY_PORT, PROXY_CHAT, pid, options.idle_streams)
        leak_rows(report, name, pid, options.leak_requests, env["ARCHESTRA_ADMIN_TOKEN"])


def _count_interactions(admin_token: str, expected: int | None = None) -> int:
    """The interactions recorded: once ``expected`` are there, or when the count has not moved for 2 s (the
    background writer's last batch is written within a few tens of milliseconds)."""
    count, steady_since = -1, time.monotonic()
    while True:
        now = api_call("GET", "/api/interactions?limit=1", admin_token)["total"]
        if now == expected:
            return now
        if now != count:
            count, steady_since = now, time.monotonic()
        elif time.monotonic() - steady_since >= 2:
            return count
        time.sleep(0.1)


def floor_command() -> list[str]:
    """Flask + gunicorn gevent + requests forwarding the request and nothing more: the stack's own cost."""
    app = f"bench.floor_app:create('http://{HOST}:{UPSTREAM_PORT}/v1')"
    return [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1", "-b", f"{HOST}:{FLOOR_PORT}",
            "--log-level", "warning", app]


def bench_floor(report: Report, options, workdir: Path) -> None:
    """The stack floor's rows (``floor_command``)."""
    command = floor_command()
    with process(command, dict(os.environ), workdir / "floor.log", None, SERVER_CPU) as proc:
        measure.wait_port(HOST, FLOOR_PORT)
        measured = targets(FLOOR, CHAT, responses=RESPONSES)
        load_rows(report, FLOOR_PORT, measured, options.seconds, worker_pid(proc.pid))
        stream_rows(report, FLOOR_PORT, measured, options.stream_runs)


def bench_litellm(report: Report, options, workdir: Path) -> None:
    config = workdir / "litellm.yaml"
    config.write_text("model_list:\n" + "".join(f"""  - model_name: {model}
    litellm_params:
      model: openai/{model}
      api_base: http://{HOST}:{UPSTREAM_PORT}/v1
      api_key: sk-bench-upstream
""" for model in ("gpt-4o", "gpt-4o-paced", "gpt-4o-idle")))
    env = {**os.environ, "LITELLM_MASTER_KEY": LITELLM_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "LITELLM_LOG": "ERROR"}
    command = [options.litellm, "--config", str(config), "--host", HOST, "--port", str(LITELLM_PORT),
               "--num_workers", "1"]
    with process(command, env, workdir / "litellm.log", (LITELLM_PORT, "/health/liveliness"), SERVER_CPU) as proc:
        name = "LiteLLM proxy"
        measured = targets(name, CHAT, key=LITELLM_KEY)
        load_rows(report, LITELLM_PORT, measured, options.seconds, proc.pid)
        stream_rows(report, LITELLM_PORT, measured, options.stream_runs)
        os.environ["BENCH_KEY"] = LITELLM_KEY  # the idle streams
        idle_rows(report, name, LITELLM_PORT, CHAT, proc.pid, options.idle_streams)


def _noting(report: Report, what: str, run, *args) -> None:
    """Run one optional part; a failure becomes a note in the report instead of losing the whole run."""
    try:
        run(*args)
    except Exception as exc:  # noqa: BLE001 - reported in the results
        report.note(f"The {what} run failed: {exc.__class__.__name__}: {exc}")
        print(f"{what} failed: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--leak-requests", type=int, default=50_000)
    parser.add_argument("--idle-streams", type=int, default=1000)
    parser.add_argument("--stream-runs", type=int, default=50)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--litellm", default=shutil.which("litellm"), help="the litellm command, if installed")
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--write", type=Path, help="also write the results as Markdown to this file")
    options = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk); bench/run.sh installs it")

    report = Report(machine=f"{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()},"
                            f" Python {platform.python_version()}, {platform.platform()}",
                    date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), pinned=SERVER_CPU is not None)
    started_load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="archestra-bench-") as tmp:
        workdir = Path(tmp)
        upstream = [sys.executable, "-m", "bench.fake_upstream", "--host", HOST, "--port", str(UPSTREAM_PORT)]
        with process(upstream, dict(os.environ), workdir / "upstream.log", (UPSTREAM_PORT, "/v1/models"), LOAD_CPU):
            name = "direct to upstream"
            measured = targets(name, CHAT, responses=RESPONSES, compact=True, messages=MESSAGES,
                               invoke=(INVOKE_DIRECT, INVOKE_PATH))
            load_rows(report, UPSTREAM_PORT, measured, options.seconds)
            stream_rows(report, UPSTREAM_PORT, measured, options.stream_runs)
            _noting(report, "stack floor", bench_floor, report, options, workdir)
            bench_proxy(report, options, workdir, "SQLite", f"sqlite:///{workdir / 'bench.db'}", full=True)
            if not options.no_postgres and reset_postgres():
                _noting(report, "archestra on PostgreSQL", bench_proxy, report, options, workdir, "PostgreSQL",
                        POSTGRES_URL, False)
            if options.litellm and not options.no_litellm:
                _noting(report, "LiteLLM", bench_litellm, report, options, workdir)
            else:
                report.note("LiteLLM was not measured (pass --litellm PATH, or let bench/run.sh install it).")
    loads = (*started_load, *os.getloadavg())
    busy = max(loads) > (os.cpu_count() or 1)
    report.note("Load average (1, 5, 15 min) at the start: {:.1f}, {:.1f}, {:.1f}; at the end: {:.1f}, {:.1f}, {:.1f}"
                .format(*loads) + (" (above the core count: other processes competed with the benchmark)." if busy
                                   else "."))
    report.note(consistency.summary(consistency.measure()))
    text = report.markdown()
    print(text)
    if options.write:
        options.write.write_text(text)


if __name__ == "__main__":
    main()
