"""Budgets that follow people: limits per person, per team, the default per-person limit, per model; calendar
(day, week, month) and rolling windows; 402 for limits that never reset, 429 + Retry-After otherwise. Exact on a
real two-worker gunicorn (which worker served each request is read from its access log)."""
from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_CEILING, Decimal

import openai
import pytest

from archestra.metering.limits import period_start, seconds_to_reset
from tests.fakes import openai_wire
from tests.fakes.server import json_reply
from tests.test_consistency import ACCESS_FORMAT, Instance  # noqa: F401  (the access log format the test reads)
from tests.test_deployment import start_gunicorn, stop_gunicorn

ASK = [{"role": "user", "content": "hi"}]
COST = (Decimal(44) * Decimal("2.5") + Decimal(16) * 10) / 1_000_000   # one gpt-4o answer: $0.00027


@pytest.fixture
def proxy(make_proxy, idp, upstream):
    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    return make_proxy(oidc_issuer=idp.issuer, oidc_audience=idp.audience, provider_keys={"openai": "sk-held"})


def send(proxy, token: str, model: str = "gpt-4o", **headers: str) -> str:
    client = openai.OpenAI(api_key=token, base_url=proxy.base("openai"), max_retries=0, default_headers=headers)
    try:
        client.chat.completions.create(model=model, messages=ASK)
        return "ok"
    except openai.APIStatusError as error:
        assert error.code == "token_cost_limit_exceeded", error
        return f"{error.status_code} {error.response.headers.get('Retry-After', '-')}"


def limit(proxy, **body) -> dict:
    created = proxy.api("POST", "/limits", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def allowed(proxy, token: str, times: int, **kwargs) -> list[str]:
    results = [send(proxy, token, **kwargs) for _ in range(times)]
    proxy.flush()
    return results


def test_person_limit_that_never_resets_answers_402(proxy, idp):
    ada, bob = idp.token("ada", email="ada@example.com"), idp.token("bob", email="bob@example.com")
    assert send(proxy, ada) == "ok"  # ada exists from her first request on
    person = proxy.api("GET", "/people", params={"email": "ada@example.com"}).json()["data"][0]
    limit(proxy, scope="person", person_id="ada@example.com", max_cost_usd=float(COST * 2))
    assert allowed(proxy, ada, 4) == ["ok", "ok", "402 -", "402 -"]  # counted from the limit's creation
    own = proxy.api("GET", "/limits").json()["data"][0]
    assert proxy.api("GET", f"/limits/{own['id']}/usage").json()["data"] == [
        {"person_id": None, "person_email": None, "used_usd": float(COST * 2)}]
    assert allowed(proxy, bob, 3) == ["ok"] * 3  # someone else's spend is not ada's
    refused = proxy.api("GET", "/interactions", params={"person_id": person["id"],
                                                        "refusal": "token_cost_limit_exceeded"}).json()
    assert refused["total"] == 2


def test_team_day_limit_answers_429_with_retry_after(proxy, idp):
    proxy.api("POST", "/teams", json={"name": "ml", "idp_group": "ml-engineers"})
    limit(proxy, scope="team", team_id="ml", max_cost_usd=float(COST * Decimal("1.5")), period="day")
    first, second = (idp.token(sub, groups=["ml-engineers"]) for sub in ("cy", "dee"))
    assert allowed(proxy, first, 2)[0] == "ok"
    status, retry_after = send(proxy, second).split()
    assert status == "429" and 0 < int(retry_after) <= seconds_to_reset("day") + 5
    assert send(proxy, idp.token("eve", groups=["other"])) == "ok"


def test_default_per_person_limit_counts_each_person_separately(proxy, idp):
    default = limit(proxy, scope="person", max_cost_usd=float(COST * Decimal("1.5")), period="week")
    assert default["person_id"] is None
    for sub in ("p1", "p2"):
        assert allowed(proxy, idp.token(sub, email=f"{sub}@example.com"), 3)[:2] == ["ok", "ok"]
        assert send(proxy, idp.token(sub, email=f"{sub}@example.com")).startswith("429 ")
    # A person with a limit of their own is not under the default.
    proxy.api("POST", "/people", json={"email": "vip@example.com"})
    limit(proxy, scope="person", person_id="vip@example.com", max_cost_usd=1, period="month")
    vip = idp.token("vip", email="vip@example.com")
    assert allowed(proxy, vip, 4) == ["ok"] * 4


def test_rolling_window(proxy, idp):
    created = limit(proxy, scope="person", max_cost_usd=float(COST * Decimal("1.5")), period="rolling",
                    window_seconds=120)
    token = idp.token("roll", email="roll@example.com")
    results = allowed(proxy, token, 3)
    assert results[:2] == ["ok", "ok"]
    status, retry_after = results[2].split()
    # The first charge leaves the window 120 s after it was made: that is when usage drops under the limit.
    assert status == "429" and 100 < int(retry_after) <= 120
    report = proxy.api("GET", f"/limits/{created['id']}/usage").json()
    [row] = report["data"]
    assert row["person_email"] == "roll@example.com" and Decimal(str(row["used_usd"])) == COST * 2


def test_a_model_limit_counts_only_that_model(proxy, idp):
    token = idp.token("mo", email="mo@example.com")
    send(proxy, token)
    limit(proxy, scope="person", person_id="mo@example.com", model="gpt-4o-mini", max_cost_usd=float(COST / 2))
    assert allowed(proxy, token, 2, model="gpt-4o") == ["ok", "ok"]
    assert allowed(proxy, token, 2, model="gpt-4o-mini") == ["ok", "402 -"]
    assert send(proxy, token, model="gpt-4o") == "ok"


def test_limit_validation(proxy):
    for body, code in [({"scope": "person", "person_id": "nobody@example.com", "max_cost_usd": 1}, "unknown_person"),
                       ({"scope": "team", "team_id": "no-such-team", "max_cost_usd": 1}, "unknown_team"),
                       ({"scope": "global", "person_id": "x", "max_cost_usd": 1}, "validation_error"),
                       ({"scope": "global", "period": "rolling", "max_cost_usd": 1}, "validation_error"),
                       ({"scope": "global", "window_seconds": 600, "max_cost_usd": 1}, "validation_error")]:
        response = proxy.api("POST", "/limits", json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (400, code), body


def test_calendar_windows():
    from datetime import datetime, timezone
    sunday = datetime(2026, 12, 6, 23, 30, tzinfo=timezone.utc)
    assert period_start("week", sunday) == datetime(2026, 11, 30, tzinfo=timezone.utc)  # Monday
    assert seconds_to_reset("week", sunday) == 30 * 60
    assert seconds_to_reset("month", datetime(2026, 12, 31, 23, 0, tzinfo=timezone.utc)) == 3600


# -- two workers ------------------------------------------------------------------------------------------
@pytest.fixture(params=["postgresql", "sqlite"])
def gunicorn(request, tmp_path, upstream, idp):
    database = request.getfixturevalue("postgres_url") if request.param == "postgresql" else \
        f"sqlite:///{tmp_path}/deploy.db"
    process, log, url = start_gunicorn(tmp_path, {
        "ARCHESTRA_DATABASE_URL": database, "ARCHESTRA_OPENAI_BASE_URL": upstream.url, "ARCHESTRA_WORKERS": "2",
        "ARCHESTRA_CHAT_OPENAI_API_KEY": "sk-held", "ARCHESTRA_OIDC_ISSUER": idp.issuer,
        "ARCHESTRA_OIDC_AUDIENCE": idp.audience, "GUNICORN_CMD_ARGS": f"--access-logformat '{ACCESS_FORMAT}'"})
    yield Instance(url, tmp_path / "gunicorn.log")
    stop_gunicorn(process, log)


def _client(instance: Instance, token: str) -> openai.OpenAI:
    """Every request on a new connection, so both workers take some."""
    return openai.OpenAI(api_key=token, base_url=f"{instance.url}/v1/openai", max_retries=0, timeout=10,
                         default_headers={"Connection": "close"})


def _outcome(client: openai.OpenAI) -> str:
    try:
        client.chat.completions.create(model="gpt-4o", messages=ASK)
        return "ok"
    except openai.APIStatusError as error:
        return str(error.status_code)


def test_person_and_team_budgets_are_exact_across_two_workers(gunicorn, upstream, idp):
    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    gunicorn.api("POST", "/teams", json={"name": "ml", "idp_group": "ml"})
    budget = Decimal("0.001")
    exact = int((budget / COST).to_integral_value(rounding=ROUND_CEILING))  # 4 answers reach it
    gunicorn.api("POST", "/limits", json={"scope": "team", "team_id": "ml", "max_cost_usd": float(budget),
                                          "period": "day"})
    gunicorn.api("POST", "/limits", json={"scope": "person", "max_cost_usd": float(budget), "period": "rolling",
                                          "window_seconds": 3600})  # the default per-person limit
    offset = gunicorn.log_offset()
    # One at a time, alternating workers: exactly as many as the budget admits, then refusals.
    team = _client(gunicorn, idp.token("t1", email="t1@example.com", groups=["ml"]))
    team_results = [_outcome(team) for _ in range(exact + 6)]
    assert team_results == ["ok"] * exact + ["429"] * 6
    solo = _client(gunicorn, idp.token("solo", email="solo@example.com"))
    solo_results = [_outcome(solo) for _ in range(exact + 6)]
    assert solo_results == ["ok"] * exact + ["429"] * 6
    # Concurrent: the overshoot is bounded by the requests in flight.
    crowd = _client(gunicorn, idp.token("crowd", email="crowd@example.com"))
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda _: _outcome(crowd), range(30)))
    admitted = concurrent.count("ok")
    assert exact <= admitted <= exact + 8 and set(concurrent) <= {"ok", "429"}
    served = gunicorn.served_since(offset, 2 * (exact + 6) + 30)
    assert len({pid for pid, _ in served}) == 2, "a single worker served every request"
    # No usage lost: what the person's interactions cost is what the limit counted.
    # Records land off the request path (each worker's recorder): read until the last one is in, or time out.
    people = gunicorn.api("GET", "/people", params={"email": "crowd@example.com"}).json()["data"]
    expected, deadline = float(COST * admitted), time.monotonic() + 15
    while True:
        spend = gunicorn.api("GET", "/spend", params={"group_by": "person", "person_id": people[0]["id"]}).json()
        billed = spend["data"][0]["billed_usd"] if spend["data"] else 0.0
        if math.isclose(billed, expected, rel_tol=1e-6) or billed > expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert math.isclose(billed, expected, rel_tol=1e-6)
