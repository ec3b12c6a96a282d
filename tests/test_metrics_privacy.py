"""``/metrics`` on the two-worker gunicorn: without ``ARCHESTRA_METRICS_TOKEN`` anyone who reaches the port may
scrape it, so it shows totals only (no profile id or name; the profile labels read ``all``, the series summed over
profiles and workers); with the token, only a scrape that sends it gets in, and it sees every profile's labels."""
from __future__ import annotations

import openai
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import openai_wire
from tests.fakes.server import json_reply
from tests.live import _start
from tests.test_deployment import stop_gunicorn

HELLO = [{"role": "user", "content": "hi"}]
NAMES = ("payroll-agent-secret", "mergers-team-7")


def _with_traffic(tmp_path_factory, env: dict[str, str]):
    """A two-worker proxy (``env`` added) after traffic on two named profiles: (proxy, the profiles' ids, stop)."""
    upstream, process, log, proxy = _start(tmp_path_factory, None, env)
    upstream.reply_with(json_reply(openai_wire.completion("hi")))
    ids = []
    for name in NAMES:
        pid = proxy.profile(name=name)
        ids.append(pid)
        for _ in range(3):  # fresh connections: both workers serve some
            client = openai.OpenAI(api_key="sk-client", base_url=proxy.base("openai", pid), max_retries=0,
                                   default_headers={"Connection": "close"})
            client.chat.completions.create(model="gpt-4o", messages=HELLO)

    def stop() -> None:
        stop_gunicorn(process, log)
        upstream.close()
    return proxy, ids, stop


@pytest.fixture(scope="module")
def open_scrape(tmp_path_factory):
    proxy, ids, stop = _with_traffic(tmp_path_factory, {})
    yield proxy, ids
    stop()


@pytest.fixture(scope="module")
def token_scrape(tmp_path_factory):
    proxy, ids, stop = _with_traffic(tmp_path_factory, {"ARCHESTRA_METRICS_TOKEN": "scrape-secret"})
    yield proxy, ids
    stop()


def samples(text: str, name: str) -> list:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name == name]


def test_open_metrics_show_totals_only(open_scrape):
    proxy, ids = open_scrape
    text = requests.get(f"{proxy.url}/metrics", timeout=10).text
    for secret in (*ids, *NAMES):
        assert secret not in text
    requests_total = [s for s in samples(text, "archestra_requests_total") if s.labels["provider"] == "openai"]
    assert [s.labels["profile"] for s in requests_total] == ["all"]
    assert requests_total[0].labels["profile_name"] == "all" and requests_total[0].value == 6
    # Histograms stay histograms: summed buckets, and the +Inf bucket is the count.
    buckets = [s for s in samples(text, "archestra_request_duration_seconds_bucket")
               if s.labels["provider"] == "openai"]
    assert buckets and {s.labels["profile"] for s in buckets} == {"all"}
    assert max(s.value for s in buckets) == 6 == next(s.value for s in buckets if s.labels["le"] == "+Inf")
    assert sum(s.value for s in samples(text, "archestra_tokens_total") if s.labels["provider"] == "openai") > 0


def test_with_the_token_metrics_need_it_and_show_each_profile(token_scrape):
    proxy, ids = token_scrape
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-secret"}):
        refused = requests.get(f"{proxy.url}/metrics", headers=headers, timeout=10)
        assert refused.status_code == 401 and not any(secret in refused.text for secret in (*ids, *NAMES))
    text = requests.get(f"{proxy.url}/metrics", headers={"Authorization": "Bearer scrape-secret"}, timeout=10).text
    by_profile = {(s.labels["profile"], s.labels["profile_name"]): s.value
                  for s in samples(text, "archestra_requests_total") if s.labels["provider"] == "openai"}
    assert by_profile == {(ids[0], NAMES[0]): 3, (ids[1], NAMES[1]): 3}
