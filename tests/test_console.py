"""The admin console without a browser: nothing without a session, CSRF on every form, sessions shared by every
worker and ended by signing out, read-only sessions, and changes made through the console validated and applied
exactly as through the management API."""
from __future__ import annotations

import http.client
import os
import re
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN_TOKEN
from tests.live import live as live_fixture

live = live_fixture
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Console:
    """A browser-like client: a cookie jar and the CSRF token of the last page."""

    def __init__(self, url: str):
        self.url, self.http, self.csrf, self.verify = url, requests.Session(), "", True

    def get(self, path: str, **kwargs) -> requests.Response:
        answer = self.http.get(self.url + path, timeout=10, verify=self.verify, **kwargs)
        found = CSRF.search(answer.text)
        self.csrf = found.group(1) if found else self.csrf
        return answer

    def post(self, path: str, data: dict | None = None, csrf: str | None = None, **kwargs) -> requests.Response:
        body = {"csrf_token": self.csrf if csrf is None else csrf, **(data or {})}
        return self.http.post(self.url + path, data=body, timeout=10, allow_redirects=False, verify=self.verify,
                              **kwargs)

    def sign_in(self, token: str) -> requests.Response:
        self.get("/console/sign-in")
        answer = self.post("/console/sign-in", {"token": token})
        self.get("/console/")
        return answer


def signed_in(url: str, token: str = ADMIN_TOKEN) -> Console:
    console = Console(url)
    assert console.sign_in(token).status_code == 302
    return console


def test_nothing_without_a_session(proxy):
    for path in ("/console/", "/console/traffic", "/console/spend", "/console/settings", "/console/monitor",
                 "/console/replays", "/console/profiles/default"):
        answer = requests.get(proxy.url + path, timeout=10, allow_redirects=False)
        assert answer.status_code == 302 and "/console/sign-in" in answer.headers["Location"], path
    for path in ("/console/profiles", "/console/settings", "/console/token-prices"):
        answer = requests.post(proxy.url + path, data={"name": "x"}, timeout=10, allow_redirects=False)
        assert answer.status_code == 401, path
    assert [p["name"] for p in proxy.api("GET", "/profiles").json()["data"]] == ["default"]
    # / and /ui lead to the console.
    assert requests.get(proxy.url + "/ui", timeout=10, allow_redirects=False).headers["Location"].endswith(
        "/console/")


def test_sign_in_refuses_wrong_tokens_and_forged_forms(proxy):
    console = Console(proxy.url)
    console.get("/console/sign-in")
    for guess in ("guess", "tést"):
        wrong = console.post("/console/sign-in", {"token": guess})
        assert wrong.status_code == 401 and "This is not an admin token." in wrong.text
        console.get("/console/sign-in")
    assert console.post("/console/sign-in", {"token": ADMIN_TOKEN}, csrf="é").status_code == 403
    # A sign-in form posted from another site: no sign-in cookie of ours to match, or a foreign Origin.
    forged = requests.post(proxy.url + "/console/sign-in", data={"csrf_token": "x", "token": ADMIN_TOKEN},
                           timeout=10, allow_redirects=False)
    assert forged.status_code == 403 and "archestra_console" not in forged.cookies
    console.get("/console/sign-in")
    foreign = console.post("/console/sign-in", {"token": ADMIN_TOKEN}, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    # The session cookie: HttpOnly, SameSite, only for the console's paths.
    console.get("/console/sign-in")
    answer = console.post("/console/sign-in", {"token": ADMIN_TOKEN, "next": "https://evil.example/"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/console/"  # never an open redirect
    cookie = answer.headers["Set-Cookie"]
    assert "archestra_console=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/console" in cookie and "Secure" not in cookie  # plain HTTP here; see the TLS test


def test_every_form_needs_the_csrf_token(proxy):
    console = signed_in(proxy.url)
    for token in ("", "0" * 64, "é" * 64):
        answer = console.post("/console/profiles", {"name": "sneaky"}, csrf=token)
        assert answer.status_code == 403 and "CSRF" in answer.text
    # The right token from another site's page is refused too (Origin).
    answer = console.post("/console/profiles", {"name": "sneaky"}, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert [p["name"] for p in proxy.api("GET", "/profiles").json()["data"]] == ["default"]
    # Another session's token does not do either.
    other = signed_in(proxy.url)
    assert console.post("/console/profiles", {"name": "sneaky"}, csrf=other.csrf).status_code == 403
    assert console.post("/console/profiles", {"name": "fine"}).status_code == 302
    assert [p["name"] for p in proxy.api("GET", "/profiles").json()["data"]] == ["default", "fine"]


def test_pages_are_not_framed_or_cached(proxy):
    console = signed_in(proxy.url)
    answer = console.get("/console/")
    assert answer.headers["X-Frame-Options"] == "DENY" and answer.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]


def test_changes_go_through_the_api_s_validation(proxy):
    """The console and the API share schemas and checks: the same errors, shown next to the field."""
    console = signed_in(proxy.url)
    bad = console.post("/console/profiles", {"name": "x", "slug": "Not A Slug"})
    assert bad.status_code == 400 and "String does not match expected pattern." in bad.text
    api = proxy.api("POST", "/profiles", json={"name": "x", "slug": "Not A Slug"})
    assert api.json()["error"]["details"] == {"slug": ["String does not match expected pattern."]}
    assert console.post("/console/profiles", {"name": "dup"}).status_code == 302
    duplicate = console.post("/console/profiles", {"name": "dup"})
    assert duplicate.status_code == 400 and "A profile with this name or slug already exists." in duplicate.text
    # Limits: the same scope checks.
    profile = proxy.api("GET", "/profiles").json()["data"][0]["id"]
    negative = console.post(f"/console/profiles/{profile}/limits", {"max_cost_usd": "-1", "period": "day"})
    assert negative.status_code == 400 and "greater than 0" in negative.text
    assert console.post(f"/console/profiles/{profile}/limits", {"max_cost_usd": "5", "period": "day"}).status_code \
        == 302
    [limit] = proxy.api("GET", "/limits").json()["data"]
    assert (limit["scope"], limit["profile_id"], limit["max_cost_usd"], limit["period"]) == (
        "profile", profile, 5.0, "day")


def test_secrets_are_shown_once(proxy):
    console = signed_in(proxy.url)
    profile = proxy.api("POST", "/profiles", json={"name": "agent"}).json()["id"]
    issued = console.post(f"/console/profiles/{profile}/virtual-keys", {"name": "laptop"})
    key = re.search(r'id="secret-value">(archestra-vk-[^<]+)<', issued.text).group(1)
    assert proxy.api("GET", "/virtual-keys", params={"profile_id": profile}).json()["data"][0]["last4"] == key[-4:]
    assert key not in console.get(f"/console/profiles/{profile}").text
    token = console.post(f"/console/profiles/{profile}/token")
    assert re.search(r'id="secret-value">archestra_', token.text)
    assert proxy.api("GET", f"/profiles/{profile}").json()["requires_token"] is True


def test_read_only_sessions_see_everything_and_change_nothing(make_proxy):
    proxy = make_proxy(console_readonly_token="viewer-token")
    viewer = signed_in(proxy.url, "viewer-token")
    page = viewer.get("/console/")
    assert page.status_code == 200 and "read-only" in page.text and "New profile" not in page.text
    answer = viewer.post("/console/profiles", {"name": "nope"})
    assert answer.status_code == 403 and "read-only" in answer.text
    assert [p["name"] for p in proxy.api("GET", "/profiles").json()["data"]] == ["default"]
    # The read-only token is no admin token for the API.
    assert requests.get(proxy.url + "/api/profiles", headers={"Authorization": "Bearer viewer-token"},
                        timeout=10).status_code == 401
    assert viewer.post("/console/sign-out").status_code == 302
    assert viewer.get("/console/", allow_redirects=False).status_code == 302


def test_a_new_admin_token_ends_old_sessions(make_proxy, tmp_path):
    first = make_proxy()
    console = signed_in(first.url)
    database = first.app.config["SQLALCHEMY_DATABASE_URI"]
    # The same database, restarted with another admin token: the old session is gone.
    second = make_proxy(database_url=database, admin_token="rotated")
    console.url = second.url
    assert console.get("/console/", allow_redirects=False).status_code == 302
    assert signed_in(second.url, "rotated").get("/console/").status_code == 200


def _serving_pid(connection: http.client.HTTPConnection) -> int | None:
    """The process that holds the server side of an open connection (Linux /proc; the tests run as one user)."""
    client_port, server_port = connection.sock.getsockname()[1], connection.sock.getpeername()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
        if (local, remote) == (server_port, client_port):
            inode = fields[9]
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            if inode and os.readlink(fd) == f"socket:[{inode}]":
                return int(fd.parts[2])
        except OSError:
            continue
    return None


def test_session_is_accepted_by_every_worker_and_sign_out_ends_it_everywhere(live):
    """On the two-worker gunicorn: fresh connections land on either worker (checked: which process served each);
    both accept the session while it lasts and neither once it is signed out (the cookie is kept and sent again)."""
    console = signed_in(live.url, "t")
    cookie = f"archestra_console={console.http.cookies['archestra_console']}"
    host, port = live.url.removeprefix("http://").split(":")

    def statuses(count: int) -> tuple[set[int], set[int | None]]:
        codes, workers = set(), set()
        for _ in range(count):
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            connection.request("GET", "/console/traffic", headers={"Cookie": cookie})
            answer = connection.getresponse()
            answer.read()
            codes.add(answer.status)
            workers.add(_serving_pid(connection))
            connection.close()
        return codes, workers

    codes, workers = statuses(40)
    assert codes == {200} and len(workers - {None}) == 2, workers
    profile = live.profile()
    assert console.post(f"/console/profiles/{profile}", {"name": "renamed-on-two-workers", "mode": "monitor"}) \
        .status_code == 302
    assert live.api("GET", f"/profiles/{profile}").json()["mode"] == "monitor"
    assert console.post("/console/sign-out").status_code == 302
    codes, workers = statuses(40)
    assert codes == {302} and len(workers - {None}) == 2, workers


def test_tls_sets_the_secure_flag(make_proxy, tls_cert):
    proxy = make_proxy(tls=tls_cert)
    console = Console(proxy.url)
    console.verify = tls_cert[0]
    console.get("/console/sign-in")
    answer = console.post("/console/sign-in", {"token": ADMIN_TOKEN})
    assert answer.status_code == 302 and "Secure" in answer.headers["Set-Cookie"]


@pytest.mark.parametrize("path", ["/console/traffic?since=yesterday", "/console/traffic?status=999"])
def test_bad_filters_are_explained(proxy, path):
    answer = signed_in(proxy.url).get(path)
    assert answer.status_code == 400 and "must be" in answer.text


def test_spend_adds_up_every_interaction_written_by_either_worker(live):
    """The daily rollup the spend pages read, filled as interactions are written by both workers at once, holds
    exactly the interactions' costs and tokens, per profile and per model."""
    import concurrent.futures

    import openai

    from tests.fakes import openai_wire as wire
    from tests.fakes.server import json_reply

    profile = live.profile()
    live.upstream.reply_with(lambda r: json_reply(wire.completion("ok", usage=(1000, 500))))

    def ask(n: int) -> None:
        client = openai.OpenAI(api_key="k", base_url=live.base("openai", profile), max_retries=0)
        client.chat.completions.create(model=("gpt-4o", "gpt-4o-mini")[n % 2],
                                       messages=[{"role": "user", "content": f"q{n}"}])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(ask, range(40)))
    rows = live.eventually(lambda: (lambda data: data if len(data) == 40 else None)(
        live.api("GET", "/interactions", params={"profile_id": profile, "limit": 100}).json()["data"]))
    expected = sum(row["cost_usd"] for row in rows)
    assert expected > 0
    console = signed_in(live.url, "t")
    page = console.get(f"/console/spend?profile_id={profile}").text
    assert f"total ${expected:.4f}" in page
    # Per model (as sent upstream): half of them each.
    for model in ("gpt-4o", "gpt-4o-mini"):
        assert f"{model}: ${sum(r['cost_usd'] for r in rows if r['model_used'] == model):.4f}" in page
    profile_page = console.get(f"/console/profiles/{profile}").text
    assert f"${expected:.4f}</strong> over 40 interactions, 60000 tokens" in profile_page


def test_migration_fills_the_spend_rollup_from_recorded_interactions(tmp_path):
    """Upgrading an installation that already has interactions: the spend pages show its history at once."""
    from datetime import datetime, timezone

    import flask_migrate
    from sqlalchemy import text

    from archestra import create_app
    from archestra.extensions import db

    app = create_app({"database_url": f"sqlite:///{tmp_path}/old.db"})
    directory = app.extensions["migrate"].directory
    with app.app_context():
        flask_migrate.upgrade(directory=directory, revision="0011_rollout_jobs")
        insert = text("INSERT INTO interactions (id, profile_id, profile_name, kind, provider, model, model_used, "
                      "stream, cost_usd, input_tokens, output_tokens, usage_estimated, blocked_count, created_at) "
                      "VALUES (:id, 'p1', 'one', 'chat', 'openai', 'gpt-4o', :used, 0, :cost, 10, 5, 0, 0, :at)")
        for n, (used, cost, day) in enumerate([("gpt-4o-x", 0.5, 24), ("gpt-4o-x", 0.25, 24), (None, 1.0, 25)]):
            db.session.execute(insert, {"id": f"i{n}", "used": used, "cost": cost,
                                        "at": datetime(2026, 11, day, 23, 59, tzinfo=timezone.utc)})
        db.session.commit()
        flask_migrate.upgrade(directory=directory)
        rows = db.session.execute(text("SELECT day, profile_id, model, profile_name, cost_usd, input_tokens, "
                                       "output_tokens, interactions FROM spend_daily ORDER BY day")).all()
    assert [tuple(row) for row in rows] == [("2026-11-24", "p1", "gpt-4o-x", "one", 0.75, 20, 10, 2),
                                            ("2026-11-25", "p1", "gpt-4o", "one", 1.0, 10, 5, 1)]


def test_monitor_mode_and_replay_through_the_console(proxy, upstream):
    """Switch the default profile to monitor mode in the console, see what would have been refused, then replay a
    policy that allows it over that traffic and read the report; the interaction page renders the conversation
    (the fetched page as a tool result, the call marked would-block) and its raw record as the API gives it."""
    import time

    from tests.security_drivers import PAGE, OpenAIDriver

    driver = OpenAIDriver("openai")
    console = signed_in(proxy.url)
    profile = proxy.api("GET", "/profiles").json()["data"][0]
    form = {"name": profile["name"], "mode": "monitor", "global_policy": "", "metadata_only": ""}
    assert console.post(f"/console/profiles/{profile['id']}", form).status_code == 302
    upstream.reply_with(driver.reply(False, {"to": "evil@attacker.io"}))
    assert driver.ask(proxy, False, with_result=True, result=PAGE).calls == [
        ("send_email", {"to": "evil@attacker.io"})]  # monitor mode: through
    proxy.flush()
    monitor = console.get("/console/monitor").text
    assert "send_email" in monitor and "The context contains untrusted data" in monitor and "1 call went" in monitor

    [row] = proxy.api("GET", "/interactions").json()["data"]
    page = console.get(f"/console/interactions/{row['id']}").text
    assert "would block" in page and 'class="tool-call would-block"' in page
    assert "tool result</span> <strong>fetch_url</strong>" in page and PAGE.replace("<", "&lt;") \
        .replace(">", "&gt;") in page
    raw = console.get(f"/console/interactions/{row['id']}/raw").json()
    assert raw == proxy.api("GET", f"/interactions/{row['id']}").json()

    started = console.post("/console/replays", {"profile_id": profile["id"], "kind": "call", "tool": "send_email",
                                                "action": "allow_when_context_is_untrusted", "cond_key": "to",
                                                "cond_operator": "endsWith", "cond_value": "@attacker.io"})
    assert started.status_code == 302
    deadline = time.monotonic() + 20
    while "Replay done" not in (report := console.get(started.headers["Location"]).text):
        assert time.monotonic() < deadline, report
        time.sleep(0.1)
    assert re.search(r"<dt>Newly allowed</dt><dd><span class=\"badge ok\">1</span>", report)
    # A bad candidate is explained next to its field, and nothing starts.
    refused = console.post("/console/replays", {"kind": "call", "tool": "send_email", "action": "block_always",
                                                "cond_key": "to", "cond_operator": "regex", "cond_value": "(x"})
    assert refused.status_code == 400 and re.search(r'class="condition-row">(?:(?!</div>).)*class="field-error"',
                                                    refused.text, re.S)
    assert len(proxy.api("GET", "/policy-replays").json()["data"]) == 1
