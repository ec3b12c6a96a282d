"""Console sign-in through the identity provider (the fake IdP with its sign-in page, over real sockets): the
authorization code flow with PKCE, the ID token checked, roles from groups, each role's limits enforced by the
server (not only hidden), the tokens kept as break-glass sign-in, and every way the flow can be tampered with
refused."""
from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from archestra.console.sessions import OIDC, find_session, open_session
from archestra.extensions import db
from tests.conftest import ADMIN_TOKEN
from tests.fakes.idp_login import LoginIdP
from tests.test_console import CSRF, Console, signed_in

GROUPS = {"oidc_admin_groups": "platform-admins", "oidc_operator_groups": "secops",
          "oidc_viewer_groups": "engineering"}


@pytest.fixture
def idp():
    fake = LoginIdP()
    yield fake
    fake.close()


@pytest.fixture
def proxy(make_proxy, idp):
    return make_proxy(oidc_issuer=idp.issuer, oidc_audience=idp.audience, oidc_client_id=idp.client_id,
                      oidc_client_secret=idp.client_secret, **GROUPS)


def start(proxy, next_page: str = "") -> tuple[Console, requests.Response]:
    """A browser-like client sent to the IdP's sign-in page."""
    console = Console(proxy.url)
    assert 'id="oidc-sign-in"' in console.get("/console/sign-in").text
    answer = console.http.get(proxy.url + "/console/sign-in/oidc", params={"next": next_page} if next_page else None,
                              allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    return console, answer


def person(proxy, email: str, groups: str, next_page: str = "") -> tuple[Console, requests.Response]:
    """Sign in at the fake IdP as ``email`` in ``groups``; the answer at the end of the redirects."""
    console, answer = start(proxy, next_page)
    login = console.http.get(answer.headers["Location"], timeout=10)
    request = html.unescape(re.search(r'name="request" value="([^"]+)"', login.text).group(1))
    done = console.http.post(login.url, data={"request": request, "email": email, "groups": groups}, timeout=10)
    found = CSRF.search(done.text)
    console.csrf = found.group(1) if found else ""
    return console, done


def test_the_authorization_request_carries_pkce_state_and_nonce(proxy, idp):
    _, answer = start(proxy)
    target = urlsplit(answer.headers["Location"])
    query = {name: values[0] for name, values in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == idp.login_url
    assert query["response_type"] == "code" and query["client_id"] == idp.client_id
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 20 and len(query["nonce"]) >= 20 and "openid" in query["scope"].split()
    assert query["redirect_uri"] == f"{proxy.url}/console/sign-in/oidc/callback"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console/sign-in/oidc" in cookie
    flow = json.loads(base64.urlsafe_b64decode(answer.cookies["archestra_console_oidc"]))
    assert flow["state"] == query["state"] and flow["nonce"] == query["nonce"]
    assert flow["verifier"] not in answer.headers["Location"]  # only its S256 challenge travels


def test_an_admin_signs_in_and_is_recorded_by_name(proxy):
    console, done = person(proxy, "Ada@Example.com", "platform-admins,engineering", "/console/changes")
    assert done.url == f"{proxy.url}/console/changes" and done.status_code == 200
    assert "ada@example.com" in done.text and "read-only" not in done.text
    assert console.post("/console/profiles", {"name": "By Ada"}).status_code == 302
    entry = proxy.api("GET", "/change-log").json()["data"][0]
    people = proxy.api("GET", "/people").json()["data"]
    assert [p["email"] for p in people] == ["ada@example.com"]  # made on first sight, teams from the groups
    assert entry["actor"] == {"kind": "person", "name": "ada@example.com", "role": "admin",
                              "person_id": people[0]["id"]}
    assert (entry["via"], entry["action"], entry["object_name"]) == ("console", "create", "By Ada")
    page = console.get("/console/changes")
    assert "ada@example.com" in page.text and "By Ada" in page.text


def test_an_operator_changes_policies_and_monitor_mode_and_nothing_else(proxy):
    profile = proxy.api("POST", "/profiles", json={"name": "Guarded", "slug": "guarded"}).json()
    tool = proxy.api("POST", "/tools", json={"profile_id": profile["id"], "name": "send_email"}).json()
    console, done = person(proxy, "grace@example.com", "secops")
    assert '<span class="badge">operator</span>' in done.text
    # Policies and the profile's mode: yes.
    assert console.post(f"/console/tools/{tool['id']}/policies/call", {"action": "block_always", "reason": "no",
                                                                       "cond_key": "", "cond_operator": "",
                                                                       "cond_value": ""}).status_code == 302
    policy = proxy.api("GET", "/tool-call-policies", params={"tool_id": tool["id"]}).json()["data"][0]
    assert console.post(f"/console/profiles/{profile['id']}", {"mode": "monitor", "global_policy": "permissive",
                                                               "name": "Renamed", "slug": "renamed"}).status_code == 302
    after = proxy.api("GET", f"/profiles/{profile['id']}").json()
    assert after["mode"] == "monitor" and (after["name"], after["slug"], after["global_policy"]) == (
        "Guarded", "guarded", None)  # only the mode
    assert console.post(f"/console/policies/call/{policy['id']}/delete").status_code == 302
    # Global monitor mode: yes, and only that of the settings.
    assert console.post("/console/settings", {"mode": "monitor", "global_policy": "permissive"}).status_code == 302
    assert proxy.api("GET", "/settings").json() == {"mode": "monitor", "global_policy": "restrictive"}
    # Keys, limits, prices, profiles, tokens: no (the server refuses, whatever the page shows).
    for path, data in ((f"/console/profiles/{profile['id']}/virtual-keys", {"name": "k"}),
                       (f"/console/profiles/{profile['id']}/limits", {"max_cost_usd": "1"}),
                       (f"/console/profiles/{profile['id']}/token", {}), ("/console/token-prices", {"model": "m"}),
                       ("/console/profiles", {"name": "x"}), (f"/console/profiles/{profile['id']}/delete", {})):
        refused = console.post(path, data)
        assert refused.status_code == 403 and "this takes an admin" in refused.text, path
    page = console.get(f"/console/profiles/{profile['id']}").text
    assert "Issue virtual key" not in page and "Add limit" not in page and "Delete profile" not in page
    assert re.search(r'<input name="name"[^>]*disabled', page) and ">Save</button>" in page
    assert "Add a call policy" in console.get(f"/console/tools/{tool['id']}").text
    kinds = [(e["actor"]["name"], e["actor"]["role"], e["object_type"], e["action"])
             for e in proxy.api("GET", "/change-log", params={"via": "console"}).json()["data"]]
    assert kinds == [("grace@example.com", "operator", "setting", "create"),  # the first time mode is set
                     ("grace@example.com", "operator", "tool_call_policy", "delete"),
                     ("grace@example.com", "operator", "profile", "update"),
                     ("grace@example.com", "operator", "tool_call_policy", "create")]


def test_a_viewer_changes_nothing(proxy):
    profile = proxy.api("POST", "/profiles", json={"name": "Watched"}).json()
    tool = proxy.api("POST", "/tools", json={"profile_id": profile["id"], "name": "fetch"}).json()
    console, done = person(proxy, "linus@example.com", "engineering")
    assert "read-only" in done.text and "linus@example.com" in done.text
    for path in (f"/console/tools/{tool['id']}", f"/console/profiles/{profile['id']}", "/console/replays",
                 "/console/spend", "/console/changes", "/console/settings"):
        page = console.get(path)
        assert page.status_code == 200 and "class=\"danger" not in page.text and ">Save</button>" not in page.text
    for path, data in ((f"/console/profiles/{profile['id']}", {"mode": "monitor"}),
                       (f"/console/tools/{tool['id']}/policies/call", {"action": "block_always"}),
                       ("/console/replays", {"tool": "fetch"})):
        assert console.post(path, data).status_code == 403
    assert proxy.api("GET", "/change-log").json()["total"] == 2  # the admin token's two creates only
    assert console.post("/console/sign-out").status_code == 302
    assert console.http.get(proxy.url + "/console/", allow_redirects=False, timeout=10).status_code == 302


def test_refusals(proxy, idp):
    # In no group with a console role: no session.
    console, done = person(proxy, "mallory@example.com", "contractors")
    assert done.status_code == 403 and "mallory@example.com is in no group" in done.text
    assert "archestra_console" not in console.http.cookies
    # A callback without the flow cookie, or with another state: refused before any code is exchanged.
    console, answer = start(proxy)
    stranger = requests.get(f"{proxy.url}/console/sign-in/oidc/callback", params={"code": "x", "state": "y"},
                            timeout=10, allow_redirects=False)
    assert stranger.status_code == 403 and "not started from this console" in stranger.text
    forged = console.get("/console/sign-in/oidc/callback", params={"code": "x", "state": "not-the-state"})
    assert forged.status_code == 403
    # The identity provider's own refusal is shown, escaped.
    state = parse_qs(urlsplit(answer.headers["Location"]).query)["state"][0]
    denied = console.get("/console/sign-in/oidc/callback", params={"error": "access_denied", "state": state,
                                                                   "error_description": "<b>nope</b>"})
    assert denied.status_code == 401 and "&lt;b&gt;nope&lt;/b&gt;" in denied.text
    # A code replayed (the IdP gives it once) or made up: the exchange fails.
    console, done = person(proxy, "ada@example.com", "platform-admins")
    callback = next(h for h in done.history if "/oidc/callback" in (h.url or ""))
    replay_client = Console(proxy.url)
    replay_client.http.cookies.update({"archestra_console_oidc": callback.request.headers["Cookie"].split(
        "archestra_console_oidc=")[1].split(";")[0]})
    replayed = replay_client.http.get(callback.url, timeout=10, allow_redirects=False)
    assert replayed.status_code == 502 and "archestra_console=" not in replayed.headers.get("Set-Cookie", "")
    # An ID token minted for another sign-in (its nonce is not this flow's): refused.
    console, answer = start(proxy)
    flow = json.loads(base64.urlsafe_b64decode(console.http.cookies["archestra_console_oidc"]))
    console.http.cookies.clear()
    console.http.cookies.set("archestra_console_oidc", base64.urlsafe_b64encode(json.dumps(
        {**flow, "nonce": "another"}).encode()).decode(), path="/console/sign-in/oidc")
    login = console.http.get(answer.headers["Location"], timeout=10)
    request = html.unescape(re.search(r'name="request" value="([^"]+)"', login.text).group(1))
    wrong = console.http.post(login.url, data={"request": request, "email": "ada@example.com",
                                               "groups": "platform-admins"}, timeout=10)
    assert wrong.status_code == 401 and "nonce" in wrong.text


def test_a_disabled_person_is_refused_and_signed_out(proxy):
    signed, done = person(proxy, "eve@example.com", "platform-admins")
    assert done.status_code == 200
    eve = proxy.api("GET", "/people").json()["data"][0]
    assert proxy.api("PATCH", f"/people/{eve['id']}", json={"disabled": True}).status_code == 200
    ended = signed.http.get(f"{proxy.url}/console/", allow_redirects=False, timeout=10)
    assert ended.status_code == 302 and "/console/sign-in" in ended.headers["Location"]
    console, done = person(proxy, "eve@example.com", "platform-admins")
    assert done.status_code == 403 and "eve@example.com is disabled" in done.text
    assert "archestra_console" not in console.http.cookies


def test_the_tokens_stay_as_break_glass_sign_in(proxy):
    admin = signed_in(proxy.url)
    before = admin.http.cookies["archestra_console"]
    assert admin.post("/console/profiles", {"name": "break glass"}).status_code == 302
    entry = proxy.api("GET", "/change-log").json()["data"][0]
    assert entry["actor"]["kind"] == "admin_token" and entry["object_name"] == "break glass"
    # Signing in through the identity provider in the same browser ends the token session it had.
    console, answer = start(proxy)
    console.http.cookies.set("archestra_console", before, path="/console")
    login = console.http.get(answer.headers["Location"], timeout=10)
    request = html.unescape(re.search(r'name="request" value="([^"]+)"', login.text).group(1))
    done = console.http.post(login.url, data={"request": request, "email": "ada@example.com",
                                              "groups": "platform-admins"}, timeout=10)
    assert "ada@example.com" in done.text
    old = requests.get(f"{proxy.url}/console/", cookies={"archestra_console": before}, timeout=10,
                       allow_redirects=False)
    assert old.status_code == 302 and "/console/sign-in" in old.headers["Location"]


def test_without_an_identity_provider_there_is_no_such_sign_in(make_proxy):
    proxy = make_proxy()
    assert "oidc-sign-in" not in requests.get(f"{proxy.url}/console/sign-in", timeout=10).text
    assert requests.get(f"{proxy.url}/console/sign-in/oidc", timeout=10, allow_redirects=False).status_code == 404
    assert signed_in(proxy.url, ADMIN_TOKEN).get("/console/").status_code == 200


def test_a_session_ends_when_its_role_mapping_or_identity_provider_changes(proxy):
    from dataclasses import replace

    settings = proxy.app.extensions["archestra"].settings
    with proxy.app.app_context():
        token = open_session(settings, "operator", kind=OIDC, name="grace@example.com")
        assert find_session(settings, token).name == "grace@example.com"
        assert find_session(replace(settings, oidc_admin_groups=("other",)), token) is not None  # not its role
        assert find_session(replace(settings, oidc_operator_groups=("secops", "more")), token) is None
        assert find_session(replace(settings, oidc_client_id="another-client"), token) is None
        assert find_session(replace(settings, oidc_client_id=None), token) is None
        db.session.remove()


def test_the_callback_url_behind_a_reverse_proxy_and_bad_settings(make_proxy, idp):
    from archestra.config import ConfigError, load_settings

    public = "https://archestra.example.com/console/sign-in/oidc/callback"
    proxy = make_proxy(oidc_issuer=idp.issuer, oidc_audience=idp.audience, oidc_client_id=idp.client_id,
                       oidc_redirect_url=public, **GROUPS)
    _, answer = start(proxy)
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["redirect_uri"] == [public]
    for bad, message in (({"oidc_client_id": "c"}, "ARCHESTRA_OIDC_ISSUER is required"),
                         ({"oidc_issuer": idp.issuer, "oidc_audience": "a", "oidc_client_id": "c",
                           "oidc_redirect_url": "ftp://x/cb"}, "ARCHESTRA_OIDC_REDIRECT_URL")):
        with pytest.raises(ConfigError, match=message):
            load_settings(bad, env={})
    assert "console-secret" not in repr(load_settings({"oidc_client_secret": "console-secret"}, env={}))


def test_a_public_client_signs_in_with_pkce_alone(make_proxy):
    public = LoginIdP(client_secret=None)  # the fake then takes no secret, and still checks the PKCE verifier
    try:
        proxy = make_proxy(oidc_issuer=public.issuer, oidc_audience=public.audience, oidc_client_id=public.client_id,
                           **GROUPS)
        console, done = person(proxy, "ada@example.com", "engineering")
        assert done.status_code == 200 and "ada@example.com" in done.text and "read-only" in done.text
    finally:
        public.close()


def test_a_code_without_its_pkce_verifier_is_worthless(proxy):
    """A code taken on its way back to the console is no use with another verifier: the exchange fails."""
    console, answer = start(proxy)
    flow = json.loads(base64.urlsafe_b64decode(console.http.cookies["archestra_console_oidc"]))
    console.http.cookies.clear()
    console.http.cookies.set("archestra_console_oidc", base64.urlsafe_b64encode(json.dumps(
        {**flow, "verifier": "x" * 64}).encode()).decode(), path="/console/sign-in/oidc")
    login = console.http.get(answer.headers["Location"], timeout=10)
    request = html.unescape(re.search(r'name="request" value="([^"]+)"', login.text).group(1))
    done = console.http.post(login.url, data={"request": request, "email": "ada@example.com",
                                              "groups": "platform-admins"}, timeout=10)
    assert done.status_code == 502 and "refused to exchange the sign-in code" in done.text
    assert "archestra_console" not in console.http.cookies


def test_no_open_redirect_after_sign_in(proxy):
    for target in ("https://evil.example/", "//evil.example/console/", "/console/\\\\evil.example"):
        _, done = person(proxy, "ada@example.com", "platform-admins", target)
        assert done.url == f"{proxy.url}/console/", target
