"""Amazon Bedrock Converse and ConverseStream (provider-wire-formats.md section 5).

Clients authenticate with a Bedrock API key (``Authorization: Bearer``), forwarded untouched. SigV4
requests are refused: their signature covers the proxy's host, so it cannot be forwarded.
"""
from __future__ import annotations

import json
import re
from typing import Any, Mapping
from urllib.parse import quote

from ..exchange import ClientInfo, Exchange, Message, ProfileInfo, Response, Tool, ToolCall, ToolResult, Usage
from .base import Provider, ProxyError, Route
from .bedrock_stream import BedrockStreamRelay
from .content import parts_text, set_parts_text

PATH = re.compile(r"model/(?P<model>.+)/(?P<action>converse|converse-stream)")
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


def tool_result_text(content: Any) -> str:
    pieces = []
    for block in content if isinstance(content, list) else ():
        if isinstance(block, dict) and "text" in block:
            pieces.append(str(block["text"]))
        elif isinstance(block, dict) and "json" in block:
            pieces.append(json.dumps(block["json"]))
    return "\n".join(pieces)


def _calls(blocks: Any) -> list[ToolCall]:
    calls = []
    for block in blocks if isinstance(blocks, list) else ():
        use = block.get("toolUse") if isinstance(block, dict) else None
        if isinstance(use, dict):
            calls.append(ToolCall(use.get("toolUseId"), str(use.get("name", "")), use.get("input", {}),
                                  json.dumps(use.get("input", {}))))
    return calls


class Bedrock(Provider):
    name = "bedrock"
    stream_content_type = "application/vnd.amazon.eventstream"

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        match = PATH.fullmatch(path)
        if match is None:
            return None
        return Route("chat", path, stream=match["action"] == "converse-stream", model=match["model"],
                     action=match["action"])

    def upstream_request(self, settings: Any, route: Route, exchange: Exchange | None,
                         headers: dict[str, str], query: str) -> tuple[str, dict[str, str], str]:
        if headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256"):
            raise ProxyError(400, "SigV4-signed requests cannot be forwarded: use a Bedrock API key "
                                  "(AWS_BEARER_TOKEN_BEDROCK, sent as Authorization: Bearer).",
                             code="sigv4_not_supported")
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
            if message.get("role") not in ("user", "assistant") or not isinstance(message.get("content"), list):
                raise ProxyError(400, f"messages.{i} must have role user|assistant and a content list.")
        if "system" in body and not isinstance(body["system"], list):
            raise ProxyError(400, "system must be a list of SystemContentBlock structures.")
        config = body.get("toolConfig")
        if config is not None and (not isinstance(config, dict) or not isinstance(config.get("tools", []), list)):
            raise ProxyError(400, "toolConfig must be a ToolConfiguration with a list of tools.")

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        messages: list[Message] = []
        if body.get("system"):
            text = parts_text(body["system"])
            messages.append(Message("system", text, _ref="system", _original=text))
        names: dict[str, str] = {}
        for index, raw in enumerate(body.get("messages", [])):
            calls = _calls(raw["content"])
            names.update({call.id or "": call.name for call in calls})
            results = []
            for position, block in enumerate(raw["content"]):
                result = block.get("toolResult") if isinstance(block, dict) else None
                if isinstance(result, dict):
                    text = tool_result_text(result.get("content"))
                    results.append(ToolResult(result.get("toolUseId"), names.get(result.get("toolUseId") or ""),
                                              text, is_error=result.get("status") == "error",
                                              _ref=position, _original=text))
            text = parts_text(raw["content"])
            messages.append(Message(raw["role"], text, calls, results, _ref=index, _original=text))
        tools = []
        for tool in (body.get("toolConfig") or {}).get("tools") or ():
            spec = tool.get("toolSpec") if isinstance(tool, dict) else None
            if isinstance(spec, dict) and spec.get("name"):
                tools.append(Tool(str(spec["name"]), spec.get("description"),
                                  (spec.get("inputSchema") or {}).get("json")))
        return Exchange(self.name, profile, route.model or "", stream=bool(route.stream),
                            messages=messages, tools=tools, client=client)

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        rebuilt, system_added, system = [], [], None
        for message in exchange.messages:
            if message.role == "system":
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
                if result.edited:
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
        config = body.get("toolConfig")
        if isinstance(config, dict) and isinstance(config.get("tools"), list):
            keep = {tool.name for tool in exchange.tools}
            config["tools"] = [t for t in config["tools"] if (t.get("toolSpec") or {}).get("name") in keep]
            if not config["tools"]:
                body.pop("toolConfig")

    # -- response -------------------------------------------------------------------------------
    def parse_response(self, data: Any, exchange: Exchange) -> Response:
        blocks = ((data.get("output") or {}).get("message") or {}).get("content")
        usage = data.get("usage") or {}
        return Response(text=parts_text(blocks) or "", tool_calls=_calls(blocks),
                        finish_reason=data.get("stopReason"),
                        usage=Usage(usage.get("inputTokens"), usage.get("outputTokens")),
                        model=exchange.model if exchange else None)

    def tool_call_groups(self, data: Any) -> list[tuple[Any, list[ToolCall]]]:
        calls = _calls(((data.get("output") or {}).get("message") or {}).get("content"))
        return [(None, calls)] if calls else []

    def refuse_response(self, data: dict[str, Any], key: Any, text: str) -> None:
        data["output"] = {"message": {"role": "assistant", "content": [{"text": text}]}}
        data["stopReason"] = "end_turn"

    def stream_relay(self, exchange: Exchange, decide: Any) -> BedrockStreamRelay:
        return BedrockStreamRelay(exchange, decide)
