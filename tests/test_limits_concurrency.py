"""Cost limits hold under concurrency: two proxy instances sharing one database (the real local PostgreSQL,
and SQLite), many requests in flight. Overshoot stays within the requests in flight, and no usage is lost."""
from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import openai
import psycopg
import pytest

from tests.fakes import openai_wire
from tests.fakes.server import json_reply

ROOT = Path(__file__).resolve().parent.parent
COST = (Decimal(44) * Decimal("2.5") + Decimal(16) * 10) / 1_000_000   # one gpt-4o answer: $0.00027
LIMIT = Decimal("0.001")                                              # the 4th request crosses it
THREADS, REQUESTS = 8, 40


@pytest.fixture(params=["postgresql", "sqlite"])
def shared_database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shared.db"
    return request.getfixturevalue("postgres_url")


def test_limit_holds_across_two_instances(make_proxy, upstream, shared_database):
    first = make_proxy(database_url=shared_database)
    second = make_proxy(database_url=shared_database)
    profile = first.api("POST", "/profiles", json={"name": "capped"}).json()
    first.api("POST", "/limits", json={"scope": "profile", "profile_id": profile["id"],
                                       "max_cost_usd": float(LIMIT), "period": "day"})

    def slow(_request):
        time.sleep(0.05)  # keep requests in flight at the same time
        return json_reply(openai_wire.completion("x"))

    upstream.reply_with(slow)
    clients = [openai.OpenAI(api_key="k", base_url=p.base("openai", profile["id"]), max_retries=0)
               for p in (first, second)]

    def ask(i: int) -> bool:
        try:
            clients[i % 2].chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
            return True
        except openai.RateLimitError as error:
            assert error.code == "token_cost_limit_exceeded"
            return False

    with ThreadPoolExecutor(THREADS) as pool:
        admitted = sum(pool.map(ask, range(REQUESTS)))
    first.flush()
    second.flush()

    sequential = int((LIMIT / COST).to_integral_value(rounding=ROUND_CEILING))  # one at a time: 4
    assert sequential <= admitted <= sequential + THREADS
    limit = first.api("GET", "/limits").json()["data"][0]
    assert Decimal(str(limit["used_usd"])).quantize(Decimal("1e-8")) == (admitted * COST).quantize(Decimal("1e-8"))
    interactions = first.api("GET", "/interactions", params={"profile_id": profile["id"], "status": 200}).json()
    assert interactions["total"] == admitted  # refused requests never reached the upstream (recorded as 429s)
    assert len(upstream.received) == admitted
    assert not ask(0) and not ask(1)  # both instances refuse from now on


def test_migrations_are_safe_when_instances_start_together(postgres_url):
    env = {"ARCHESTRA_DATABASE_URL": postgres_url, "PATH": "/usr/bin:/bin"}
    runs = [subprocess.Popen([sys.executable, "-m", "archestra.upgrade"], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(3)]
    outputs = [run.communicate(timeout=120)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    plain = postgres_url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(plain) as connection:
        from archestra.upgrade import head_revision
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
        assert connection.execute("SELECT count(*) FROM profiles WHERE is_default").fetchone() == (1,)
