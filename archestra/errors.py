"""App-level HTTP errors (routing 404/405, and anything no blueprint handled): always JSON, no HTML. A 404 under
a path an SDK would call when its base URL is wrong says which base URL to use instead."""
from __future__ import annotations

import re

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from .api.errors import error_json

#: Paths an SDK calls when it was given the proxy's root instead of a provider's base URL -> that provider.
_WRONG_BASE = (
    (re.compile(r"(v1/)?(chat/completions|completions|responses(/.*)?|embeddings|models(/[^:]*)?|moderations)"),
     "openai", "e.g. OpenAI(base_url=\"{base}\"); other OpenAI-compatible providers: /v1/mistral, /v1/vllm..."),
    (re.compile(r"(v1/)?messages(/.*)?"), "anthropic", "e.g. Anthropic(base_url=\"{base}\")"),
    (re.compile(r"(v1|v1beta|v1beta1)/models/.+:\w+"), "gemini",
     "e.g. genai.Client(http_options=HttpOptions(base_url=\"{base}\"))"),
    (re.compile(r"v[12]/(chat|embed)"), "cohere", "e.g. cohere.ClientV2(base_url=\"{base}\")"),
    (re.compile(r"model/[^/]+/(converse|converse-stream|invoke|invoke-with-response-stream)"), "bedrock",
     "boto3 endpoint_url=\"{base}\""),
)


def _providers() -> list[str]:
    from .providers import PROVIDERS

    return [provider.name for provider in PROVIDERS]


def guide(path: str) -> tuple[str, str] | None:
    """(code, message) for a 404 whose path tells what the client meant: a provider this proxy does not have,
    or a provider's API path called without the provider's base URL. None: nothing to add."""
    root = request.host_url.rstrip("/")
    rest = path.lstrip("/")
    for pattern, provider, example in _WRONG_BASE:
        if pattern.fullmatch(rest):
            base = f"{root}/v1/{provider}"
            return "wrong_base_url", (f"/{rest} is not served at the proxy's root: each provider has its own base "
                                      f"URL, here {base} (or {base}/{{profile}}); " + example.format(base=base))
    first, _, _ = rest.removeprefix("v1/").partition("/")
    if rest.startswith("v1/") and first:
        names = _providers()
        return "unknown_provider", (f"Unknown provider {first!r}: this proxy serves {', '.join(names)}, each at "
                                    f"{root}/v1/{{provider}}[/{{profile}}].")
    return None


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        status = error.code or 500
        code = (error.name or "error").lower().replace(" ", "_")
        message = error.description or error.name
        if request.path.startswith("/api/") or request.path == "/api":
            return error_json(status, code, message)
        if status == 404:
            code, message = guide(request.path) or (code, message)
        # Outside the API, an OpenAI-like shape: the most widely understood error body.
        return {"error": {"message": message, "type": code, "param": None, "code": code}}, status
