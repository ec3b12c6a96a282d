"""The Model Router's shared state on two instances (gunicorn, two gevent workers each) sharing one PostgreSQL:
an alias changed through one instance holds on the other from the next request, and a Responses conversation
kept by one worker is continued by any other (each turn on a new connection, alternating instances)."""
from __future__ import annotations

import json
import time

import openai
import requests

from tests.fakes import anthropic_wire
from tests.fakes.server import json_reply
from tests.router_support import HELD, SECRET
from tests.test_deployment import start_gunicorn, stop_gunicorn

TURNS = 12
ADMIN = {"Authorization": "Bearer t"}


def test_aliases_and_kept_conversations_hold_across_instances(tmp_path, upstream, postgres_url):
    env = {f"ARCHESTRA_CHAT_{name.upper()}_API_KEY": key for name, key in HELD.items()}
    env.update({"ARCHESTRA_SECRET_KEY": SECRET, "ARCHESTRA_WORKERS": "2", "ARCHESTRA_DATABASE_URL": postgres_url,
                "ARCHESTRA_ANTHROPIC_BASE_URL": upstream.url, "ARCHESTRA_OPENAI_BASE_URL": upstream.url})
    instances = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        instances.append(start_gunicorn(folder, env))
    urls = [url for _, _, url in instances]
    try:
        profile = requests.post(f"{urls[0]}/api/profiles", headers=ADMIN, json={"name": "router"}).json()["id"]
        key = requests.post(f"{urls[0]}/api/virtual-keys", headers=ADMIN,
                            json={"profile_id": profile, "name": "app"}).json()["key"]

        def client(turn: int) -> openai.OpenAI:
            return openai.OpenAI(api_key=key, base_url=f"{urls[turn % 2]}/v1/model-router/{profile}", max_retries=0,
                                 default_headers={"Connection": "close"})

        upstream.reply_with(lambda request: json_reply(anthropic_wire.message([anthropic_wire.text(
            f"turn {len(request.json['messages']) // 2}")])))
        alias = requests.post(f"{urls[0]}/api/model-aliases", headers=ADMIN,
                              json={"name": "smart", "targets": ["anthropic:claude-sonnet-4-5"]})
        assert alias.status_code == 201, alias.text
        previous = None
        for turn in range(TURNS):
            answer = client(turn).responses.create(model="smart", input=f"question {turn}",
                                                   previous_response_id=previous)
            assert answer.output_text == f"turn {turn}"
            previous = answer.id
        sent = upstream.received[-1].json["messages"]
        users = [json.dumps(m["content"]) for m in sent if m["role"] == "user"]
        assert len(users) == TURNS and all(f"question {n}" in users[n] for n in range(TURNS))  # the whole chain
        assert len(sent) == 2 * TURNS - 1

        changed = requests.patch(f"{urls[1]}/api/model-aliases/{alias.json()['id']}", headers=ADMIN,
                                 json={"targets": ["openai:gpt-4o"]})
        assert changed.status_code == 200, changed.text
        time.sleep(0.5)  # the other instance polls the database's configuration generation every 0.1 s
        upstream.reply_with(lambda request: json_reply({"id": "resp_x", "object": "response", "status": "completed"}))
        for turn in range(4):
            requests.post(f"{urls[turn % 2]}/v1/model-router/{profile}/responses", timeout=30,
                          headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                          json={"model": "smart", "input": "hi"})
        assert {q.path for q in upstream.received[-4:]} == {"/responses"}
        assert {json.loads(q.body)["model"] for q in upstream.received[-4:]} == {"gpt-4o"}
    finally:
        for process, log, _ in instances:
            stop_gunicorn(process, log)
