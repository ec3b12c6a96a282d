"""The Amazon Bedrock Converse family: Converse and ConverseStream (provider-wire-formats.md section 5)."""
from __future__ import annotations

import json
from typing import Any, Iterator

from ..exchange import ClientInfo, Exchange, Message, ProfileInfo, Response, ToolCall, ToolResult, Usage
from ..proxy_error import ProxyError
from ..routing import Route
from .anthropic_blocks import write_tools
from .bedrock_content import (TABLE, answer_refusal, answer_segments, call_names, calls, cited_result, member,
                              tool_result, unseen, web_citations)
from .bedrock_stream import BedrockStreamRelay
from .bedrock_tools import declared_tools, unseen_fields, write_declared_tools
from .content import parts_text, set_parts_text
from .family import Family

_ERROR_TYPES = {400: "ValidationException", 401: "AccessDeniedException", 403: "AccessDeniedException",
                404: "ResourceNotFoundException", 405: "ValidationException", 413: "ValidationException",
                415: "ValidationException", 429: "ThrottlingException", 500: "InternalServerException",
                502: "ServiceUnavailableException", 503: "ServiceUnavailableException",
                504: "ModelTimeoutException"}


class BedrockFamily(Family):
    """What every family at Bedrock's runtime shares: its streams are AWS event streams, its errors are AWS's."""

    stream_content_type = "application/vnd.amazon.eventstream"

    def __init__(self, provider: str = "bedrock") -> None:
        super().__init__(provider)

    def error_body(self, error: ProxyError) -> dict[str, Any]:
        return {"message": error.message}

    def error_headers(self, error: ProxyError) -> dict[str, str]:
        kind = _ERROR_TYPES.get(error.status, "InternalServerException" if error.status >= 500
                                else "ValidationException")
        return {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}


class Converse(BedrockFamily):
    """Converse / ConverseStream: ``messages`` of content blocks (``toolUse``, ``toolResult``...), ``toolConfig``."""

    #: The request fields this family reads (Nova's InvokeModel body has a table of its own).
    table = TABLE

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        body: dict[str, Any] = {"messages": [{"role": "user", "content": [{"text": prompt}]}]}
        if system:
            body["system"] = [{"text": system}]
        return Route("chat", f"model/{model}/converse", stream=False, model=model, action="converse",
                     family=self), body

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
        return Exchange(self.provider, profile, route.model or "", stream=bool(route.stream), messages=messages,
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


CONVERSE = Converse()
