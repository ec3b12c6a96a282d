"""The Model Router on the deployed proxy (gunicorn, two gevent workers): aliases are state shared between
requests, so a change made through the API holds on every worker from the next request on."""
from __future__ import annotations

import openai
import pytest

from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply
from tests.router_support import live_router

REQUESTS = 24  # enough to reach both workers many times over


live = live_router  # the two-worker gunicorn holding a key for every provider


def test_an_alias_change_holds_on_every_worker_from_the_next_request(live):
    profile = live.profile()
    key = live.api("POST", "/virtual-keys", json={"profile_id": profile, "name": "app"}).json()["key"]
    live.upstream.reply_with(lambda request: json_reply(wire.completion(f"served by {request.json['model']}")))
    client = openai.OpenAI(api_key=key, base_url=f"{live.url}/v1/model-router/{profile}", max_retries=0)

    def answers() -> set[str]:
        return {client.chat.completions.create(model="team-default", messages=[{"role": "user", "content": "hi"}])
                .choices[0].message.content for _ in range(REQUESTS)}

    created = live.api("POST", "/model-aliases", json={"name": "team-default", "targets": ["openai:gpt-4o"]})
    assert created.status_code == 201, created.text
    assert answers() == {"served by gpt-4o"}
    changed = live.api("PATCH", f"/model-aliases/{created.json()['id']}", json={"targets": ["mistral:small"]})
    assert changed.status_code == 200, changed.text
    assert answers() == {"served by small"}
    own = live.api("POST", "/model-aliases", json={"name": "team-default", "profile_id": profile,
                                                   "targets": ["vllm:qwen"]})
    assert own.status_code == 201, own.text
    assert answers() == {"served by qwen"}  # the profile's own alias wins over the global one
    assert live.api("DELETE", f"/model-aliases/{own.json()['id']}").status_code == 204
    assert live.api("DELETE", f"/model-aliases/{created.json()['id']}").status_code == 204
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="team-default", messages=[{"role": "user", "content": "hi"}])
