"""The management API for profiles: auth, validation, one error shape, and profiles in proxy URLs."""
from __future__ import annotations

import openai
import pytest
import requests

from archestra.upgrade import head_revision
from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply


def test_requires_the_admin_token(proxy):
    assert proxy.api("GET", "/profiles", headers={"Authorization": ""}).status_code == 401
    wrong = proxy.api("GET", "/profiles", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {"error": {"code": "unauthorized",
                                      "message": "A valid admin token is required (Authorization: Bearer ...)."}}


def test_api_disabled_without_an_admin_token(make_proxy):
    proxy = make_proxy(admin_token=None)
    response = requests.get(f"{proxy.url}/api/profiles", timeout=5)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "admin_api_disabled"


def test_default_profile_always_exists_and_cannot_be_deleted(proxy):
    profiles = proxy.api("GET", "/profiles").json()["data"]
    assert [(p["name"], p["is_default"]) for p in profiles] == [("default", True)]
    response = proxy.api("DELETE", f"/profiles/{profiles[0]['id']}")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "default_profile"


def test_crud(proxy):
    created = proxy.api("POST", "/profiles", json={"name": "support", "consider_context_untrusted": True})
    assert created.status_code == 201
    profile = created.json()
    assert profile["name"] == "support" and profile["consider_context_untrusted"] is True
    assert profile["is_default"] is False

    assert proxy.api("GET", f"/profiles/{profile['id']}").json()["name"] == "support"
    updated = proxy.api("PATCH", f"/profiles/{profile['id']}", json={"name": "support-2"})
    assert updated.json()["name"] == "support-2" and updated.json()["consider_context_untrusted"] is True
    assert len(proxy.api("GET", "/profiles").json()["data"]) == 2

    assert proxy.api("DELETE", f"/profiles/{profile['id']}").status_code == 204
    assert proxy.api("GET", f"/profiles/{profile['id']}").status_code == 404


@pytest.mark.parametrize("body,field", [
    ({}, "name"), ({"name": ""}, "name"), ({"name": 5}, "name"),
    ({"name": "x", "consider_context_untrusted": "maybe"}, "consider_context_untrusted"),
    ({"name": "x", "is_default": True}, "is_default"), ({"name": "x", "colour": "red"}, "colour"),
])
def test_validation_errors_name_the_field(proxy, body, field):
    response = proxy.api("POST", "/profiles", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["details"]


def test_non_json_body_and_duplicates(proxy):
    response = proxy.api("POST", "/profiles", data="nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    assert proxy.api("POST", "/profiles", json={"name": "a"}).status_code == 201
    duplicate = proxy.api("POST", "/profiles", json={"name": "a"})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "conflict"


def test_unknown_api_route_uses_the_error_shape(proxy):
    response = proxy.api("GET", "/nothing-here")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_profile_ids_in_proxy_urls(proxy, upstream):
    upstream.reply_with(json_reply(wire.completion("ok")))
    profile = proxy.api("POST", "/profiles", json={"name": "agents"}).json()

    def ask(profile_id):
        client = openai.OpenAI(api_key="k", base_url=proxy.base("openai", profile_id), max_retries=0)
        return client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])

    assert ask(profile["id"]).choices[0].message.content == "ok"
    assert ask(profile["id"].upper()).choices[0].message.content == "ok"
    with pytest.raises(openai.NotFoundError) as unknown:
        ask("6f1c1a7e-0000-4000-8000-000000000000")
    assert unknown.value.code == "profile_not_found"
    with pytest.raises(openai.NotFoundError) as unknown:
        ask("not-a-profile")  # a slug no profile has (issue 19)
    assert unknown.value.code == "profile_not_found"
    with pytest.raises(openai.BadRequestError) as malformed:
        ask("not_a_profile!")  # neither an id nor a slug
    assert malformed.value.code == "invalid_profile_id"
    proxy.api("DELETE", f"/profiles/{profile['id']}")
    with pytest.raises(openai.NotFoundError):
        ask(profile["id"])


def test_health_and_readiness(proxy):
    assert requests.get(f"{proxy.url}/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(f"{proxy.url}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["schema"] == head_revision()
