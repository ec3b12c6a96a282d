"""Providers say where and how, families speak wire formats (issue 26): the two hierarchies stay apart, every
route names its family, and an OpenAI-compatible provider is one entry."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from archestra.exchange import ClientInfo, ProfileInfo
from archestra.providers import PROVIDERS, Family, OpenAICompatibleProvider, Provider
from archestra.providers.chat_completions import ChatCompletions
from archestra.providers.key_formats import UNDOCUMENTED
from archestra.proxy_error import ProxyError

PROXY = Path(__file__).resolve().parent.parent / "archestra" / "proxy.py"
#: One chat path of each provider, as its clients send it.
CHAT_PATHS = {"anthropic": "v1/messages", "cohere": "v2/chat", "gemini": "v1beta/models/m:generateContent",
              "bedrock": "model/m/converse", "ollama-native": "api/chat",
              "archestra": "openai/chat/completions",
              "azure": "openai/deployments/m/chat/completions"}


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found))


def test_no_family_is_a_provider():
    assert _subclasses(Family)
    assert [cls for cls in _subclasses(Family) if issubclass(cls, Provider)] == []


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda provider: provider.name)
def test_every_chat_route_names_its_family(provider):
    route = provider.route("POST", CHAT_PATHS.get(provider.name, "chat/completions"), {})
    assert route is not None and route.kind == "chat"
    assert isinstance(route.family, Family)
    assert isinstance(provider.family, Family)  # renders the errors of requests without a route


def test_the_pipeline_asks_no_family_what_it_can_do():
    probes = [ast.unparse(node) for node in ast.walk(ast.parse(PROXY.read_text()))
              if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("hasattr", "getattr")
              and "family" in ast.unparse(node)]
    assert probes == []


def test_an_openai_compatible_provider_is_one_entry():
    acme = OpenAICompatibleProvider("acme", key_format=UNDOCUMENTED, passthrough_get=("models",))
    route = acme.route("POST", "chat/completions", {})
    assert isinstance(route.family, ChatCompletions)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    route.family.validate_request(body)
    exchange = route.family.parse_request(body, route, ProfileInfo("p", "p"), ClientInfo())
    assert (exchange.provider, exchange.messages[0].text) == ("acme", "hi")
    assert acme.route("GET", "models", {}).kind == "passthrough"
    assert acme.route("POST", "completions", {}) is None  # generative and uninspected: never passed through
    with pytest.raises(ProxyError) as refused:
        acme.route("POST", "responses", {})
    assert refused.value.status == 404
    assert acme.error_body(ProxyError(400, "bad"))["error"]["message"] == "bad"
