"""What each part of the proxy's own work costs: CPU per request with one part switched off, in process.

    python -m bench.ablation [--requests 3000] [--rounds 5] [--parts all,record,...] [--postgres]

Each variant is a fresh process (``--variant NAME``, below) that builds the app as gunicorn's worker does (gevent's
patches first, the bench's configuration: SQLite, hooks and recording on), sends the bench's chat request through
the app's WSGI callable ``--requests`` times against the fake upstream (bench/fake_upstream.py), waits until every
record is written, and prints the process's CPU per request, every thread counted (the recorder's writer too). The
stack floor (bench/floor_app.py) is measured the same way. Variants run one after the other, ``--rounds`` times
each in turn, and the median is kept: the difference between ``all`` and a variant is what that part costs.

Switching a part off is a diagnostic only (the variants are not configurations of the proxy):

* ``record``: ``record()`` not called (no metrics, no interaction row, no cost counted);
* ``rows``: ``record()`` runs (metrics, the row's values), the recorder's queue drops the job (no row prepared or
  written);
* ``metrics``: the Prometheus children do nothing;
* ``request-hooks``: the request's stage (``on_request`` hooks, tool results judged, server tools gated) skipped;
* ``decisions``: the answer's tool calls not decided (still read).

No gunicorn here (the HTTP parsing is the same for the proxy and the floor), so the figures are lower than
``bench.profile``'s worker CPU; the differences are the same work.
"""
from __future__ import annotations

import sys

if __name__ == "__main__" and "--variant" in sys.argv:  # a variant's process: gevent's patches before any import
    from gevent import monkey

    monkey.patch_all()

import argparse
import io
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from . import measure
from .run import HOST, POSTGRES_URL, ROOT, UPSTREAM_PORT, process, proxy_env, reset_postgres

PARTS = ("floor", "all", "record", "rows", "metrics", "request-hooks", "decisions")


def _switch_off(part: str) -> None:
    """Monkey-patch ``part`` away (see the module's docstring)."""
    import archestra.metering.interactions as interactions
    import archestra.metering.metrics as metrics
    import archestra.proxy as proxy
    import archestra.recorder as recorder

    if part == "record":
        proxy.record = lambda runtime, exchange, trace: None
    elif part == "rows":
        recorder.Recorder.submit = lambda self, job: None
    elif part == "metrics":
        class Nothing:
            def inc(self, *args, **kwargs): pass
            def observe(self, *args, **kwargs): pass
            def set(self, *args, **kwargs): pass
        nothing = Nothing()
        metrics.child = interactions.child = proxy.child = lambda metric, *args, **labels: nothing
    elif part == "request-hooks":
        proxy._apply_request_hooks = lambda runtime, exchange, trace: None
    elif part == "decisions":
        proxy.decide_tool_calls = lambda *args, **kwargs: None
    elif part != "all":
        raise SystemExit(f"unknown part {part!r}")


def _variant(part: str, requests: int) -> None:
    """In this process: the app (or the floor) with ``part`` switched off, ``requests`` requests, CPU printed."""
    if part == "floor":
        from .floor_app import create

        app, path, flush = create(f"http://{HOST}:{UPSTREAM_PORT}/v1"), "/v1/chat/completions", lambda timeout=0: True
    else:
        from archestra import create_app

        _switch_off(part)
        app, path = create_app(), "/v1/openai/chat/completions"
        flush = app.extensions["archestra"].recorder.flush
    body = measure.sdk_json(measure.BODY).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": HOST, "SERVER_PORT": "9000",
               "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": str(len(body)), "HTTP_AUTHORIZATION": f"Bearer {measure.KEY}",
               "HTTP_HOST": f"{HOST}:9000", "REMOTE_ADDR": HOST, "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
               "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False}

    def one() -> None:
        statuses: list[str] = []
        answer = app({**environ, "wsgi.input": io.BytesIO(body)}, lambda status, headers, *_: statuses.append(status))
        data = b"".join(answer)
        getattr(answer, "close", lambda: None)()
        if not statuses[0].startswith("200"):
            raise SystemExit(f"{part}: {statuses[0]} {data[:300]!r}")

    for _ in range(min(300, requests)):  # warm-up: connections, caches, compiled statements
        one()
    flush()
    started = time.process_time()
    for _ in range(requests):
        one()
    if not flush(60):
        raise SystemExit(f"{part}: the records were not written in time")
    print(f"{(time.process_time() - started) / requests * 1e6:.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--postgres", action="store_true", help="on PostgreSQL (BENCH_POSTGRES_URL, recreated)")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # in the child process
    options = parser.parse_args(argv)
    if options.variant:
        return _variant(options.variant, options.requests)
    parts = options.parts.split(",")
    cpu = "1" if (os.cpu_count() or 1) >= 2 else None
    results: dict[str, list[float]] = {part: [] for part in parts}
    with tempfile.TemporaryDirectory(prefix="archestra-ablation-") as tmp:
        workdir = Path(tmp)
        upstream = [sys.executable, "-m", "bench.fake_upstream", "--host", HOST, "--port", str(UPSTREAM_PORT)]
        with process(upstream, dict(os.environ), workdir / "upstream.log", (UPSTREAM_PORT, "/v1/models"),
                     "0" if cpu else None):
            for round_ in range(options.rounds):
                for part in parts:
                    if options.postgres and not reset_postgres():
                        raise SystemExit("PostgreSQL is not available")
                    database = POSTGRES_URL if options.postgres else f"sqlite:///{workdir / f'{round_}-{part}.db'}"
                    env = {**proxy_env(database, workdir), "ARCHESTRA_GENERATION_FILE": str(workdir / "generation")}
                    os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
                    subprocess.run([sys.executable, "-m", "archestra.startup", "--workers", "1"], env=env, cwd=ROOT,
                                   check=True, capture_output=True)
                    done = subprocess.run(measure.pinned([sys.executable, "-m", "bench.ablation", "--variant", part,
                                                          "--requests", str(options.requests)], cpu),
                                          env=env, cwd=ROOT, capture_output=True, text=True)
                    if done.returncode:
                        raise SystemExit(f"{part} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
                    results[part].append(float(done.stdout.split()[-1]))
    whole = statistics.median(results["all"]) if "all" in results else None
    floor = statistics.median(results["floor"]) if "floor" in results else None
    print(f"| switched off | CPU µs/request (median of {options.rounds}) | saved against `all` | runs |")
    print("|---|---:|---:|---|")
    for part in parts:
        median = statistics.median(results[part])
        saved = "" if whole is None or part in ("all", "floor") else f"{whole - median:.0f}"
        print(f"| {part} | {median:.0f} | {saved} | {', '.join(f'{value:.0f}' for value in results[part])} |")
    if whole is not None and floor is not None:
        print(f"\nthe proxy's own work: {whole - floor:.0f} µs a request above the floor ({floor:.0f})")


if __name__ == "__main__":
    main()
