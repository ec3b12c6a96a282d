"""Cerebras, vLLM, Ollama and Zhipu AI: the shared OpenAI-compatible adapter, each at its own upstream."""
from __future__ import annotations

import json

import openai
import pytest

from archestra.config import DEFAULT_BASE_URLS, ConfigError, load_settings
from tests.fakes import openai_wire as wire
from tests.fakes.server import FakeUpstream, json_reply, sse_reply


@pytest.mark.parametrize("provider", ["cerebras", "vllm", "ollama", "zhipuai"])
def test_each_provider_goes_to_its_own_upstream(make_proxy, upstream, provider):
    own = FakeUpstream()
    try:
        own.reply_with(json_reply(wire.completion(f"from {provider}")))
        proxy = make_proxy(base_urls={provider: own.url + "/api/paas/v4"})
        client = openai.OpenAI(api_key="k", base_url=proxy.base(provider), max_retries=0)
        answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert answer.choices[0].message.content == f"from {provider}"
        assert own.received[-1].path == "/api/paas/v4/chat/completions"
        assert upstream.received == []
    finally:
        own.close()


def test_ollama_parallel_calls_reusing_index_zero_stay_separate(proxy, upstream):
    """Ollama sends each call whole, every one with index 0 (wire doc 6.4)."""
    def call_event(call_id, city):
        return wire.event({"id": "o1", "object": "chat.completion.chunk", "created": 1, "model": "llama3.2",
                           "choices": [{"index": 0, "delta": {"role": "assistant", "content": "", "tool_calls": [
                               {"id": call_id, "index": 0, "type": "function", "function": {
                                   "name": "get_weather", "arguments": json.dumps({"city": city})}}]},
                               "finish_reason": None}]})
    finish = wire.event({"id": "o1", "object": "chat.completion.chunk", "created": 1, "model": "llama3.2",
                         "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                      "finish_reason": "tool_calls"}]})
    upstream.reply_with(sse_reply([call_event("call_a", "Oslo"), call_event("call_b", "Rome"), finish,
                                   b"data: [DONE]\n\n"]))
    seen = []
    proxy.app.extensions["archestra"].hooks.register("on_tool_call", lambda ex, call: seen.append(
        (call.id, call.arguments)))
    client = openai.OpenAI(api_key="k", base_url=proxy.base("ollama"), max_retries=0)
    list(client.chat.completions.create(model="llama3.2", stream=True, messages=[{"role": "user", "content": "w"}]))
    assert seen == [("call_a", {"city": "Oslo"}), ("call_b", {"city": "Rome"})]


def test_real_provider_defaults():
    settings = load_settings(env={})
    assert settings.base_url("openai") == "https://api.openai.com/v1"
    assert settings.base_url("zhipuai") == "https://api.z.ai/api/paas/v4"
    assert settings.base_url("ollama") == "http://localhost:11434/v1"
    assert settings.base_url("vllm") is None and settings.base_url("bedrock") is None
    assert settings.base_url("mantle") is None  # its URL names a region: disabled until set
    assert settings.base_url("azure") is None  # its URL names the resource
    assert set(DEFAULT_BASE_URLS) == {"openai", "anthropic", "gemini", "cohere", "mistral", "cerebras", "vllm",
                                      "ollama", "zhipuai", "bedrock", "mantle", "ollama-native", "archestra", "azure", "openrouter", "groq",
                                      "deepseek", "xai", "perplexity", "kimi", "minimax"}
    assert load_settings(env={"ARCHESTRA_VLLM_BASE_URL": "http://gpu:8000/v1/"}).base_url("vllm") == \
        "http://gpu:8000/v1"
    # A "-" in a provider's name is "_" in its variables.
    native = load_settings(env={"ARCHESTRA_OLLAMA_NATIVE_BASE_URL": "http://gpu:11434",
                                "ARCHESTRA_CHAT_OLLAMA_NATIVE_API_KEY": "ollama-com-key"})
    assert native.base_url("ollama-native") == "http://gpu:11434"
    assert native.provider_keys["ollama-native"] == "ollama-com-key"


@pytest.mark.parametrize("env", [
    {"ARCHESTRA_OPENAI_BASE_URL": "ftp://x"}, {"ARCHESTRA_MAX_BODY_BYTES": "lots"},
    {"ARCHESTRA_UPSTREAM_READ_TIMEOUT": "-1"}, {"ARCHESTRA_LOG_LEVEL": "LOUD"},
])
def test_invalid_configuration_is_refused_at_startup(env):
    with pytest.raises(ConfigError):
        load_settings(env=env)
