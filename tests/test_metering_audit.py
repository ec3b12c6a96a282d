"""Metering that cannot be dodged (issue 18): every streamed token counted, refusals recorded, through the SDKs."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import anthropic
import openai
import pytest
import requests

from tests.fakes import openai_wire
from tests.fakes.server import json_reply, sse_reply

ASK = [{"role": "user", "content": "hello"}]


def openai_client(proxy, profile_id=None, provider="openai", **kwargs) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-secret-key-42", base_url=proxy.base(provider, profile_id),
                         **{"max_retries": 0, **kwargs})


def interactions(proxy, **params) -> list[dict]:
    proxy.flush()
    return proxy.api("GET", "/interactions", params=params).json()["data"]


def like_openai(received):
    """OpenAI's behaviour: the usage chunk (and ``"usage":null`` on every chunk) only when asked for."""
    options = received.json.get("stream_options") or {}
    return sse_reply(openai_wire.text_stream(["Hel", "lo"], include_usage=options.get("include_usage") is True))


def capped_profile(proxy, max_cost_usd: float, period: str = "day") -> tuple[dict, dict]:
    profile = proxy.api("POST", "/profiles", json={"name": f"capped-{period}"}).json()
    limit = proxy.api("POST", "/limits", json={"scope": "profile", "profile_id": profile["id"], "period": period,
                                               "max_cost_usd": max_cost_usd}).json()
    return profile, limit


# -- bullet 1: usage of every streamed OpenAI-compatible exchange ------------------------------------------------
def test_default_streamed_sdk_call_is_counted_and_then_limited(proxy, upstream):
    upstream.reply_with(like_openai)
    profile, limit = capped_profile(proxy, 0.0002)  # one call costs $0.00027 (44 in, 16 out at gpt-4o prices)
    client = openai_client(proxy, profile["id"])
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=ASK, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert all(c.choices and c.usage is None for c in chunks)  # the client sees no usage chunk it did not ask for
    assert upstream.received[0].json["stream_options"] == {"include_usage": True}
    [row] = interactions(proxy, profile_id=profile["id"])
    assert (row["input_tokens"], row["output_tokens"], row["usage_estimated"]) == (44, 16, False)
    assert row["cost_usd"] == pytest.approx(0.00027)
    assert proxy.api("GET", f"/limits/{limit['id']}").json()["used_usd"] == pytest.approx(0.00027)
    with pytest.raises(openai.RateLimitError):
        list(client.chat.completions.create(model="gpt-4o", messages=ASK, stream=True))
    assert len(upstream.received) == 1


def test_client_gets_the_exact_stream_it_would_have_got(proxy, upstream):
    upstream.reply_with(like_openai)
    response = requests.post(proxy.base("openai") + "/chat/completions", timeout=10,
                             json={"model": "gpt-4o", "stream": True, "messages": ASK})
    assert response.content == b"".join(openai_wire.text_stream(["Hel", "lo"], include_usage=False))
    # asked for: passed on untouched
    response = requests.post(proxy.base("openai") + "/chat/completions", timeout=10,
                             json={"model": "gpt-4o", "stream": True, "messages": ASK,
                                   "stream_options": {"include_usage": True}})
    assert response.content == b"".join(openai_wire.text_stream(["Hel", "lo"], include_usage=True))
    # explicitly refused: the proxy still asks, and strips
    response = requests.post(proxy.base("openai") + "/chat/completions", timeout=10,
                             json={"model": "gpt-4o", "stream": True, "messages": ASK,
                                   "stream_options": {"include_usage": False}})
    assert response.content == b"".join(openai_wire.text_stream(["Hel", "lo"], include_usage=False))
    response = requests.post(proxy.base("openai") + "/chat/completions", timeout=10,
                             json={"model": "gpt-4o", "stream": True, "messages": ASK, "stream_options": None})
    assert response.content == b"".join(openai_wire.text_stream(["Hel", "lo"], include_usage=False))
    assert [r.json["stream_options"]["include_usage"] for r in upstream.received] == [True] * 4
    assert [(r["input_tokens"], r["output_tokens"]) for r in interactions(proxy)] == [(44, 16)] * 4


def test_mistral_gets_no_stream_options_and_reports_usage_itself(proxy, upstream):
    # Mistral rejects stream_options and puts usage in its last chunk anyway.
    events = openai_wire.text_stream(["Hel", "lo"], include_usage=True)
    upstream.reply_with(sse_reply(events))
    list(openai_client(proxy, provider="mistral").chat.completions.create(model="mistral-small", messages=ASK,
                                                                          stream=True))
    assert "stream_options" not in upstream.received[0].json
    [row] = interactions(proxy)
    assert (row["input_tokens"], row["output_tokens"], row["usage_estimated"]) == (44, 16, False)


def test_cohere_streams_get_no_stream_options(proxy, upstream):
    import cohere

    from tests.fakes import cohere_wire

    upstream.reply_with(sse_reply(cohere_wire.text_stream(["Hel", "lo"])))
    list(cohere.ClientV2(api_key="co-key", base_url=proxy.base("cohere")).chat_stream(model="command-a",
                                                                                     messages=ASK))
    assert "stream_options" not in upstream.received[0].json
    [row] = interactions(proxy)
    assert row["usage_estimated"] is False and row["input_tokens"]


def test_a_stream_without_usage_is_estimated_and_marked(proxy, upstream):
    # Z.AI ignores stream_options: no usage at all in its stream.
    upstream.reply_with(sse_reply(openai_wire.text_stream(["Hello there, ", "general Kenobi"], include_usage=False)))
    list(openai_client(proxy, provider="zhipuai").chat.completions.create(
        model="glm-4.6", messages=[{"role": "user", "content": "x" * 400}], stream=True))
    [row] = interactions(proxy)
    assert row["usage_estimated"] is True
    assert row["input_tokens"] == 100 and row["output_tokens"] == 7  # about four characters per token
    assert row["cost_usd"] > 0


# -- bullet 2: limit refusals recorded, counted, not retried -----------------------------------------------------
def test_day_limit_refusal_has_retry_after_is_recorded_and_not_retried(make_proxy, upstream):
    proxy = make_proxy(metrics_token="scrape")  # per-profile series are for the metrics token's holder only
    upstream.reply_with(like_openai)
    profile, limit = capped_profile(proxy, 0.0002, "day")
    client = openai_client(proxy, profile["id"], max_retries=2)  # the SDK's default
    list(client.chat.completions.create(model="gpt-4o", messages=ASK, stream=True))
    proxy.flush()
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=ASK)
    headers = caught.value.response.headers
    now = datetime.now(timezone.utc)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert abs(int(headers["retry-after"]) - (midnight - now).total_seconds()) < 5
    refused = interactions(proxy, status=429)
    assert len(refused) == 1  # one attempt: the SDK did not retry
    assert (refused[0]["refusal"], refused[0]["limit_id"], refused[0]["model"]) == (
        "token_cost_limit_exceeded", limit["id"], "gpt-4o")
    assert len(upstream.received) == 1
    metrics = requests.get(f"{proxy.url}/metrics", headers={"Authorization": "Bearer scrape"}, timeout=5).text
    labels = 'model="gpt-4o",profile="%s",profile_name="%s",provider="openai",' % (profile["id"], profile["name"])
    assert 'archestra_refusals_total{' + labels + 'reason="token_cost_limit_exceeded"} 1.0' in metrics
    assert labels + 'status="429"} 1.0' in metrics


def test_total_limit_answers_402_which_the_sdks_do_not_retry(proxy, upstream):
    upstream.reply_with(like_openai)
    profile, limit = capped_profile(proxy, 0.0002, "total")
    client = openai_client(proxy, profile["id"], max_retries=2)
    list(client.chat.completions.create(model="gpt-4o", messages=ASK, stream=True))
    proxy.flush()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=ASK)
    assert caught.value.status_code == 402 and caught.value.code == "token_cost_limit_exceeded"
    assert "retry-after" not in caught.value.response.headers
    anthropic_client = anthropic.Anthropic(api_key="k", base_url=proxy.base("anthropic", profile["id"]),
                                           max_retries=2)
    with pytest.raises(anthropic.APIStatusError) as refused:
        anthropic_client.messages.create(model="claude-sonnet-4", max_tokens=5, messages=ASK)
    assert refused.value.status_code == 402 and refused.value.body["error"]["type"] == "billing_error"
    rows = interactions(proxy, status=402)
    assert [(r["provider"], r["limit_id"]) for r in rows] == [("anthropic", limit["id"]), ("openai", limit["id"])]
    assert len(upstream.received) == 1


# -- bullet 3: the dual LLM's calls, passthrough calls --------------------------------------------------------------
def test_a_dual_llm_exchange_costs_all_its_calls_and_counts_against_limits(make_proxy, tls_cert, upstream):
    from tests.security_drivers import DRIVERS
    from tests.test_dual_llm import dual_llm_upstream, sanitizing_proxy

    driver = next(d for d in DRIVERS if d.provider == "openai")
    proxy = sanitizing_proxy(make_proxy, tls_cert, upstream, driver, False)
    limit = proxy.api("POST", "/limits", json={"scope": "global", "max_cost_usd": 1, "period": "day"}).json()
    proxy.flush()
    before = proxy.api("GET", f"/limits/{limit['id']}").json()["used_usd"]
    seen = dual_llm_upstream(upstream, driver, False)
    driver.ask(proxy, False, with_result=True)
    extra = len(seen["privileged"]) + len(seen["quarantined"])
    assert extra >= 3 and len(seen["agent"]) == 1
    row = interactions(proxy, limit=1)[0]
    assert [c["purpose"] for c in row["extra_calls"]] == ["dual_llm"] * extra
    assert all((c["input_tokens"], c["output_tokens"]) == (44, 16) for c in row["extra_calls"])
    # each call (the agent's and the dual LLM's) is 44 + 16 tokens of gpt-4o: $0.00027
    assert row["cost_usd"] == pytest.approx(0.00027 * (extra + 1))
    used = proxy.api("GET", f"/limits/{limit['id']}").json()["used_usd"]
    assert used - before == pytest.approx(0.00027 * (extra + 1))


def test_passthrough_calls_are_recorded_with_their_tokens_and_limited(proxy, upstream):
    proxy.api("POST", "/token-prices", json={"model": "text-embedding-3-small", "input_per_million": 1000,
                                             "output_per_million": 0})
    profile, limit = capped_profile(proxy, 0.001, "day")
    upstream.reply_with(json_reply({"object": "list", "model": "text-embedding-3-small",
                                    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                                    "usage": {"prompt_tokens": 2, "total_tokens": 2}}))
    client = openai_client(proxy, profile["id"], max_retries=2)
    assert client.embeddings.create(model="text-embedding-3-small", input="hi").data[0].embedding == [0.1, 0.2]
    [row] = interactions(proxy, kind="passthrough")
    assert (row["model"], row["input_tokens"], row["status_code"]) == ("text-embedding-3-small", 2, 200)
    assert row["cost_usd"] == pytest.approx(0.002)
    full = proxy.api("GET", f"/interactions/{row['id']}").json()
    assert full["request"] is None and full["response"] is None  # metadata only: vectors are not kept
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model="text-embedding-3-small", input="hi")
    assert len(upstream.received) == 1
    assert [r["refusal"] for r in interactions(proxy, kind="passthrough")] == ["token_cost_limit_exceeded", None]


def test_non_generative_endpoints_of_every_provider_are_served(proxy, upstream):
    import cohere
    from google import genai
    from google.genai import types
    from mistralai.client import Mistral

    def reply(request):
        path = request.path
        if path.endswith(":embedContent"):
            return json_reply({"embedding": {"values": [0.5]}})
        if path.endswith(":batchEmbedContents"):
            return json_reply({"embeddings": [{"values": [0.5]}, {"values": [0.6]}]})
        if path.endswith("/embed"):
            return json_reply({"id": "e1", "embeddings": {"float": [[0.5]]}, "texts": ["hi"],
                               "meta": {"billed_units": {"input_tokens": 3}}, "response_type": "embeddings_by_type"})
        if path.endswith("/embeddings"):
            return json_reply({"id": "e2", "object": "list", "model": "mistral-embed",
                               "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
                               "usage": {"prompt_tokens": 4, "total_tokens": 4}})
        if path.endswith("/v1/models"):
            return json_reply({"data": [{"type": "model", "id": "claude-x", "display_name": "X",
                                         "created_at": "2025-01-01T00:00:00Z"}],
                               "has_more": False, "first_id": "claude-x", "last_id": "claude-x"})
        if path.endswith("/models"):
            return json_reply({"object": "list", "data": [{"id": "llama3", "object": "model", "created": 1,
                                                           "owned_by": "library"}]})
        return json_reply({"error": "unexpected"}, 500)

    upstream.reply_with(reply)
    gemini = genai.Client(api_key="AIza-k", http_options=types.HttpOptions(base_url=proxy.base("gemini")))
    assert gemini.models.embed_content(model="text-embedding-004", contents="hi").embeddings[0].values == [0.5]
    assert len(gemini.models.embed_content(model="text-embedding-004", contents=["a", "b"]).embeddings) == 2
    co = cohere.ClientV2(api_key="co-key", base_url=proxy.base("cohere"))
    assert co.embed(model="embed-v4.0", texts=["hi"], input_type="search_document",
                    embedding_types=["float"]).embeddings.float_ == [[0.5]]
    mistral = Mistral(api_key="k", server_url=proxy.base("mistral"))
    assert mistral.embeddings.create(model="mistral-embed", inputs=["hi"]).data[0].embedding == [0.5]
    assert [m.id for m in openai_client(proxy, provider="ollama").models.list()] == ["llama3"]
    assert [m.id for m in anthropic.Anthropic(api_key="k", base_url=proxy.base("anthropic")).models.list()] == [
        "claude-x"]
    rows = interactions(proxy, kind="passthrough")
    assert sorted((r["provider"], r["model"], r["input_tokens"]) for r in rows) == [
        ("anthropic", None, None), ("cohere", "embed-v4.0", 3), ("gemini", "text-embedding-004", None),
        ("gemini", "text-embedding-004", None), ("mistral", "mistral-embed", 4), ("ollama", None, None)]


# -- bullet 4: records outlive profiles; bullet 7: blocked calls linked to their interaction and session ------------
def test_deleting_a_profile_keeps_its_interactions_blocked_calls_and_spend(proxy, upstream):
    profile = proxy.api("POST", "/profiles", json={"name": "short-lived"}).json()
    upstream.reply_with(json_reply(openai_wire.completion(None, [openai_wire.tool_call("send_email", {"to": "x"})])))
    client = openai_client(proxy, profile["id"], default_headers={"X-Archestra-Session-Id": "sess-9"})
    tools = [{"type": "function", "function": {"name": "send_email", "parameters": {"type": "object"}}}]
    client.chat.completions.create(model="gpt-4o", messages=ASK, tools=tools)
    proxy.flush()
    tool = proxy.api("GET", "/tools", params={"profile_id": profile["id"], "name": "send_email"}).json()["data"][0]
    proxy.api("POST", "/tool-call-policies", json={"tool_id": tool["id"], "action": "block_always", "reason": "no"})
    client.chat.completions.create(model="gpt-4o", messages=ASK, tools=tools)
    proxy.flush()
    assert proxy.api("DELETE", f"/profiles/{profile['id']}").status_code == 204

    rows = interactions(proxy, profile_id=profile["id"])
    assert len(rows) == 2 and {r["profile_name"] for r in rows} == {"short-lived"}
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(0.00054)  # the spend stays on the records
    [blocked_row] = interactions(proxy, profile_id=profile["id"], blocked="true")
    [call] = proxy.api("GET", "/blocked-tool-calls", params={"profile_id": profile["id"]}).json()["data"]
    assert (call["profile_name"], call["interaction_id"], call["session_id"]) == (
        "short-lived", blocked_row["id"], "sess-9")
    assert proxy.api("GET", f"/interactions/{blocked_row['id']}").json()["blocked_count"] == 1


def test_filters_are_validated(proxy):
    for query in ({"status_code": "abc"}, {"statuscode": "403"}, {"blocked": "maybe"}, {"since": "yesterday"},
                  {"status": "42"}):
        answer = proxy.api("GET", "/interactions", params=query)
        assert answer.status_code == 400, query
        assert answer.json()["error"]["code"] == "invalid_query"
    assert proxy.api("GET", "/interactions", params={"status_code": "403", "blocked": "false"}).status_code == 200


# -- bullet 5: retention, manual purge, metadata only, upstream request stored once ---------------------------------
def _age_interactions(proxy, days: float) -> None:
    from sqlalchemy import update

    from archestra.extensions import db
    from archestra.models import Interaction

    with proxy.app.app_context():
        db.session.execute(update(Interaction).values(
            created_at=datetime.now(timezone.utc) - timedelta(days=days)))
        db.session.commit()
        db.session.remove()


def _stored(proxy, interaction_id: str) -> tuple:
    from archestra.extensions import db
    from archestra.models import Interaction

    with proxy.app.app_context():
        row = db.session.get(Interaction, interaction_id)
        try:
            return row.request, row.upstream_request, row.response
        finally:
            db.session.remove()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_retention_purges_old_interactions_in_the_background(request, make_proxy, upstream, backend):
    database = {"database_url": request.getfixturevalue("postgres_url")} if backend == "postgresql" else {}
    proxy = make_proxy(interaction_retention_days=30, retention_purge_interval_seconds=0.2, **database)
    upstream.reply_with(like_openai)
    client = openai_client(proxy)
    for _ in range(3):
        list(client.chat.completions.create(model="gpt-4o", messages=ASK, stream=True))
    proxy.flush()
    _age_interactions(proxy, 31)
    list(client.chat.completions.create(model="gpt-4o", messages=ASK, stream=True))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(interactions(proxy)) != 1:
        time.sleep(0.1)
    [kept] = interactions(proxy)
    assert datetime.fromisoformat(kept["created_at"]) > datetime.now(timezone.utc) - timedelta(minutes=5)
    from archestra.metering.retention import delete_in_batches  # batches: several rounds of a small batch
    from archestra.models import Interaction

    for _ in range(5):
        list(client.chat.completions.create(model="gpt-4o", messages=ASK, stream=True))
    proxy.flush()
    proxy.app.extensions["archestra"].retention.stop()
    with proxy.app.app_context():
        assert delete_in_batches(Interaction, [Interaction.provider == "openai"], batch=2) == 6


def test_manual_purge_with_filters(proxy, upstream):
    upstream.reply_with(like_openai)
    list(openai_client(proxy, default_headers={"X-Archestra-Session-Id": "a"}).chat.completions.create(
        model="gpt-4o", messages=ASK, stream=True))
    list(openai_client(proxy, default_headers={"X-Archestra-Session-Id": "b"}).chat.completions.create(
        model="gpt-4o", messages=ASK, stream=True))
    proxy.flush()
    assert proxy.api("DELETE", "/interactions").status_code == 400  # never everything by accident
    assert proxy.api("DELETE", "/interactions", params={"sesion_id": "a"}).status_code == 400
    assert proxy.api("DELETE", "/interactions", params={"session_id": "a"}).json() == {"deleted": 1}
    assert [r["session_id"] for r in interactions(proxy)] == ["b"]


def test_metadata_only_globally_and_per_profile(make_proxy, upstream):
    upstream.reply_with(like_openai)
    proxy = make_proxy(interaction_metadata_only=True)
    open_profile = proxy.api("POST", "/profiles", json={"name": "bodies", "metadata_only": False}).json()
    list(openai_client(proxy).chat.completions.create(model="gpt-4o", messages=ASK, stream=True))
    list(openai_client(proxy, open_profile["id"]).chat.completions.create(model="gpt-4o", messages=ASK,
                                                                            stream=True))
    bare, full = sorted(interactions(proxy), key=lambda r: r["profile_id"] == open_profile["id"])
    assert _stored(proxy, bare["id"]) == (None, None, None)
    assert (bare["input_tokens"], bare["output_tokens"]) == (44, 16) and bare["cost_usd"] > 0
    assert _stored(proxy, full["id"])[0]["messages"] == ASK
    # the other way round: one profile keeps metadata only while the global setting keeps bodies
    proxy = make_proxy()
    private = proxy.api("POST", "/profiles", json={"name": "private", "metadata_only": True}).json()
    assert proxy.api("GET", f"/profiles/{private['id']}").json()["metadata_only"] is True
    list(openai_client(proxy, private["id"]).chat.completions.create(model="gpt-4o", messages=ASK, stream=True))
    [row] = interactions(proxy)
    assert _stored(proxy, row["id"]) == (None, None, None)


def test_the_upstream_request_is_stored_only_when_it_differs(proxy, upstream):
    upstream.reply_with(like_openai)
    proxy.api("POST", "/optimization-rules", json={"provider": "openai", "max_length": 5,
                                                   "target_model": "gpt-4o-mini"})
    client = openai_client(proxy)
    long_ask = [{"role": "user", "content": "a question long enough for gpt-4o"}]
    list(client.chat.completions.create(model="gpt-4o", messages=long_ask, stream=True))  # only include_usage added
    list(client.chat.completions.create(model="gpt-4o", messages=ASK, stream=True))  # the model swapped too
    assert [r.json["stream_options"] for r in upstream.received] == [{"include_usage": True}] * 2
    same, changed = sorted(interactions(proxy), key=lambda r: r["created_at"])
    request_same, upstream_same, _ = _stored(proxy, same["id"])
    assert request_same["messages"] == long_ask and upstream_same is None  # metering's addition is not stored
    assert proxy.api("GET", f"/interactions/{same['id']}").json()["upstream_request"] == request_same
    request_changed, upstream_changed, _ = _stored(proxy, changed["id"])
    assert (request_changed["model"], upstream_changed["model"]) == ("gpt-4o", "gpt-4o-mini")


# -- bullet 6: shutdown checkpoint, backup, export ------------------------------------------------------------------
def test_after_sigterm_the_database_file_and_its_backup_hold_every_interaction(tmp_path, upstream):
    import json
    import os
    import sqlite3
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from tests.test_deployment import ROOT, start_gunicorn, stop_gunicorn

    upstream.reply_with(like_openai)
    database = tmp_path / "deploy.db"
    process, log, url = start_gunicorn(tmp_path, {"ARCHESTRA_OPENAI_BASE_URL": upstream.url,
                                                  "ARCHESTRA_WORKERS": "2"})
    client = openai.OpenAI(api_key="k", base_url=f"{url}/v1/openai", max_retries=0)

    def ask(_: int) -> None:
        list(client.chat.completions.create(model="gpt-4o", messages=ASK, stream=True))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(ask, range(60)))
    stop_gunicorn(process, log)
    wal = tmp_path / "deploy.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    copy = tmp_path / "copy-of-the-file.db"
    copy.write_bytes(database.read_bytes())  # the file alone, as a naive copy or a volume snapshot sees it
    with sqlite3.connect(copy) as connection:
        assert connection.execute("SELECT count(*) FROM interactions").fetchone() == (60,)
    connection.close()

    env = {**os.environ, "ARCHESTRA_DATABASE_URL": f"sqlite:///{database}"}
    backup = tmp_path / "backup.db"
    subprocess.run([sys.executable, "-m", "archestra.backup", str(backup), "--interactions",
                    str(tmp_path / "interactions.jsonl")], cwd=ROOT, env=env, check=True, timeout=60)
    with sqlite3.connect(backup) as connection:
        assert connection.execute("SELECT count(*) FROM interactions WHERE input_tokens = 44").fetchone() == (60,)
    connection.close()
    lines = [json.loads(line) for line in (tmp_path / "interactions.jsonl").read_text().splitlines()]
    assert len(lines) == 60 and all(line["provider"] == "openai" and line["cost_usd"] for line in lines)
    refused = subprocess.run([sys.executable, "-m", "archestra.backup", str(backup)], cwd=ROOT, timeout=60,
                             env={**env, "ARCHESTRA_DATABASE_URL": "postgresql+psycopg://x@127.0.0.1:1/x"},
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "pg_dump" in refused.stderr
    assert "${ARCHESTRA_DATABASE_URL/+psycopg/}" in refused.stderr  # the command docs/operations.md runs


# -- bullet 7: blocked covers every kind of refusal ------------------------------------------------------------------
def test_blocked_filter_covers_refused_requests_tool_calls_and_limits(tmp_path, make_proxy, upstream):
    from tests.test_hooks import hook_file

    proxy = make_proxy(hooks=hook_file(tmp_path, """
        from archestra.hooks import Block

        def on_request(exchange):
            if "forbidden" in (exchange.messages[-1].text or ""):
                raise Block("no forbidden words")

        def on_tool_call(exchange, call):
            if call.name == "send_email":
                raise Block("email is not allowed here")
    """))
    client = openai_client(proxy, max_retries=2)
    upstream.reply_with(json_reply(openai_wire.completion("fine")))
    client.chat.completions.create(model="gpt-4o", messages=ASK)
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "forbidden"}])
    upstream.reply_with(json_reply(openai_wire.completion(None, [openai_wire.tool_call("send_email", {"to": "x"})])))
    client.chat.completions.create(model="gpt-4o", messages=ASK, tools=[
        {"type": "function", "function": {"name": "send_email", "parameters": {"type": "object"}}}])
    profile, _ = capped_profile(proxy, 0.0001, "total")
    upstream.reply_with(json_reply(openai_wire.completion("fine")))
    capped = openai_client(proxy, profile["id"])
    capped.chat.completions.create(model="gpt-4o", messages=ASK)
    proxy.flush()
    with pytest.raises(openai.APIStatusError):
        capped.chat.completions.create(model="gpt-4o", messages=ASK)
    refused = interactions(proxy, blocked="true")
    assert sorted((r["status_code"], r["refusal"], r["blocked_count"]) for r in refused) == [
        (200, None, 1), (402, "token_cost_limit_exceeded", 0), (403, "request_blocked", 0)]
    assert len(interactions(proxy, blocked="false")) == 2
    assert [r["refusal"] for r in interactions(proxy, status=403)] == ["request_blocked"]
