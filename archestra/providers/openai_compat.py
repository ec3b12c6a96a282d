"""OpenAI and the servers that speak its API: each is one :class:`OpenAICompatibleProvider` entry in ``ENTRIES``.

An entry says where the provider is (its name: ``ARCHESTRA_{NAME}_BASE_URL``, a default in config.py), which of
its paths the proxy serves (chat completions, the Responses API, endpoints passed through uninspected) and the
quirks of its chat completions (chat_completions.py; provider-wire-formats.md section 6).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from ..proxy_error import ProxyError
from ..routing import Route
from . import responses
from .base import Provider
from .chat_completions import ChatCompletions, mistral_error, openai_error
from .chat_search import ONLINE
from .key_formats import BEDROCK, OPENAI, UNDOCUMENTED, KeyFormat


class OpenAICompatibleProvider(Provider):
    """A provider serving chat completions at ``{base}/{chat_path}`` (and the other paths it is given)."""

    def __init__(self, name: str, *, key_format: KeyFormat, tracing_name: str | None = None,
                 family: ChatCompletions | None = None, v1_prefix: bool = False,
                 serves_responses: bool = False, passthrough_post: tuple[str, ...] = (),
                 passthrough_get: tuple[str, ...] = (), passes_any_get: bool = False,
                 drop_params: tuple[str, ...] = (), usage_on_request: bool = True,
                 errors: Callable[[ProxyError], dict[str, Any]] = openai_error,
                 search_suffix: str | None = None) -> None:
        self.name, self.key_format, self.tracing_name = name, key_format, tracing_name
        #: The chat completions family with this upstream's quirks (see ChatCompletions), unless one is given.
        self.family = family or ChatCompletions(name, drop_params=drop_params, usage_on_request=usage_on_request,
                                                errors=errors, search_suffix=search_suffix)
        #: Paths (after the base) reached with a leading ``v1/`` too, as the mistralai SDK sends them.
        self.v1_prefix = v1_prefix
        #: The OpenAI Responses API (responses.py) is served too: only by the servers that implement it.
        self.serves_responses = serves_responses
        #: Non-generative endpoints passed through unchanged (recorded and limited, never inspected).
        self.passthrough_post, self.passthrough_get = passthrough_post, passthrough_get
        #: Any other GET is passed through (OpenAI's model and file listings); generative POSTs that are not
        #: inspected (``/completions``, ``/assistants``...) are refused whatever: they would bypass the hooks.
        self.passes_any_get = passes_any_get

    @property
    def chat_path(self) -> str:
        return self.family.chat_path

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        if self.v1_prefix and path.startswith("v1/"):
            path = path[3:]
        if path == self.chat_path:
            return Route("chat", self.chat_path, family=self.family)
        if path == responses.PATH or path.startswith(responses.PATH + "/"):
            if not self.serves_responses:
                raise responses.not_served(self.name)
            if path == responses.PATH:
                return Route("chat", responses.PATH, family=responses.family_for(self.name))
            found = responses.companion_route(method, path, query, self.name)
            if found is None:  # never passed through: a GET of a stored response must be inspected
                raise ProxyError(404, f"{method} /{path} is not a route this proxy serves for {self.name}.",
                                 kind="not_found_error", code="unknown_route")
            return found
        if path in {"POST": self.passthrough_post, "GET": self.passthrough_get}.get(method, ()) or (
                self.passes_any_get and method == "GET" and path):
            return Route("passthrough", path, stream=False, family=self.family)
        return None

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        """Asked in chat completions, whichever family the exchange used (the Responses API's too)."""
        return self.family.completion_request(model, system, prompt, route)


ENTRIES: tuple[OpenAICompatibleProvider, ...] = (
    OpenAICompatibleProvider("openai", key_format=OPENAI, tracing_name="openai", serves_responses=True,
                             passthrough_post=("embeddings", "moderations"), passes_any_get=True),
    # Mistral forbids extra fields: stream_options gets a 422 (usage always comes in the last chunk).
    OpenAICompatibleProvider("mistral", key_format=UNDOCUMENTED, tracing_name="mistral_ai", v1_prefix=True,
                             passthrough_post=("embeddings",), passthrough_get=("models",),
                             drop_params=("stream_options",), usage_on_request=False, errors=mistral_error),
    OpenAICompatibleProvider("cerebras", key_format=UNDOCUMENTED),
    OpenAICompatibleProvider("vllm", key_format=UNDOCUMENTED, serves_responses=True),  # any value is a key
    OpenAICompatibleProvider("ollama", key_format=UNDOCUMENTED, serves_responses=True, passthrough_post=("embeddings",),
                             passthrough_get=("models",)),
    OpenAICompatibleProvider("zhipuai", key_format=UNDOCUMENTED),
    # Amazon Bedrock's OpenAI-compatible endpoint (https://bedrock-mantle.{region}.api.aws/v1): chat completions,
    # with a Bedrock API key as the Bearer token.
    OpenAICompatibleProvider("mantle", key_format=BEDROCK, tracing_name="aws.bedrock"),
    # The OpenAI-compatible services of provider-wire-formats.md section 10. Their answers' extras (reasoning,
    # citations, provider-executed tools) are rows of the family's table (openai_calls.TABLE). None documents a
    # key format of its own: their keys are forwarded untouched.
    # OpenRouter: the Responses API is in beta at {base}/responses.
    OpenAICompatibleProvider("openrouter", key_format=UNDOCUMENTED, serves_responses=True, search_suffix=ONLINE),
    OpenAICompatibleProvider("groq", key_format=UNDOCUMENTED, tracing_name="groq", serves_responses=True),
    OpenAICompatibleProvider("deepseek", key_format=UNDOCUMENTED, tracing_name="deepseek"),
    OpenAICompatibleProvider("xai", key_format=UNDOCUMENTED, tracing_name="x_ai", serves_responses=True),
    # Perplexity reports usage on its chunks unasked.
    OpenAICompatibleProvider("perplexity", key_format=UNDOCUMENTED, tracing_name="perplexity",
                             usage_on_request=False),
    # Moonshot's Kimi: international https://api.moonshot.ai/v1, China https://api.moonshot.cn/v1 (a key works
    # only on the platform that issued it): ARCHESTRA_KIMI_BASE_URL picks one.
    OpenAICompatibleProvider("kimi", key_format=UNDOCUMENTED),
    OpenAICompatibleProvider("minimax", key_format=UNDOCUMENTED),
)
