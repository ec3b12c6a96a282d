"""Scale-out: two proxy instances (gunicorn, two gevent workers each) on one PostgreSQL under concurrent load.

Every answered request is recorded exactly once, whichever instance and worker served it, including the
records still queued when both instances are stopped (SIGTERM flushes them).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import requests

from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply
from tests.test_deployment import start_gunicorn, stop_gunicorn

REQUESTS, THREADS = 2000, 16


def test_two_instances_lose_no_interactions(tmp_path, upstream, postgres_url):
    upstream.reply_with(json_reply(wire.completion("ok")))
    instances = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        instances.append(start_gunicorn(folder, {"ARCHESTRA_OPENAI_BASE_URL": upstream.url, "ARCHESTRA_WORKERS": "2",
                                                 "ARCHESTRA_DATABASE_URL": postgres_url}))
    urls = [url for _, _, url in instances]

    def ask(index: int) -> int:
        response = requests.post(f"{urls[index % 2]}/v1/openai/chat/completions", timeout=30,
                                 headers={"X-Archestra-Session-Id": f"s{index}", "Connection": "close"},
                                 json={"model": "gpt-4o", "messages": [{"role": "user", "content": str(index)}]})
        return response.status_code

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            statuses = list(pool.map(ask, range(REQUESTS)))
    finally:
        for process, log, _ in instances:
            stop_gunicorn(process, log)  # no waiting for the writers first: the shutdown must flush them
    assert statuses == [200] * REQUESTS
    with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql")) as connection:
        sessions = connection.execute("SELECT session_id, count(*) FROM interactions GROUP BY session_id").fetchall()
    assert len(sessions) == REQUESTS and {count for _, count in sessions} == {1}
    assert {session for session, _ in sessions} == {f"s{index}" for index in range(REQUESTS)}
