"""Amazon Bedrock Converse and ConverseStream (provider-wire-formats.md section 5); InvokeModel routes are
read by the family their body names (bedrock_invoke.py).

Clients authenticate with a Bedrock API key (``Authorization: Bearer``), forwarded untouched, or send no key
and the proxy signs with its own AWS credentials (``ARCHESTRA_BEDROCK_AWS_AUTH``, aws_auth.py) for callers that
proved the profile. A value the proxy does not recognise as a Bedrock API key (key_formats.py) is no key: without
proof the request is refused. A client's SigV4 signature is refused: it covers the proxy's host, so it cannot be
forwarded.
"""
from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import quote

from ..exchange import Exchange
from ..proxy_error import ProxyError
from ..routing import Route
from ..upstream import request_headers
from . import aws_auth, key_formats
from .base import Provider, proves_profile
from .bedrock_converse import CONVERSE
from .bedrock_invoke import INVOKE

PATH = re.compile(r"model/(?P<model>.+)/(?P<action>converse|converse-stream|invoke|invoke-with-response-stream)")
STREAMED = ("converse-stream", "invoke-with-response-stream")
GEOGRAPHY_PREFIXES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")


def with_inference_profile(model: str, prefix: str | None) -> str:
    """``us.<model>`` for a foundation-model id; ARNs and ids that carry a geography stay as they are."""
    if not prefix or model.startswith("arn:") or model.startswith(GEOGRAPHY_PREFIXES):
        return model
    return f"{prefix.rstrip('.')}.{model}"


class Bedrock(Provider):
    name = "bedrock"
    family = CONVERSE
    key_format = key_formats.BEDROCK
    tracing_name = "aws.bedrock"

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        match = PATH.fullmatch(path)
        if match is None:
            return None
        family = INVOKE if match["action"].startswith("invoke") else CONVERSE
        return Route("chat", path, stream=match["action"] in STREAMED, model=match["model"],
                     action=match["action"], family=family)

    def check_access(self, settings: Any, route: Route, profile: Any, caller: Any, headers: Any) -> None:
        """The proxy signs with its own AWS credentials only for callers that proved the profile; anyone else must
        bring a Bedrock API key the proxy recognises (key_formats.py). A value it does not recognise (a junk
        Bearer, a token of another scheme) counts as no key, never as a reason to let the caller through.

        The key is looked for in the headers as they will be forwarded (``request_headers``: a header the client
        names in ``Connection`` is dropped there), because ``sign_request`` signs whenever no key goes upstream:
        a key seen here but not sent would hand the proxy's signature to a caller without proof."""
        aws_auth.refuse_client_signature(headers)
        if not settings.bedrock_aws_auth or settings.cloud_auth_open or proves_profile(profile, caller):
            return
        if key_formats.own_key(self.key_format, request_headers(headers.items())) is None:
            raise ProxyError(401, "This proxy signs Bedrock requests with its own AWS credentials only for callers "
                                  "with the profile's access token or one of its virtual keys: send either in "
                                  "X-Archestra-Token (Claude Code: ANTHROPIC_CUSTOM_HEADERS), or send your own Bedrock "
                                  "API key (ABSK... or bedrock-api-key-..., as Authorization: Bearer).",
                             kind="authentication_error", code="profile_token_required")

    def sign_request(self, settings: Any, method: str, url: str, headers: dict[str, str],
                     body: bytes | None) -> dict[str, str]:
        """Signed with the proxy's credentials when no key goes upstream (check_access let only callers with
        proof get this far without one). A key that does go (the caller's own, or the key the proxy holds for a
        virtual key's profile) is sent as it is: never mixed with the proxy's signature."""
        if not settings.bedrock_aws_auth or any(name.lower() == "authorization" for name in headers):
            return headers
        return aws_auth.sign(settings, method, url, headers, body)

    def upstream_request(self, settings: Any, route: Route, exchange: Exchange | None,
                         headers: dict[str, str], query: str) -> tuple[str, dict[str, str], str]:
        aws_auth.refuse_client_signature(headers, query=query)
        model = exchange.model if exchange is not None else route.model or ""
        model = with_inference_profile(model, settings.bedrock_inference_profile_prefix)
        url = f"{settings.base_url(self.name).rstrip('/')}/model/{quote(model, safe='-._~')}/{route.action}"
        return url, headers, query
