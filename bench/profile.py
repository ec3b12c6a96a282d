"""Profile the proxy's worker under load: CPU per request and a sampling profile (py-spy), in a minute.

    python -m bench.profile [--seconds 10] [--connections 10] [--path /v1/openai/chat/completions] [--invoke |
                            --responses | --compact] [--postgres] [--no-spy]

Starts the fake upstream and the proxy (SQLite, gunicorn as deployed, one worker, pinned as in bench/run.py), warms
up, then runs wrk for ``--seconds`` while py-spy samples the worker (py-spy is not a dependency: ``pip install
py-spy`` to get the profile). Prints the worker's CPU ms per request, the load average, requests answered against
interactions recorded, and the functions where the samples fall (own time and inclusive time, top entries).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from . import measure
from .run import (
    FLOOR_PORT,
    HOST,
    LOAD_CPU,
    POSTGRES_URL,
    PROXY_CHAT,
    PROXY_INVOKE,
    PROXY_PORT,
    PROXY_RESPONSES,
    SERVER_CPU,
    UPSTREAM_PORT,
    _count_interactions,
    floor_command,
    process,
    proxy_env,
    reset_postgres,
    worker_pid,
)


def summary(collapsed: Path, top: int) -> str:
    """Own and inclusive shares of the sampled stacks (py-spy's raw format: ``frame;frame;... count``)."""
    own, inclusive, total = Counter(), Counter(), 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_short(frame) for frame in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive time:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``function (path/to/module.py:line)`` without the line and the site-packages prefix."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/archestra/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--path", default=PROXY_CHAT)
    parser.add_argument("--invoke", action="store_true", help="Bedrock InvokeModel (Anthropic body) instead of chat")
    parser.add_argument("--responses", action="store_true", help="the Responses API instead of chat")
    parser.add_argument("--postgres", action="store_true", help="on PostgreSQL (BENCH_POSTGRES_URL, recreated)")
    parser.add_argument("--compact", action="store_true", help="Responses compaction (Codex's) instead of chat")
    parser.add_argument("--streams", type=int, default=0, help="then this many fast streams, timed")
    parser.add_argument("--record-check", type=int, default=0,
                        help="then this many counted requests against the interactions recorded for them")
    parser.add_argument("--spy-streams", action="store_true",
                        help="sample the --streams runs instead of the wrk load (the per-chunk path)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-spy", action="store_true")
    parser.add_argument("--floor", action="store_true",
                        help="the stack floor (bench/floor_app.py) instead of the proxy: its CPU and profile")
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks in this file")
    options = parser.parse_args(argv)
    body, end = (measure.INVOKE_BODY, measure.EVENTSTREAM_END) if options.invoke else (measure.BODY, measure.DONE)
    if options.invoke:
        options.path = PROXY_INVOKE
    if options.responses:
        body, end, options.path = measure.RESPONSES_BODY, measure.RESPONSE_COMPLETED, PROXY_RESPONSES
    if options.compact:
        body, options.path = measure.COMPACT_BODY, f"{PROXY_RESPONSES}/compact"
    spy = None if options.no_spy else shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    spy = spy if spy and os.path.exists(spy) else None
    with tempfile.TemporaryDirectory(prefix="archestra-profile-") as tmp:
        workdir = Path(tmp)
        upstream = [sys.executable, "-m", "bench.fake_upstream", "--host", HOST, "--port", str(UPSTREAM_PORT)]
        with process(upstream, dict(os.environ), workdir / "upstream.log", (UPSTREAM_PORT, "/v1/models"), LOAD_CPU):
            if options.postgres and not reset_postgres():
                raise SystemExit("PostgreSQL is not available")
            env = proxy_env(POSTGRES_URL if options.postgres else f"sqlite:///{workdir / 'bench.db'}", workdir)
            command, port, ready = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"], \
                PROXY_PORT, (PROXY_PORT, "/readyz")
            if options.floor:
                command, port, ready = floor_command(), FLOOR_PORT, None
                options.path = options.path.replace("/openai", "").replace("/bedrock", "")
            with process(command, env, workdir / "proxy.log", ready, SERVER_CPU) as proc:
                if options.floor:
                    measure.wait_port(HOST, FLOOR_PORT)
                pid = worker_pid(proc.pid)
                url = f"http://{HOST}:{port}{options.path}"
                measure.wrk(url, options.connections, 3, cpu=LOAD_CPU, body=body)  # warm-up
                counting = not options.floor
                recorded = _count_interactions(env["ARCHESTRA_ADMIN_TOKEN"]) if counting else 0
                collapsed = workdir / "profile.txt"
                sampler = None
                spy_command = [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "250", "--nonblocking",
                               "--output", str(collapsed)]
                if spy and not options.spy_streams:
                    sampler = subprocess.Popen([*spy_command, "--duration", str(options.seconds)],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                load_before = os.getloadavg()
                before, threads_before = measure.cpu_seconds(pid), measure.thread_cpu_seconds(pid)
                load = measure.wrk(url, options.connections, options.seconds, cpu=LOAD_CPU, body=body)
                cpu_ms = (measure.cpu_seconds(pid) - before) * 1000 / max(load.requests, 1)
                threads = measure.thread_cpu_seconds(pid)
                loop_ms = (threads.get(pid, 0) - threads_before.get(pid, 0)) * 1000 / max(load.requests, 1)
                if sampler:
                    sampler.wait(60)
                if options.streams:
                    if spy and options.spy_streams:
                        sampler = subprocess.Popen(spy_command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    before = measure.cpu_seconds(pid)
                    first, last = measure.stream_times(HOST, port, options.path, options.streams, "", body, end)
                    stream_cpu = (measure.cpu_seconds(pid) - before) * 1000 / options.streams
                    if sampler and options.spy_streams:
                        sampler.send_signal(signal.SIGINT)
                        sampler.wait(60)
                    print(f"fast streams: first event {first:.3f} ms, last {last:.3f} ms, CPU {stream_cpu:.3f} ms "
                          "per stream")
                recorded = _count_interactions(env["ARCHESTRA_ADMIN_TOKEN"]) - recorded if counting else 0
                if options.record_check and counting:
                    admin = env["ARCHESTRA_ADMIN_TOKEN"]
                    before = _count_interactions(admin)
                    answered, other = measure.counted_requests(HOST, PROXY_PORT, options.path, options.record_check,
                                                               body=body)
                    count = _count_interactions(admin, before + answered + other) - before
                    print(f"record check: {answered} answered 200, {other} other answers, {count} interactions "
                          "recorded" + ("" if count == answered + other else " MISMATCH"))
        print(f"load average before: {load_before[0]:.1f} {load_before[1]:.1f} {load_before[2]:.1f}")
        print(f"c={options.connections} {options.path}: {load.requests} requests ({load.errors} errors), "
              f"{load.rps:.0f} req/s, p50 {load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms, "
              f"worker CPU {cpu_ms:.3f} ms/req; {recorded} interactions recorded")
        # py-spy counts a native thread that waits for the core or the GIL as running: its shares overstate the
        # writer thread. The kernel's own count, per thread:
        print(f"of which the event loop's thread {loop_ms:.3f} ms/req, other threads (the recorder's writer) "
              f"{cpu_ms - loop_ms:.3f} ms/req")
        if sampler and collapsed.exists():
            print(summary(collapsed, options.top))
            if options.raw:
                shutil.copyfile(collapsed, options.raw)


if __name__ == "__main__":
    main()
