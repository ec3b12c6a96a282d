"""Amazon Bedrock Converse and ConverseStream (provider-wire-formats.md section 5); InvokeModel routes are
read by the family their body names (bedrock_invoke.py).

Clients authenticate with a Bedrock API key (``Authorization: Bearer``), forwarded untouched, or send no key
and the proxy signs with its own AWS credentials (``ARCHESTRA_BEDROCK_AWS_AUTH``, aws_auth.py) for callers that
proved the profile. A value the proxy does not recognise as a Bedrock API key (key_formats.py) is no key: without
proof the request is refused. A client's SigV4 signature is refused: it covers the proxy's host, so it cannot be
forwarded.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterator, Mapping
from urllib.parse import quote

from ..exchange import ClientInfo, Exchange, Message, ProfileInfo, Response, Tool, ToolCall, ToolResult, Usage
from ..proxy_error import ProxyError
from ..routing import Route
from ..upstream import request_headers
from . import aws_auth, key_formats
from .anthropic_blocks import write_tools
from .base import Provider, proves_profile
from .bedrock_content import (TABLE, answer_refusal, answer_segments, call_names, calls, cited_result, member,
                              tool_result, unseen, web_citations)
from .bedrock_stream import BedrockStreamRelay
from .bedrock_tools import declared_tools, unseen_fields, write_declared_tools
from .content import parts_text, set_parts_text

PATH = re.compile(r"model/(?P<model>.+)/(?P<action>converse|converse-stream|invoke|invoke-with-response-stream)")
STREAMED = ("converse-stream", "invoke-with-response-stream")
GEOGRAPHY_PREFIXES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")
_ERROR_TYPES = {400: "ValidationException", 401: "AccessDeniedException", 403: "AccessDeniedException",
                404: "ResourceNotFoundException", 405: "ValidationException", 413: "ValidationException",
                415: "ValidationException", 429: "ThrottlingException", 500: "InternalServerException",
                502: "ServiceUnavailableException", 503: "ServiceUnavailableException",
                504: "ModelTimeoutException"}


def with_inference_profile(model: str, prefix: str | None) -> str:
    """``us.<model>`` for a foundation-model id; ARNs and ids that carry a geography stay as they are."""
    if not prefix or model.startswith("arn:") or model.startswith(GEOGRAPHY_PREFIXES):
        return model
    return f"{prefix.rstrip('.')}.{model}"


class Bedrock(Provider):
    name = "bedrock"
    table = TABLE  # the request fields this family reads (Nova's InvokeModel body has a table of its own)
    stream_content_type = "application/vnd.amazon.eventstream"

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        match = PATH.fullmatch(path)
        if match is None:
            return None
        family = None
        if match["action"].startswith("invoke"):
            from .bedrock_invoke import INVOKE

            family = INVOKE
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
        if key_formats.own_key(self.name, request_headers(headers.items())) is None:
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

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        body: dict[str, Any] = {"messages": [{"role": "user", "content": [{"text": prompt}]}]}
        if system:
            body["system"] = [{"text": system}]
        return Route("chat", f"model/{model}/converse", stream=False, model=model, action="converse"), body

    def error_body(self, error: ProxyError) -> dict[str, Any]:
        return {"message": error.message}

    def error_headers(self, error: ProxyError) -> dict[str, str]:
        kind = _ERROR_TYPES.get(error.status, "InternalServerException" if error.status >= 500
                                else "ValidationException")
        return {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}

    # -- request --------------------------------------------------------------------------------
    def validate_request(self, body: Any) -> None:
        super().validate_request(body)
        messages = body.get("messages", [])
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise ProxyError(400, "messages must be a list of Message structures.")
        for i, message in enumerate(messages):
            if message.get("role") not in ("user", "assistant", "system") or not isinstance(message.get("content"),
                                                                                          list):
                raise ProxyError(400, f"messages.{i} must have role user|assistant|system and a content list.")
        if "system" in body and not isinstance(body["system"], list):
            raise ProxyError(400, "system must be a list of SystemContentBlock structures.")
        config = body.get("toolConfig")
        if config is not None and (not isinstance(config, dict) or not isinstance(config.get("tools", []), list)):
            raise ProxyError(400, "toolConfig must be a ToolConfiguration with a list of tools.")
        choice, named = member((config or {}).get("toolChoice"))
        declared = {tool.name for tool in declared_tools(body)}
        if choice == "tool" and (not isinstance(named, dict) or named.get("name") not in declared):
            # a tool the request does not declare would be one the proxy never decided
            raise ProxyError(400, "toolConfig.toolChoice.tool.name must name a tool the request declares.")

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        messages: list[Message] = []
        if body.get("system"):
            text = parts_text(body["system"])
            messages.append(Message("system", text, _ref="system", _original=text))
        names = call_names(body.get("messages"))
        for index, raw in enumerate(body.get("messages", [])):
            results = []
            for position, block in enumerate(raw["content"]):
                kind, value = member(block)
                if kind == "toolResult" and isinstance(value, dict):
                    # In an assistant message: what a provider-executed tool returned (echoed back).
                    results.append(tool_result(value, names, raw["role"] == "assistant", position))
                elif kind == "citationsContent" and isinstance(value, dict) and web_citations(value):
                    # pages a provider tool read, quoted back: that tool's results
                    results.append(cited_result(web_citations(value), raw["content"]))
            text = parts_text(raw["content"])
            messages.append(Message(raw["role"], text, calls(raw["content"], server=None), results, _ref=index,
                                    _original=text))
        tools, stored = declared_tools(body), unseen(body.get("system"), "system")
        for index, raw in enumerate(body.get("messages", [])):
            stored += unseen(raw["content"], "content", f"messages.{index}.")
        stored += unseen_fields(body, route.model or "", self.table)
        return Exchange(self.name, profile, route.model or "", stream=bool(route.stream), messages=messages,
                        tools=tools, client=client, unseen_context=stored)

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        rebuilt, system_added, system = [], [], None
        for message in exchange.messages:
            if message.role == "system" and not isinstance(message._ref, int):
                if message._ref == "system":
                    system = message
                else:
                    system_added.append({"text": message.text or ""})
                continue
            if message._ref is None:
                rebuilt.append({"role": "assistant" if message.role == "assistant" else "user",
                                "content": [{"text": message.text or ""}]})
                continue
            raw = body["messages"][message._ref]
            if message.text is not None and message.text != message._original:
                raw["content"] = set_parts_text(raw["content"], message.text)
            for result in message.tool_results:
                if result.edited and result._ref is not None:
                    try:
                        value = json.loads(result.content)
                    except ValueError:
                        value = None
                    block = {"json": value} if isinstance(value, (dict, list)) else {"text": result.content}
                    raw["content"][result._ref]["toolResult"]["content"] = [block]
            rebuilt.append(raw)
        body["messages"] = rebuilt
        blocks = body.get("system") if system is not None else []
        if system is not None and system.text != system._original:
            blocks = set_parts_text(blocks, system.text or "")
        if system_added or blocks:
            body["system"] = [*system_added, *blocks]
        else:
            body.pop("system", None)
        native = body.get("additionalModelRequestFields")
        if isinstance(native, dict):
            write_tools(native, exchange.tools)
        write_declared_tools(body, exchange.tools)

    # -- response -------------------------------------------------------------------------------
    def parse_response(self, data: Any, exchange: Exchange) -> Response:
        blocks = ((data.get("output") or {}).get("message") or {}).get("content")
        usage = data.get("usage") or {}
        return Response(text=parts_text(blocks) or "", tool_calls=[*_refusals(data), *calls(blocks, server=None)],
                        finish_reason=data.get("stopReason"),
                        usage=Usage(usage.get("inputTokens"), usage.get("outputTokens")),
                        model=exchange.model if exchange else None)

    def tool_call_groups(self, data: Any) -> Iterator[tuple[Any, list[ToolCall], list[ToolResult]]]:
        """One group per stretch between provider-executed results, each with the results before it; they
        stop once one was refused (``refuse_response`` replaced the output)."""
        output = data.get("output")
        blocks = ((output or {}).get("message") or {}).get("content")
        if _refusals(data):
            yield None, _refusals(data), []
        for found, results in answer_segments(blocks):
            if data.get("output") is not output:
                return
            yield None, found, results

    def refuse_response(self, data: dict[str, Any], key: Any, text: str) -> None:
        data["output"] = {"message": {"role": "assistant", "content": [{"text": text}]}}
        data["stopReason"] = "end_turn"

    def stream_relay(self, exchange: Exchange, decide: Any) -> BedrockStreamRelay:
        return BedrockStreamRelay(exchange, decide)


def _refusals(data: Any) -> list[ToolCall]:
    """An answer part the table does not hold, as a call refused whatever the policies."""
    reason = answer_refusal(data)
    return [ToolCall(None, "bedrock answer content", {}, "{}", refuse=reason)] if reason else []

