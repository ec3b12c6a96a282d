"""Interactions, cost, limits, optimisation rules and metrics, as a user of the API sees them."""
from __future__ import annotations

import threading
import time
from decimal import Decimal

import anthropic
import openai
import pytest
import requests

from tests.fakes import anthropic_wire, openai_wire
from tests.fakes.server import json_reply, sse_reply

ASK = [{"role": "user", "content": "hello"}]


def openai_client(proxy, profile_id=None, **headers) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-secret-key-42", base_url=proxy.base("openai", profile_id), max_retries=0,
                         default_headers=headers or None)


def interactions(proxy, **params) -> dict:
    proxy.flush()
    return proxy.api("GET", "/interactions", params=params).json()


def test_non_streamed_interaction_is_recorded_with_cost(proxy, upstream):
    upstream.reply_with(json_reply(openai_wire.completion("Hi!")))  # 44 in, 16 out, model gpt-4o-2024-08-06
    openai_client(proxy, **{"X-Archestra-Session-Id": "s1", "X-Archestra-User-Id": "u1",
                            "X-Archestra-Agent-Id": "a1"}).chat.completions.create(model="gpt-4o", messages=ASK)
    [row] = interactions(proxy)["data"]
    assert (row["provider"], row["model"], row["model_used"], row["status_code"]) == ("openai", "gpt-4o", "gpt-4o", 200)
    assert (row["input_tokens"], row["output_tokens"]) == (44, 16)
    # default gpt-4o price: $2.50 / $10 per million tokens
    assert Decimal(str(row["cost_usd"])) == (Decimal(44) * Decimal("2.5") + Decimal(16) * 10) / 1_000_000
    assert (row["session_id"], row["user_id"], row["agent_id"]) == ("s1", "u1", "a1")
    assert row["duration_ms"] > 0 and row["time_to_first_token_ms"] > 0 and not row["stream"]
    assert "request" not in row  # bodies only in the item view
    full = proxy.api("GET", f"/interactions/{row['id']}").json()
    assert full["request"] == {"model": "gpt-4o", "messages": ASK}
    assert full["upstream_request"] == full["request"]
    assert full["response"]["choices"][0]["message"]["content"] == "Hi!"
    assert "sk-secret-key-42" not in str(full)


def test_streamed_interaction_rebuilt_from_the_stream(proxy, upstream):
    upstream.reply_with(sse_reply(openai_wire.text_stream(["Hel", "lo"])))
    list(openai_client(proxy).chat.completions.create(model="gpt-4o-mini", messages=ASK, stream=True,
                                                      stream_options={"include_usage": True}))
    [row] = interactions(proxy)["data"]
    full = proxy.api("GET", f"/interactions/{row['id']}").json()
    assert full["stream"] and full["response"]["text"] == "Hello"
    assert full["response"]["finish_reason"] == "stop"
    assert (full["input_tokens"], full["output_tokens"]) == (44, 16)
    assert full["time_to_first_token_ms"] <= full["duration_ms"]


def test_client_disconnect_mid_stream_is_recorded_with_what_was_seen(proxy, upstream):
    gate = threading.Event()

    def chunks():
        events = openai_wire.text_stream([f"{i} " for i in range(200)])
        yield from events[:3]
        gate.set()
        for event in events[3:]:
            time.sleep(0.02)
            yield event

    upstream.reply_with(sse_reply(chunks()))
    response = requests.post(proxy.base("openai") + "/chat/completions", stream=True, timeout=10,
                             json={"model": "gpt-4o", "stream": True, "messages": ASK})
    next(response.iter_content(None))
    assert gate.wait(10)
    response.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not interactions(proxy)["data"]:
        time.sleep(0.1)
    [row] = interactions(proxy)["data"]
    full = proxy.api("GET", f"/interactions/{row['id']}").json()
    assert full["error"] == "client disconnected before the end of the stream"
    seen = full["response"]["text"]
    assert seen.startswith("0 ") and len(seen) < len("".join(f"{i} " for i in range(200)))


def test_errors_are_recorded(proxy, upstream):
    upstream.reply_with(json_reply(openai_wire.error_body("slow down", "rate_limit_error"), status=429))
    with pytest.raises(openai.RateLimitError):
        openai_client(proxy).chat.completions.create(model="gpt-4o", messages=ASK)
    [row] = interactions(proxy)["data"]
    assert row["status_code"] == 429 and "429" in row["error"]
    full = proxy.api("GET", f"/interactions/{row['id']}").json()
    assert full["response"]["error"]["message"] == "slow down"


def test_filters_pagination_and_newest_first(proxy, upstream):
    upstream.reply_with(json_reply(openai_wire.completion("x")))
    for i in range(5):
        openai_client(proxy, **{"X-Archestra-Session-Id": f"s{i % 2}"}).chat.completions.create(
            model=f"model-{i}", messages=ASK)
    page = interactions(proxy, limit=2)
    assert page["total"] == 5 and [r["model"] for r in page["data"]] == ["model-4", "model-3"]
    assert [r["model"] for r in interactions(proxy, limit=2, offset=2)["data"]] == ["model-2", "model-1"]
    assert {r["model"] for r in interactions(proxy, session_id="s0")["data"]} == {"model-0", "model-2", "model-4"}
    assert interactions(proxy, model="model-3")["total"] == 1
    assert interactions(proxy, provider="anthropic")["total"] == 0
    assert interactions(proxy, since="2999-01-01T00:00:00Z")["total"] == 0
    assert interactions(proxy, blocked="true")["total"] == 0
    assert proxy.api("GET", "/interactions", params={"since": "yesterday"}).status_code == 400
    assert proxy.api("GET", "/interactions", params={"limit": "0"}).status_code == 400


def test_token_prices(proxy, upstream):
    prices = {p["model"]: p for p in proxy.api("GET", "/token-prices").json()["data"]}
    for model in ("gpt-4o", "claude-sonnet-4", "gemini-2.5-flash", "command-a", "mistral-large", "llama3.1-8b",
                  "glm-4.5", "amazon.nova-pro"):
        assert model in prices  # defaults for every provider with a public price list
    created = proxy.api("POST", "/token-prices", json={"model": "my-model", "input_per_million": 1000,
                                                        "output_per_million": 2000})
    assert created.status_code == 201
    assert proxy.api("POST", "/token-prices", json={"model": "my-model", "input_per_million": 1,
                                                    "output_per_million": 1}).status_code == 409
    assert proxy.api("POST", "/token-prices", json={"model": "x", "input_per_million": -1,
                                                    "output_per_million": 1}).status_code == 400
    body = openai_wire.completion("x")
    body["model"] = "my-model-v2"  # priced by prefix
    upstream.reply_with(json_reply(body))
    openai_client(proxy).chat.completions.create(model="my-model", messages=ASK)
    [row] = interactions(proxy)["data"]
    assert Decimal(str(row["cost_usd"])) == Decimal("0.076")  # 44 * 1000/1e6 + 16 * 2000/1e6


def test_profile_limit_is_enforced_in_the_providers_format(proxy, upstream):
    profile = proxy.api("POST", "/profiles", json={"name": "capped"}).json()
    limit = proxy.api("POST", "/limits", json={"scope": "profile", "profile_id": profile["id"],
                                               "max_cost_usd": 0.0005, "period": "day"}).json()
    upstream.reply_with(json_reply(openai_wire.completion("x")))  # $0.00027 each
    client = openai_client(proxy, profile["id"])
    client.chat.completions.create(model="gpt-4o", messages=ASK)
    proxy.flush()
    client.chat.completions.create(model="gpt-4o", messages=ASK)
    proxy.flush()
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=ASK)
    assert caught.value.code == "token_cost_limit_exceeded"
    assert limit["id"] in caught.value.message and "$0.0005 this day of $0.0005" in caught.value.message.replace(
        "0.00054", "0.0005")
    assert len(upstream.received) == 2  # the refused request never went upstream
    # other profiles are not affected
    openai_client(proxy).chat.completions.create(model="gpt-4o", messages=ASK)
    used = proxy.api("GET", f"/limits/{limit['id']}").json()["used_usd"]
    assert used == pytest.approx(0.00054)

    # Anthropic clients of the same profile get Anthropic's error shape
    anthropic_client = anthropic.Anthropic(api_key="k", base_url=proxy.base("anthropic", profile["id"]),
                                           max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as refused:
        anthropic_client.messages.create(model="claude-x", max_tokens=5, messages=ASK)
    assert refused.value.body["error"]["type"] == "rate_limit_error"
    assert "Token cost limit exceeded" in refused.value.body["error"]["message"]

    # raising the limit lets requests through again
    proxy.api("PATCH", f"/limits/{limit['id']}", json={"max_cost_usd": 1})
    upstream.reply_with(json_reply(anthropic_wire.message([anthropic_wire.text("ok")])))
    assert anthropic_client.messages.create(model="claude-x", max_tokens=5, messages=ASK).content[0].text == "ok"


def test_global_limit_and_validation(proxy, upstream):
    assert proxy.api("POST", "/limits", json={"scope": "profile", "max_cost_usd": 1}).json()["error"]["code"] == \
        "unknown_profile"
    assert proxy.api("POST", "/limits", json={"scope": "global", "max_cost_usd": 0}).status_code == 400
    assert proxy.api("POST", "/limits", json={"scope": "global", "max_cost_usd": 1,
                                              "period": "fortnight"}).status_code == 400
    proxy.api("POST", "/limits", json={"scope": "global", "max_cost_usd": 0.0002, "period": "day"})
    upstream.reply_with(json_reply(openai_wire.completion("x")))
    openai_client(proxy).chat.completions.create(model="gpt-4o", messages=ASK)
    proxy.flush()
    other = proxy.api("POST", "/profiles", json={"name": "other"}).json()
    with pytest.raises(openai.RateLimitError, match="global limit"):
        openai_client(proxy, other["id"]).chat.completions.create(model="gpt-4o", messages=ASK)


def test_optimization_rules_swap_the_model(proxy, upstream):
    assert proxy.api("POST", "/optimization-rules", json={"provider": "nope", "target_model": "x"}).status_code == 400
    proxy.api("POST", "/optimization-rules", json={"provider": "openai", "priority": 1, "max_length": 50,
                                                   "has_tools": False, "target_model": "gpt-4o-mini"})
    proxy.api("POST", "/optimization-rules", json={"provider": "anthropic", "target_model": "claude-haiku-4-5"})
    upstream.reply_with(json_reply(openai_wire.completion("x")))
    client = openai_client(proxy)
    client.chat.completions.create(model="gpt-4o", messages=ASK)                        # short, no tools: swapped
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x" * 400}])  # too long
    client.chat.completions.create(model="gpt-4o", messages=ASK, tools=[{"type": "function", "function": {
        "name": "t", "parameters": {"type": "object"}}}])                                # has tools
    sent = [r.json["model"] for r in upstream.received]
    assert sent == ["gpt-4o-mini", "gpt-4o", "gpt-4o"]
    rows = interactions(proxy)["data"]
    assert [(r["model"], r["model_used"]) for r in reversed(rows)] == [
        ("gpt-4o", "gpt-4o-mini"), ("gpt-4o", "gpt-4o"), ("gpt-4o", "gpt-4o")]


def test_metrics_are_exposed(proxy, upstream):
    upstream.reply_with(json_reply(openai_wire.completion("x")))
    openai_client(proxy).chat.completions.create(model="gpt-4o", messages=ASK)
    proxy.flush()
    text = requests.get(f"{proxy.url}/metrics", timeout=5).text
    for name in ("archestra_requests_total", "archestra_request_duration_seconds_bucket",
                 "archestra_time_to_first_token_seconds_bucket", "archestra_tokens_total",
                 "archestra_cost_usd_total", "archestra_blocked_tool_calls_total", "archestra_upstream_errors_total"):
        assert name in text
    assert 'direction="input",model="gpt-4o",profile="' in text or 'model="gpt-4o"' in text
    assert "sk-secret-key-42" not in text
