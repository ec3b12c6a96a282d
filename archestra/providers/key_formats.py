"""What each provider's own API keys look like, and where its clients send them.

A value the proxy recognises as the provider's key is the caller's own credential: it goes upstream (pass-through)
and the proxy's cloud credentials stay unused. Anything else in a key slot (a junk ``Authorization: Bearer x``, a
token of another scheme, an ``ANTHROPIC_AUTH_TOKEN`` of a gateway) is **not** a key as far as the proxy's own
credentials go: it never stands in for the profile's proof (its access token or a virtual key), so it never makes
the proxy sign with its AWS credentials, call Google with its own, or use a key it holds. Where a provider has no
documented key format (``patterns`` empty) no value is recognised: its clients' keys are forwarded untouched, and
no decision rests on them.

Formats, from provider-wire-formats.md and the providers' own tooling:

* Bedrock (and Mantle, which takes the same keys): long-term keys are ``ABSK`` + base64 of
  ``BedrockAPIKey-…:secret`` (IAM service-specific credentials); short-term keys are ``bedrock-api-key-`` +
  base64 of a presigned URL (aws-bedrock-token-generator ``AUTH_PREFIX``). botocore sends them as
  ``Authorization: Bearer`` (``AWS_BEARER_TOKEN_BEDROCK``).
* Anthropic: ``sk-ant-api…`` (Console API keys, ``x-api-key`` or Bearer), ``sk-ant-oat…`` (Claude subscription
  OAuth tokens, Bearer) (section 12.1).
* OpenAI: ``sk-…`` (``sk-proj-``, ``sk-svcacct-``, ``sk-admin-``), Bearer (section 12.2).
* Gemini (AI Studio): Google API keys, ``AIza`` + 35 characters, in ``x-goog-api-key`` or ``?key=``.
* Azure OpenAI: resource keys in ``api-key`` (32 hexadecimal digits; the newer 84-character keys are letters and
  digits [3p, unverified]), or a Microsoft Entra ID access token (a JWT) as ``Authorization: Bearer``.
* Cohere, Mistral, Cerebras, vLLM, Ollama, Z.AI: no documented format (vLLM and Ollama take any value).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

_BASE64 = r"[A-Za-z0-9+/]+={0,2}"
#: Headers in which SDKs send a provider key (Azure's ``api-key`` included), lowercase.
KEY_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "api-key"})


@dataclass(frozen=True)
class KeyFormat:
    """Where a provider's clients send its key (``slots``: lowercase header names; ``query``: query parameter
    names) and what a key of its own looks like (``patterns``, matched against the whole value)."""

    slots: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...] = ()
    query: tuple[str, ...] = ()

    def recognises(self, value: str) -> bool:
        return any(pattern.fullmatch(value) for pattern in self.patterns)


# Each provider declares its own (``Provider.key_format``).
BEDROCK = KeyFormat(("authorization",), (re.compile("ABSK" + _BASE64), re.compile("bedrock-api-key-" + _BASE64)))
ANTHROPIC = KeyFormat(("x-api-key", "authorization"), (re.compile(r"sk-ant-(?:api|oat)[0-9A-Za-z_-]+"),))
OPENAI = KeyFormat(("authorization",), (re.compile(r"sk-[0-9A-Za-z_-]+"),))
GEMINI = KeyFormat(("x-goog-api-key",), (re.compile(r"AIza[0-9A-Za-z_-]{35}"),), query=("key",))
AZURE = KeyFormat(("api-key", "authorization"), (re.compile(r"[0-9a-fA-F]{32}"), re.compile(r"[0-9A-Za-z]{84}"),
                                                 re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")))
UNDOCUMENTED = KeyFormat(("authorization",))


def _bearer(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def own_key(found: KeyFormat, headers: Any, args: Any = None) -> str | None:
    """The provider key the caller brings, when exactly one slot holds one value the proxy recognises as the
    provider's own format; else None (no key, an unrecognised value, or two different values: ambiguous).

    ``headers``: the request's headers (any mapping of name to value, read case-insensitively; a repeated header
    arrives joined with commas, which no format matches); ``args``: its query parameters (``getlist``)."""
    if not found.patterns:
        return None
    values: list[str | None] = []
    for name, value in headers.items():
        name = name.lower()
        if name in found.slots:
            values.append(_bearer(value) if name == "authorization" else value.strip())
    for name in found.query:
        values += [value.strip() for value in (args.getlist(name) if args is not None else ())]
    keys = {value for value in values if value is not None}
    if len(keys) != 1 or None in values:
        return None
    key = keys.pop()
    return key if found.recognises(key) else None


def without_client_keys(headers: dict[str, str], query: str) -> tuple[dict[str, str], str]:
    """``headers`` and ``query`` without any client credential (every key header, ``?key=`` however spelt): for
    requests the proxy authenticates itself (its Google token), so no client value rides along with its identity."""
    headers = {name: value for name, value in headers.items() if name.lower() not in KEY_HEADERS}
    query = "&".join(part for part in query.split("&")
                     if part and unquote_plus(part.partition("=")[0]).strip().lower() != "key")
    return headers, query
