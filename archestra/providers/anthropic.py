"""Anthropic Messages API (provider-wire-formats.md section 2)."""
from __future__ import annotations

import json
from typing import Any, Mapping

from ..exchange import ClientInfo, Exchange, Message, ProfileInfo, Response, Tool, ToolCall, ToolResult, Usage
from .anthropic_stream import AnthropicStreamRelay
from .base import Provider, ProxyError, Route
from .content import content_text, set_content_text

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
                415: "invalid_request_error", 429: "rate_limit_error"}
TOOL_USE_TYPES = ("tool_use", "server_tool_use", "mcp_tool_use")


def _blocks(content: Any) -> list[Any]:
    return content if isinstance(content, list) else []


def tool_result_text(content: Any) -> str:
    text = content_text(content)
    if text is not None:
        return text
    return "" if content is None else json.dumps(content)


class Anthropic(Provider):
    name = "anthropic"

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        if path == "v1/messages":
            return Route("chat", path)
        if path == "v1/messages/count_tokens" and method == "POST":
            return Route("passthrough", path, stream=False)
        return None

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        body: dict[str, Any] = {"model": model, "max_tokens": 1024, "messages": [{"role": "user", "content": prompt}]}
        if system:
            body["system"] = system
        return Route("chat", "v1/messages", stream=False), body

    def error_body(self, error: ProxyError) -> dict[str, Any]:
        kind = _ERROR_TYPES.get(error.status, "api_error" if error.status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": error.message}}

    # -- request --------------------------------------------------------------------------------
    def validate_request(self, body: Any) -> None:
        super().validate_request(body)
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise ProxyError(400, "model: Field required (a non-empty string).")
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise ProxyError(400, "messages: must be an array of message objects.")
        for i, message in enumerate(messages):
            if message.get("role") not in ("user", "assistant"):
                raise ProxyError(400, f"messages.{i}.role: must be 'user' or 'assistant'.")
        if "system" in body and not isinstance(body["system"], (str, list)):
            raise ProxyError(400, "system: must be a string or an array of text blocks.")
        if body.get("tools") is not None and not isinstance(body["tools"], list):
            raise ProxyError(400, "tools: must be an array.")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise ProxyError(400, "stream: must be a boolean.")

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        messages: list[Message] = []
        if body.get("system"):
            text = content_text(body["system"])
            messages.append(Message("system", text, _ref="system", _original=text))
        names: dict[str, str] = {}
        for index, raw in enumerate(body["messages"]):
            content = raw.get("content")
            calls, results = [], []
            for position, block in enumerate(_blocks(content)):
                if not isinstance(block, dict):
                    continue
                if block.get("type") in TOOL_USE_TYPES:
                    call = ToolCall(block.get("id"), str(block.get("name", "")), block.get("input", {}),
                                    json.dumps(block.get("input", {})))
                    names[call.id or ""] = call.name
                    calls.append(call)
                elif block.get("type") == "tool_result":
                    text = tool_result_text(block.get("content"))
                    results.append(ToolResult(block.get("tool_use_id"), names.get(block.get("tool_use_id") or ""),
                                              text, is_error=bool(block.get("is_error")),
                                              _ref=position, _original=text))
            text = content_text(content)
            messages.append(Message(raw["role"], text, calls, results, _ref=index, _original=text))
        tools = [Tool(str(t["name"]), t.get("description"), t.get("input_schema"))
                 for t in body.get("tools") or () if isinstance(t, dict) and t.get("name")]
        return Exchange(self.name, profile, body["model"], stream=bool(body.get("stream")),
                            messages=messages, tools=tools, client=client)

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        body["model"] = exchange.model
        system_parts, rebuilt = [], []
        for message in exchange.messages:
            if message._ref == "system" or (message._ref is None and message.role == "system"):
                system_parts.append(message)
                continue
            if message._ref is None:
                rebuilt.append({"role": "assistant" if message.role == "assistant" else "user",
                                "content": message.text or ""})
                continue
            raw = body["messages"][message._ref]
            if message.text is not None and message.text != message._original:
                set_content_text(raw, message.text)
            for result in message.tool_results:
                if result.edited:
                    raw["content"][result._ref]["content"] = result.content
            rebuilt.append(raw)
        body["messages"] = rebuilt
        self._write_system(body, system_parts)
        if "tools" in body:
            keep = {tool.name for tool in exchange.tools}
            body["tools"] = [t for t in body["tools"] if isinstance(t, dict) and t.get("name") in keep]
            if not body["tools"]:
                body.pop("tools")
                body.pop("tool_choice", None)

    @staticmethod
    def _write_system(body: dict[str, Any], parts: list[Message]) -> None:
        original = next((m for m in parts if m._ref == "system"), None)
        added = [m.text or "" for m in parts if m._ref is None]
        if original is None and not added:
            body.pop("system", None)
            return
        holder = {"content": body.get("system", "")}
        if original is not None and original.text != original._original:
            set_content_text(holder, original.text or "")
        if added:
            if isinstance(holder["content"], list):
                holder["content"] = [*({"type": "text", "text": t} for t in added), *holder["content"]]
            else:
                holder["content"] = "\n\n".join([*added, holder["content"]] if holder["content"] else added)
        body["system"] = holder["content"]

    # -- response -------------------------------------------------------------------------------
    def parse_response(self, data: Any, exchange: Exchange) -> Response:
        blocks = [b for b in _blocks(data.get("content")) if isinstance(b, dict)]
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Response(
            text="".join(b.get("text", "") for b in blocks if b.get("type") == "text"),
            tool_calls=[ToolCall(b.get("id"), str(b.get("name", "")), b.get("input", {}),
                                 json.dumps(b.get("input", {}))) for b in blocks if b.get("type") in TOOL_USE_TYPES],
            finish_reason=data.get("stop_reason"),
            usage=Usage(usage.get("input_tokens"), usage.get("output_tokens")),
            model=data.get("model"),
        )

    def tool_call_groups(self, data: Any) -> list[tuple[Any, list[ToolCall]]]:
        calls = self.parse_response(data, None).tool_calls  # type: ignore[arg-type]
        return [(None, calls)] if calls else []

    def refuse_response(self, data: dict[str, Any], key: Any, text: str) -> None:
        data["content"] = [{"type": "text", "text": text}]
        data["stop_reason"] = "end_turn"
        data["stop_sequence"] = None

    def stream_relay(self, exchange: Exchange, decide: Any) -> AnthropicStreamRelay:
        return AnthropicStreamRelay(exchange, decide)
