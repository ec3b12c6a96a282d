"""Errors that say what to do: a wrong base URL, an unknown provider, an unreachable upstream, a bad setting, a
misspelt variable; ``--help`` on every command; ``/metrics`` behind its token."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import anthropic
import openai
import pytest
import requests

from archestra.config import ConfigError, load_settings, unknown_variables
from archestra.providers import PROVIDERS
from archestra.startup import database_location
from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply

ROOT = Path(__file__).resolve().parent.parent
ASK = [{"role": "user", "content": "hi"}]


def test_openai_sdk_pointed_at_the_proxys_root_is_told_the_base_url(proxy):
    client = openai.OpenAI(api_key="k", base_url=f"{proxy.url}/v1", max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=ASK)
    assert caught.value.code == "wrong_base_url"
    assert f"{proxy.url}/v1/openai" in caught.value.message


def test_anthropic_sdk_pointed_at_the_proxys_root_is_told_the_base_url(proxy):
    client = anthropic.Anthropic(api_key="k", base_url=proxy.url, max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="claude-x", max_tokens=10, messages=ASK)
    assert f"{proxy.url}/v1/anthropic" in str(caught.value)


def test_unknown_provider_lists_the_providers(proxy):
    answer = requests.post(f"{proxy.url}/v1/foo/chat/completions", json={}, timeout=10)
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "unknown_provider" and "'foo'" in error["message"]
    assert all(provider.name in error["message"] for provider in PROVIDERS)


def test_unreachable_upstream_is_named_without_the_key(make_proxy):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    proxy = make_proxy(base_urls={"gemini": f"http://127.0.0.1:{closed}"})
    answer = requests.post(f"{proxy.url}/v1/gemini/v1beta/models/m:generateContent?key=AIza-secret-key",
                           json={"contents": [{"parts": [{"text": "hi"}]}]}, timeout=10)
    assert answer.status_code == 502
    assert f"127.0.0.1:{closed}" in answer.text and "AIza-secret-key" not in answer.text


def test_metrics_token_and_profile_name_label(make_proxy, upstream):
    proxy = make_proxy(metrics_token="scrape-secret")
    upstream.reply_with(json_reply(wire.completion("hi")))
    openai.OpenAI(api_key="k", base_url=proxy.base("openai"), max_retries=0).chat.completions.create(
        model="gpt-4o", messages=ASK)
    refused = requests.get(f"{proxy.url}/metrics", timeout=10)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.get(f"{proxy.url}/metrics", headers={"Authorization": "Bearer wrong"}, timeout=10
                        ).status_code == 401
    scraped = requests.get(f"{proxy.url}/metrics", headers={"Authorization": "Bearer scrape-secret"}, timeout=10)
    assert scraped.status_code == 200
    assert any(line.startswith("archestra_requests_total{") and 'profile_name="default"' in line
               for line in scraped.text.splitlines())


@pytest.mark.parametrize("variable, value, says", [
    ("ARCHESTRA_MAX_BODY_BYTES", "32MB",
     "ARCHESTRA_MAX_BODY_BYTES must be a whole number of bytes (e.g. 33554432 for 32 MiB), got '32MB'"),
    ("ARCHESTRA_UPSTREAM_READ_TIMEOUT", "10m",
     "ARCHESTRA_UPSTREAM_READ_TIMEOUT must be a number of seconds (e.g. 30 or 0.5), got '10m'"),
    ("ARCHESTRA_PROFILE_CACHE_SECONDS", "-1", "ARCHESTRA_PROFILE_CACHE_SECONDS must not be negative"),
    ("ARCHESTRA_LOG_FORMAT", "yaml", "ARCHESTRA_LOG_FORMAT must be text or json, got 'yaml'"),
    ("ARCHESTRA_TRACE_CONTENT", "maybe", "ARCHESTRA_TRACE_CONTENT must be true or false, got 'maybe'"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318",
     "OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT must be an http(s) URL"),
])
def test_configuration_errors_name_the_variable(variable, value, says):
    with pytest.raises(ConfigError) as caught:
        load_settings(env={variable: value})
    assert says in str(caught.value)


def test_tracing_follows_the_standard_variables():
    assert load_settings(env={}).otel_traces_endpoint is None
    assert load_settings(env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}).otel_traces_endpoint == \
        "http://c:4318/v1/traces"
    assert load_settings(env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                              "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:9/x"}).otel_traces_endpoint == "http://t:9/x"
    assert load_settings(env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                              "OTEL_SDK_DISABLED": "true"}).otel_traces_endpoint is None
    assert load_settings(env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                              "OTEL_TRACES_EXPORTER": "none"}).otel_traces_endpoint is None
    with pytest.raises(ConfigError, match="http/protobuf"):
        load_settings(env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


def test_misspelt_variables_get_the_closest_known_name():
    found = dict(unknown_variables({"ARCHESTRA_ADMIN_TOKN": "x", "ARCHESTRA_OPENAI_BASEURL": "x",
                                    "ARCHESTRA_CHAT_OPENAI_APIKEY": "x", "ARCHESTRA_WHATEVER_ELSE": "x",
                                    "ARCHESTRA_ADMIN_TOKEN": "x", "ARCHESTRA_CONTROL_SOCKET": "off", "HOME": "/"}))
    assert found == {"ARCHESTRA_ADMIN_TOKN": "ARCHESTRA_ADMIN_TOKEN",
                     "ARCHESTRA_OPENAI_BASEURL": "ARCHESTRA_OPENAI_BASE_URL",
                     "ARCHESTRA_CHAT_OPENAI_APIKEY": "ARCHESTRA_CHAT_OPENAI_API_KEY",
                     "ARCHESTRA_WHATEVER_ELSE": None}


def test_database_location_never_shows_credentials():
    assert database_location("postgresql+psycopg://archie:pa55word@db.internal:5433/archestra?password=x") == \
        "postgresql db.internal:5433/archestra"
    assert database_location("sqlite:///relative.db") == f"sqlite {Path('relative.db').resolve()}"


@pytest.mark.parametrize("module", ["archestra.upgrade", "archestra.backup", "archestra.startup"])
def test_every_command_has_help_and_it_does_nothing_else(tmp_path, module):
    database = tmp_path / "untouched.db"
    env = {**os.environ, "ARCHESTRA_DATABASE_URL": f"sqlite:///{database}"}
    done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m {module}")
    assert not database.exists()
