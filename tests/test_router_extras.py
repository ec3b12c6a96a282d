"""The Model Router's other routes through the real SDKs: embeddings (an OpenAI-compatible provider's own, Gemini's
and Cohere's translated), the models a caller may reach, and Anthropic's count_tokens for any provider's model."""
from __future__ import annotations

import anthropic
import openai
import pytest

from tests.fakes.server import Received, json_reply
from tests.router_support import HELD, routed  # noqa: F401  (fixture)

VECTORS = [[0.25, -0.5, 1.0], [0.125, 0.0, -2.0]]


def embedding_answers(request: Received):
    if request.path.endswith(":batchEmbedContents"):
        return json_reply({"embeddings": [{"values": v} for v in VECTORS[:len(request.json["requests"])]]})
    if request.path == "/v2/embed":
        return json_reply({"id": "e1", "embeddings": {"float": VECTORS[:len(request.json["texts"])]},
                           "texts": request.json["texts"], "meta": {"billed_units": {"input_tokens": 9}}})
    return json_reply({"object": "list", "model": request.json["model"], "usage": {"prompt_tokens": 5,
                                                                                   "total_tokens": 5},
                       "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(VECTORS)]})


@pytest.mark.parametrize("model", ["openai:text-embedding-3-small", "gemini:gemini-embedding-001",
                                   "cohere:embed-v4.0"])
@pytest.mark.parametrize("encoding", ["base64", "float"])
def test_embeddings_from_each_provider_in_openai_format(routed, upstream, model, encoding):
    r = routed()
    upstream.reply_with(embedding_answers)
    client = openai.OpenAI(api_key=r.key, base_url=r.base, max_retries=0)
    kwargs = {"encoding_format": encoding} if encoding == "float" else {}  # the SDK asks for base64 by default
    answer = client.embeddings.create(model=model, input=["first", "second"], **kwargs)
    assert [item.embedding for item in answer.data] == VECTORS
    sent = upstream.received[-1]
    provider = model.partition(":")[0]
    assert r.key not in str(sent.headers) and HELD[provider] in str(sent.headers)
    if provider == "gemini":
        assert [q["content"]["parts"][0]["text"] for q in sent.json["requests"]] == ["first", "second"]
    row = r.interactions(1)[0]
    assert (row["provider"], row["kind"], row["model_used"]) == (provider, "passthrough", model.partition(":")[2])


def test_token_ids_cannot_be_translated(routed, upstream):
    r = routed()
    with pytest.raises(openai.BadRequestError) as raised:
        openai.OpenAI(api_key=r.key, base_url=r.base, max_retries=0).embeddings.create(
            model="gemini:gemini-embedding-001", input=[[1, 2, 3]])
    assert "input" in str(raised.value) and upstream.received == []


def test_models_lists_aliases_and_each_reachable_providers_models(routed, upstream):
    r = routed()
    r.proxy.api("POST", "/model-aliases", json={"name": "fast", "targets": ["openai:gpt-4o-mini"]})

    def lists(request: Received):
        if request.path == "/v1/models" and "x-api-key" in request.headers:
            return json_reply({"data": [{"id": "claude-sonnet-4-5", "type": "model"}], "has_more": False})
        if request.path == "/v1beta/models":
            return json_reply({"models": [{"name": "models/gemini-2.5-pro"}]})
        if request.path == "/v1/models":  # Cohere
            return json_reply({"models": [{"name": "command-a"}]})
        return json_reply({"object": "list", "data": [{"id": "m1", "object": "model", "owned_by": "x"}]})
    upstream.reply_with(lists)
    ids = [model.id for model in openai.OpenAI(api_key=r.key, base_url=r.base, max_retries=0).models.list()]
    assert ids[0] == "fast"
    assert {"anthropic:claude-sonnet-4-5", "gemini:gemini-2.5-pro", "cohere:command-a", "openai:m1",
            "mistral:m1"} <= set(ids)
    assert all(r.key not in str(q.headers) for q in upstream.received)


def test_count_tokens_for_any_providers_model(routed, upstream):
    r = routed()
    client = anthropic.Anthropic(api_key=r.key, base_url=r.base, max_retries=0)
    messages = [{"role": "user", "content": "How many tokens is this sentence, roughly?"}]
    estimated = client.messages.count_tokens(model="openai:gpt-4o", messages=messages)
    assert 5 <= estimated.input_tokens <= 20 and upstream.received == []
    upstream.reply_with(json_reply({"input_tokens": 14}))
    assert client.messages.count_tokens(model="anthropic:claude-sonnet-4-5", messages=messages).input_tokens == 14
    assert upstream.received[-1].json["model"] == "claude-sonnet-4-5"
