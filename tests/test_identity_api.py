"""The management API with identity provider tokens: viewer reads, operator changes policies / tools / templates /
monitor mode / replays, admin everything; people and teams through the API."""
from __future__ import annotations

import pytest
import requests

from archestra.actor import current_actor


@pytest.fixture
def proxy(make_proxy, idp):
    return make_proxy(oidc_issuer=idp.issuer, oidc_audience=idp.audience, oidc_admin_groups="platform",
                      oidc_operator_groups="security,sre", oidc_viewer_groups="eng")


def call(proxy, token: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{proxy.url}/api{path}", headers={"Authorization": f"Bearer {token}"},
                            timeout=10, **kwargs)


def test_roles(proxy, idp):
    profile = proxy.api("POST", "/profiles", json={"name": "agents"}).json()
    viewer = idp.token("v", email="viewer@example.com", groups=["eng"])
    operator = idp.token("o", email="operator@example.com", groups=["eng", "sre"])
    admin = idp.token("a", email="admin@example.com", groups=["platform"])
    tool = {"profile_id": profile["id"], "name": "Bash"}

    assert call(proxy, viewer, "GET", "/profiles").status_code == 200
    assert call(proxy, viewer, "GET", "/interactions").status_code == 200
    refused = call(proxy, viewer, "POST", "/tools", json=tool)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    assert call(proxy, viewer, "PATCH", f"/profiles/{profile['id']}", json={"mode": "monitor"}).status_code == 403

    created = call(proxy, operator, "POST", "/tools", json=tool)
    assert created.status_code == 201, created.text
    policy = call(proxy, operator, "POST", "/tool-call-policies", json={
        "tool_id": created.json()["id"], "action": "block_always", "conditions": [], "reason": "no shell"})
    assert policy.status_code == 201, policy.text
    assert call(proxy, operator, "PATCH", f"/profiles/{profile['id']}", json={"mode": "monitor"}).status_code == 200
    assert call(proxy, operator, "PATCH", f"/profiles/{profile['id']}",
                json={"mode": "enforce", "name": "renamed"}).status_code == 403
    assert call(proxy, operator, "POST", "/profiles", json={"name": "x"}).status_code == 403
    assert call(proxy, operator, "POST", "/limits", json={"scope": "global", "max_cost_usd": 1}).status_code == 403
    assert call(proxy, operator, "POST", "/teams", json={"name": "t"}).status_code == 403

    assert call(proxy, admin, "POST", "/profiles", json={"name": "x"}).status_code == 201
    assert call(proxy, admin, "POST", "/teams", json={"name": "t"}).status_code == 201
    # Every sign-in is a person.
    emails = {p["email"] for p in proxy.api("GET", "/people").json()["data"]}
    assert {"viewer@example.com", "operator@example.com", "admin@example.com"} <= emails


def test_refusals(proxy, idp):
    no_role = call(proxy, idp.token("n", groups=["sales"]), "GET", "/profiles")
    assert (no_role.status_code, no_role.json()["error"]["code"]) == (403, "no_role")
    for token in (idp.token("x", groups=["platform"], lifetime=-300), idp.token("x", groups=["platform"], aud="x"),
                  idp.token("x", groups=["platform"], alg="none"),
                  idp.token("x", groups=["platform"], alg="HS256", key=idp.public_pem())):
        refused = call(proxy, token, "GET", "/profiles")
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "invalid_identity_token")
    assert call(proxy, "nonsense", "GET", "/profiles").status_code == 401
    proxy.api("POST", "/people", json={"email": "gone@example.com", "disabled": True})
    disabled = call(proxy, idp.token("g", email="gone@example.com", groups=["platform"]), "GET", "/profiles")
    assert (disabled.status_code, disabled.json()["error"]["code"]) == (403, "person_disabled")


def test_the_actor_is_the_person(proxy, idp):
    seen = []
    app = proxy.app

    @app.after_request
    def remember(response):
        seen.append(current_actor())
        return response

    call(proxy, idp.token("a", email="admin@example.com", groups=["platform"]), "GET", "/profiles")
    actor = seen[-1]
    assert (actor.kind, actor.name, actor.role) == ("person", "admin@example.com", "admin")
    person = proxy.api("GET", "/people", params={"email": "admin@example.com"}).json()["data"][0]
    assert actor.person_id == person["id"]


def test_people_and_teams_crud(proxy):
    team = proxy.api("POST", "/teams", json={"name": "Payments", "idp_group": "payments"})
    assert team.status_code == 201
    assert proxy.api("POST", "/teams", json={"name": "Payments"}).status_code == 409
    person = proxy.api("POST", "/people", json={"email": "Zoe@Example.com", "name": "Zoe",
                                                "team_ids": ["Payments"]})
    assert person.status_code == 201, person.text
    body = person.json()
    assert body["email"] == "zoe@example.com" and body["teams"][0]["name"] == "Payments"
    assert proxy.api("POST", "/people", json={"email": "zoe@example.com"}).status_code == 409
    bad = proxy.api("POST", "/people", json={"email": "not-an-address"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "validation_error")
    assert proxy.api("POST", "/people", json={"team_ids": ["nope"]}).json()["error"]["code"] == "unknown_team"
    assert proxy.api("GET", f"/teams/{team.json()['id']}").json()["members"] == 1
    assert proxy.api("GET", "/people", params={"team_id": "Payments"}).json()["total"] == 1
    proxy.api("DELETE", f"/teams/{team.json()['id']}")
    assert proxy.api("GET", f"/people/{body['id']}").json()["teams"] == []
    assert proxy.api("DELETE", f"/people/{body['id']}").status_code == 204
