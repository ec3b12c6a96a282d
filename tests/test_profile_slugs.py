"""Profiles addressed by a slug in the proxy URL (issue 19), on the two-worker gunicorn: a slug resolves like the
id, a renamed slug stops resolving on the very next request whichever worker serves it, and route paths always
win over slugs."""
from __future__ import annotations

import time

import openai
import pytest
import requests

from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply
from tests.live import live as live_fixture

live = live_fixture  # the two-worker gunicorn, as the fixture ``live``


def chat(live, segment: str) -> requests.Response:
    live.upstream.reply_with(json_reply(wire.completion("hi")))
    return requests.post(f"{live.url}/v1/openai/{segment}/chat/completions", timeout=10,
                         json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                         headers={"Authorization": "Bearer k"})


def test_slug_resolves_and_a_renamed_slug_stops_resolving(live):
    slug = f"support-agent-{time.monotonic_ns()}"
    pid = live.profile(slug=slug)
    assert live.api("GET", f"/profiles/{slug}").json()["id"] == pid  # the API takes it too

    client = openai.OpenAI(api_key="k", base_url=live.base("openai", slug), max_retries=0)
    live.upstream.reply_with(json_reply(wire.completion("hi")))
    assert client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]) \
        .choices[0].message.content == "hi"
    rows = live.eventually(lambda: live.api("GET", "/interactions", params={"profile_id": pid}).json()["data"])
    assert len(rows) == 1
    # The list filters take the slug as the API's other endpoints do (its profile's records, and only those).
    assert live.api("GET", "/interactions", params={"profile_id": slug}).json()["data"] == rows
    assert live.api("GET", "/interactions", params={"profile_id": "no-such-slug"}).json()["data"] == []
    assert live.api("GET", "/blocked-tool-calls", params={"profile_id": slug}).status_code == 200

    # Enough requests to land on both workers, then a rename: the old slug is gone at once, the new one works.
    assert {chat(live, slug).status_code for _ in range(6)} == {200}
    renamed = live.api("PATCH", f"/profiles/{pid}", json={"slug": f"{slug}-v2"})
    assert renamed.status_code == 200 and renamed.json()["slug"] == f"{slug}-v2"
    for _ in range(6):
        gone = chat(live, slug)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "profile_not_found"
        assert chat(live, f"{slug}-v2").status_code == 200
    # Removing the slug leaves the id.
    assert live.api("PATCH", f"/profiles/{pid}", json={"slug": None}).status_code == 200
    assert chat(live, f"{slug}-v2").status_code == 404 and chat(live, pid).status_code == 200


def test_slugs_are_unique_and_well_formed(live):
    slug = f"team-{time.monotonic_ns()}"
    live.profile(slug=slug)
    taken = live.api("POST", "/profiles", json={"name": f"other-{slug}", "slug": slug})
    assert taken.status_code == 409
    for bad in ("Upper", "1starts-with-digit", "ends-", "has_underscore", "x" * 65,
                "12345678-1234-1234-1234-123456789abc"):
        answer = live.api("POST", "/profiles", json={"name": f"bad-{time.monotonic_ns()}", "slug": bad})
        assert answer.status_code == 400, bad


@pytest.mark.parametrize("provider,path", [("openai", "chat/completions"), ("anthropic", "v1/messages")])
def test_route_paths_win_over_slugs_and_unknown_slugs_are_404(live, provider, path):
    # No profile is named "nobody": the path after it is a route, so it is a slug, and unknown.
    answer = requests.post(f"{live.url}/v1/{provider}/nobody/{path}", json={"model": "m", "messages": []},
                           headers={"Authorization": "Bearer k"}, timeout=10)
    assert answer.status_code == 404 and "Profile nobody does not exist" in answer.text
    # The default profile's own route is untouched.
    live.upstream.reply_with(json_reply(wire.completion("hi")))
    assert requests.post(f"{live.url}/v1/openai/chat/completions", headers={"Authorization": "Bearer k"},
                         json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                         timeout=10).status_code == 200


def test_a_slug_addresses_the_openai_get_passthroughs_too(live):
    # OpenAI's GETs pass through whatever their path ("models", "files/..."): there the slug is the profile's
    # when a profile has it, and the request reaches the upstream's own path, recorded on that profile.
    slug = f"lister-{time.monotonic_ns()}"
    pid = live.profile(slug=slug)
    live.upstream.reply_with(json_reply({"object": "list", "data": [
        {"id": "gpt-4o", "object": "model", "created": 1, "owned_by": "openai"}]}))
    client = openai.OpenAI(api_key="k", base_url=live.base("openai", slug), max_retries=0)
    for _ in range(4):
        assert [m.id for m in client.models.list().data] == ["gpt-4o"]
        assert live.upstream.received[-1].method == "GET" and live.upstream.received[-1].path == "/models"
    rows = live.eventually(lambda: live.api("GET", "/interactions", params={"profile_id": pid}).json()["data"])
    assert {row["kind"] for row in rows} == {"passthrough"}
    # A first segment that is no profile's slug is still part of the upstream path.
    live.upstream.reply_with(json_reply({"id": "file-1", "object": "file"}))
    assert requests.get(f"{live.url}/v1/openai/files/file-1", headers={"Authorization": "Bearer k"},
                        timeout=10).json()["id"] == "file-1"
    assert live.upstream.received[-1].path == "/files/file-1"
