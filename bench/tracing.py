"""Benchmark: the cost of OpenTelemetry tracing, on (exporting to a local OTLP/HTTP receiver) against off.

    python -m bench.tracing [--seconds 5] [--rounds 3] [--stream-runs 50] [--write FILE]

The proxy runs as in bench/run.py (gunicorn.conf.py, one gevent worker pinned to one core, SQLite); the fake
upstream, wrk and the OTLP receiver (a separate process that accepts and counts export requests) share the other
core. Off and on alternate, ``--rounds`` times, so that what other work the machine does hits both alike; each
row is one wrk run. The proxy's own overhead header (``X-Archestra-Overhead-Duration-Ms``) is sampled over
sequential requests in each mode too, and the cost of one overhead histogram observation (what every exchange
pays for it) is timed in-process.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
import timeit
from datetime import datetime, timezone
from pathlib import Path

from . import measure
from .run import (
    HOST,
    LOAD_CPU,
    PROXY_CHAT,
    PROXY_PORT,
    SERVER_CPU,
    UPSTREAM_PORT,
    process,
    proxy_env,
    worker_pid,
)

SINK_PORT = 9210
SINK = """
import http.server, sys
count = [0, 0]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        size = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(size)
        count[0] += 1; count[1] += size
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def do_GET(self):
        body = f"{count[0]} {count[1]}".encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def sink_counts() -> tuple[int, int]:
    connection = http.client.HTTPConnection(HOST, SINK_PORT, timeout=10)
    connection.request("GET", "/")
    requests, size = connection.getresponse().read().split()
    connection.close()
    return int(requests), int(size)


def overhead_header(count: int) -> float:
    """Median of the proxy's own overhead header over ``count`` sequential requests on one connection."""
    connection = http.client.HTTPConnection(HOST, PROXY_PORT, timeout=30)
    body = json.dumps(measure.BODY)
    values = []
    for _ in range(count):
        connection.request("POST", PROXY_CHAT, body, {"Content-Type": "application/json",
                                                      "Authorization": f"Bearer {measure.KEY}"})
        answer = connection.getresponse()
        answer.read()
        values.append(float(answer.headers["X-Archestra-Overhead-Duration-Ms"]))
    connection.close()
    return statistics.median(values)


def histogram_cost_us() -> float:
    """One observation of the overhead histogram in prometheus-client's multiprocess mode (as under gunicorn)."""
    with tempfile.TemporaryDirectory() as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        from prometheus_client import Histogram

        histogram = Histogram("bench_overhead_seconds", "bench", ("provider", "kind"),
                              buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1))
        runs = 20_000
        seconds = timeit.timeit(lambda: histogram.labels("openai", "chat").observe(0.0004), number=runs)
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
    return seconds / runs * 1e6


def one_mode(workdir: Path, traced: bool, seconds: int, stream_runs: int, round_: int) -> list[dict]:
    env = proxy_env(f"sqlite:///{workdir / f'bench-{round_}-{traced}.db'}", workdir)
    env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
    if traced:
        env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{HOST}:{SINK_PORT}", "OTEL_SERVICE_NAME": "bench"})
    os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"]
    rows = []
    label = "tracing on" if traced else "tracing off"
    exported_before = sink_counts()
    with process(command, env, workdir / f"proxy-{round_}-{traced}.log", (PROXY_PORT, "/readyz"),
                 SERVER_CPU) as proc:
        pid = worker_pid(proc.pid)
        url = f"http://{HOST}:{PROXY_PORT}{PROXY_CHAT}"
        measure.wrk(url, 10, 2, cpu=LOAD_CPU)  # warm-up
        for connections in (1, 10):
            before = measure.cpu_seconds(pid)
            load = measure.wrk(url, connections, seconds, cpu=LOAD_CPU)
            cpu_ms = (measure.cpu_seconds(pid) - before) * 1000 / max(load.requests, 1)
            rows.append({"mode": label, "round": round_, "conc": connections, "rps": load.rps, "p50": load.p50_ms,
                         "p99": load.p99_ms, "cpu": cpu_ms, "errors": load.errors, "requests": load.requests})
        first, last = measure.stream_times(HOST, PROXY_PORT, PROXY_CHAT, stream_runs)
        header = overhead_header(300)
        time.sleep(6)  # the batch processor's schedule (5 s): what these requests made is sent
        exported = sink_counts()
    sent = sum(row["requests"] for row in rows)
    for row in rows:
        row.update({"first": first, "done": last, "header": header,
                    "exports": exported[0] - exported_before[0], "export_kib": (exported[1] - exported_before[1]) /
                    1024, "sent": sent})
    return rows


def markdown(rows: list[dict], histogram_us: float, date: str) -> str:
    lines = [f"## Tracing on and off ({date})", "",
             "`python -m bench.tracing`: one gevent worker pinned to core 1 (SQLite, hooks and recording on); off and "
             "on alternate, each round a fresh proxy. *on*: `OTEL_EXPORTER_OTLP_ENDPOINT` set, every exchange a "
             "span tree (exchange, upstream call, security decisions) sent by the batch processor to a local "
             "OTLP/HTTP receiver in its own process on core 0. Streams: median of fresh connections, 200 chunks. "
             "*header*: median `X-Archestra-Overhead-Duration-Ms` the proxy reported over 300 sequential requests.",
             "", "| mode | round | conc. | req/s | p50 ms | p99 ms | CPU ms/req | stream first ms | stream [DONE] ms "
             "| header ms | errors |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['mode']} | {row['round']} | {row['conc']} | {row['rps']:.0f} | {row['p50']:.3f} | "
                     f"{row['p99']:.3f} | {row['cpu']:.3f} | {row['first']:.3f} | {row['done']:.3f} | "
                     f"{row['header']:.3f} | {row['errors']} |")
    lines += ["", "| mode | conc. | median req/s | median p50 ms | median CPU ms/req | spread of req/s over rounds |",
              "|---|---:|---:|---:|---:|---:|"]
    for mode in ("tracing off", "tracing on"):
        for connections in (1, 10):
            mine = [row for row in rows if row["mode"] == mode and row["conc"] == connections]
            rps = [row["rps"] for row in mine]
            lines.append(f"| {mode} | {connections} | {statistics.median(rps):.0f} | "
                         f"{statistics.median(row['p50'] for row in mine):.3f} | "
                         f"{statistics.median(row['cpu'] for row in mine):.3f} | {min(rps):.0f}-{max(rps):.0f} |")
    exported = [row for row in rows if row["mode"] == "tracing on" and row["conc"] == 1]
    lines += ["", "Export requests the receiver got per traced round (and KiB): " + ", ".join(
        f"{row['exports']} ({row['export_kib']:.0f} KiB for {row['sent']} load requests + streams + header probes)"
        for row in exported) + ".",
        f"One observation of the overhead histogram (prometheus-client multiprocess mode, in-process timeit): "
        f"{histogram_us:.1f} µs per exchange; the header itself is one `time.monotonic()` and one formatted "
        "header: below what these runs can resolve."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="how many times off and on alternate")
    parser.add_argument("--stream-runs", type=int, default=50)
    parser.add_argument("--write", type=Path, help="also write the section as Markdown to this file")
    options = parser.parse_args(argv)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="archestra-bench-tracing-") as tmp:
        workdir = Path(tmp)
        upstream = [sys.executable, "-m", "bench.fake_upstream", "--host", HOST, "--port", str(UPSTREAM_PORT)]
        sink = [sys.executable, "-c", SINK, str(SINK_PORT)]
        with process(upstream, dict(os.environ), workdir / "upstream.log", (UPSTREAM_PORT, "/v1/models"), LOAD_CPU), \
                process(sink, dict(os.environ), workdir / "sink.log", (SINK_PORT, "/"), LOAD_CPU):
            for round_ in range(1, options.rounds + 1):
                for traced in (False, True) if round_ % 2 else (True, False):
                    rows += one_mode(workdir, traced, options.seconds, options.stream_runs, round_)
                    print(rows[-2:], file=sys.stderr)
    text = markdown(rows, histogram_cost_us(), datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    print(text)
    if options.write:
        options.write.write_text(text)


if __name__ == "__main__":
    main()
