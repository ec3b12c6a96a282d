"""Benchmark: the admin console's pages with 100,000 interactions in the database, timed over HTTP (server side:
the time to the last byte of each page, measured by the client on the same machine).

    python -m bench.console                 # SQLite
    python -m bench.console --postgres      # also PostgreSQL at BENCH_CONSOLE_POSTGRES_URL (dropped, recreated)

Fills a database through the real migrations with 100,000 chat interactions over 30 days (5 profiles, 4 models,
2% with a refused tool call, 40 tools, request and response bodies of a small agent turn), starts gunicorn exactly
as deployed (gunicorn.conf.py, two gevent workers), signs in, and loads each page ``--runs`` times after a warm-up.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from sqlalchemy import create_engine, insert, select, text

from .run import reset_postgres as reset_bench_database

ROOT = Path(__file__).resolve().parent.parent
PORT = 9310
TOKEN = "bench-console-admin"
POSTGRES_URL = os.environ.get("BENCH_CONSOLE_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/archestra_console_bench")
PREVIOUS = "0011_rollout_jobs"  # the revision before the console's migration
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-flash")
PROVIDERS = {"gpt-4o": "openai", "gpt-4o-mini": "openai", "claude-sonnet-4": "anthropic",
             "gemini-2.5-flash": "gemini"}


def migrate(database_url: str, revision: str = "head") -> None:
    sys.path.insert(0, str(ROOT))
    import flask_migrate

    from archestra import create_app

    app = create_app({"database_url": database_url})
    with app.app_context():
        flask_migrate.upgrade(directory=app.extensions["migrate"].directory, revision=revision)


def fill(database_url: str, count: int) -> dict[str, str]:
    """``count`` interactions and their tools and refusals; returns ids the pages are opened with."""
    sys.path.insert(0, str(ROOT))
    from archestra.models import BlockedToolCall, Interaction, Profile

    engine = create_engine(database_url)
    rng = random.Random(21)
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        default = connection.execute(select(Profile.id).where(Profile.is_default.is_(True))).scalar()
        profiles = [(default, "default")]
        for n in range(4):
            pid = str(uuid.uuid4())
            connection.execute(insert(Profile), [{"id": pid, "name": f"agent-{n}", "is_default": False,
                                                   "consider_context_untrusted": False, "require_virtual_key": False,
                                                   "created_at": now, "updated_at": now}])
            profiles.append((pid, f"agent-{n}"))
        tools = []
        for pid, _ in profiles:
            for n in range(8):
                tid = str(uuid.uuid4())
                tools.append(tid)
                # Plain SQL: the columns of the schema before the console's migration (the model has more).
                connection.execute(text("INSERT INTO tools (id, profile_id, name, description, parameters, "
                                        "first_seen_at, last_seen_at) VALUES (:id, :pid, :name, :about, '{}', "
                                        ":first, :last)"), {"id": tid, "pid": pid, "name": f"tool_{n}",
                                                            "about": f"tool {n}", "first": now - timedelta(days=30),
                                                            "last": now})
    batch, blocked_rows, first_blocked = [], [], None
    for i in range(count):
        pid, pname = profiles[i % len(profiles)]
        model = MODELS[i % len(MODELS)]
        when = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        refused = rng.random() < 0.02
        iid = str(uuid.uuid4())
        request = {"model": model, "messages": [{"role": "user", "content": f"Question {i}: summarise the report"}],
                   "tools": [{"type": "function", "function": {"name": "send_email", "parameters": {}}}]}
        response = {"id": f"chatcmpl-{i}", "object": "chat.completion", "model": model, "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Done: " + "x" * 200}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 60, "total_tokens": 180}}
        blocked = [{"tool": "send_email", "arguments": {"to": "x@evil.io"}, "reason": "no"}] if refused else None
        batch.append({"id": iid, "profile_id": pid, "profile_name": pname, "kind": "chat",
                      "provider": PROVIDERS[model], "model": model, "model_used": model, "stream": False,
                      "status_code": 200, "request": request, "response": response, "input_tokens": 120,
                      "output_tokens": 60, "usage_estimated": False, "cost_usd": 0.0009, "duration_ms": 800.0,
                      "time_to_first_token_ms": 300.0, "blocked": blocked, "blocked_count": 1 if refused else 0,
                      "session_id": f"s-{i % 5000}", "created_at": when})
        if refused:
            first_blocked = first_blocked or iid
            blocked_rows.append({"id": str(uuid.uuid4()), "profile_id": pid, "profile_name": pname,
                                 "interaction_id": iid, "provider": PROVIDERS[model], "model": model,
                                 "tool": "send_email", "arguments": {"to": "x@evil.io"}, "reason": "no",
                                 "would_block": False, "created_at": when})
        if len(batch) == 5000 or i == count - 1:
            with engine.begin() as connection:
                connection.execute(insert(Interaction), batch)
                if blocked_rows:
                    connection.execute(insert(BlockedToolCall), blocked_rows)
            batch, blocked_rows = [], []
    # What autovacuum does after a bulk insert (PostgreSQL: the visibility map that index-only scans need).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    engine.dispose()
    return {"profile": profiles[1][0], "tool": tools[8], "interaction": first_blocked or iid}


def start(database_url: str, workdir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHESTRA_")}
    env.update({"ARCHESTRA_DATABASE_URL": database_url, "ARCHESTRA_ADMIN_TOKEN": TOKEN, "ARCHESTRA_WORKERS": "2",
                "ARCHESTRA_BIND": f"127.0.0.1:{PORT}", "ARCHESTRA_LOG_LEVEL": "warning",
                "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics")})
    log = (workdir / "gunicorn.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"], cwd=ROOT,
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{PORT}/readyz", timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not start: " + (workdir / "gunicorn.log").read_text())


def sign_in() -> requests.Session:
    session = requests.Session()
    page = session.get(f"http://127.0.0.1:{PORT}/console/sign-in", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = session.post(f"http://127.0.0.1:{PORT}/console/sign-in", data={"csrf_token": csrf, "token": TOKEN},
                          timeout=10, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return session


def pages(ids: dict[str, str]) -> list[tuple[str, str]]:
    return [
        ("profiles", "/console/"),
        ("profile", f"/console/profiles/{ids['profile']}"),
        ("tools of a profile", f"/console/profiles/{ids['profile']}/tools"),
        ("tool and its policies", f"/console/tools/{ids['tool']}"),
        ("traffic, first page", "/console/traffic"),
        ("traffic, blocked only", "/console/traffic?blocked=true"),
        ("traffic, one profile", f"/console/traffic?profile_id={ids['profile']}"),
        ("traffic, one model, page 20", "/console/traffic?model=gpt-4o-mini&page=20"),
        ("traffic, one session", "/console/traffic?session_id=s-42"),
        ("traffic, page 1000", "/console/traffic?page=1000"),
        ("interaction", f"/console/interactions/{ids['interaction']}"),
        ("spend, 30 days", "/console/spend"),
        ("spend, 90 days, one profile", f"/console/spend?days=90&profile_id={ids['profile']}"),
        ("monitor", "/console/monitor"),
    ]


def measure(session: requests.Session, path: str, runs: int) -> list[float]:
    url = f"http://127.0.0.1:{PORT}{path}"
    for _ in range(3):  # warm-up: connections, caches, the database's pages
        assert session.get(url, timeout=30).status_code == 200, path
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = session.get(url, timeout=30)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, path
    return times


def run(label: str, database_url: str, count: int, runs: int) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        (workdir / "metrics").mkdir()
        if database_url == "sqlite":
            database_url = f"sqlite:///{workdir}/console.db"
        started = time.monotonic()
        # The interactions are written before the console's migration, which fills the daily spend rollup from
        # them (as on an upgraded installation); the write path keeps it up to date from then on.
        migrate(database_url, PREVIOUS)
        ids = fill(database_url, count)
        migrate(database_url)
        print(f"{label}: {count} interactions written in {time.monotonic() - started:.0f} s", file=sys.stderr)
        process = start(database_url, workdir)
        try:
            session = sign_in()
            lines = []
            for name, path in pages(ids):
                times = sorted(measure(session, path, runs))
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                lines.append(f"| {label} | {name} | {statistics.median(times):.1f} | {p95:.1f} | {times[-1]:.1f} |")
                print(lines[-1], file=sys.stderr)
            return lines
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)


def reset_postgres() -> bool:
    return reset_bench_database(POSTGRES_URL)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interactions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--postgres", action="store_true")
    options = parser.parse_args(argv)
    lines = ["| database | page | p50 ms | p95 ms | max ms |", "|---|---|---:|---:|---:|"]
    lines += run("SQLite", "sqlite", options.interactions, options.runs)
    if options.postgres and reset_postgres():
        lines += run("PostgreSQL", POSTGRES_URL, options.interactions, options.runs)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
