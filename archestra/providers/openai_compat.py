"""OpenAI Chat Completions, and the providers that speak it (Mistral, Cerebras, vLLM, Ollama, Zhipu AI).

The subclasses at the bottom differ only in their quirks (see provider-wire-formats.md section 6).
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from ..exchange import ClientInfo, Exchange, Message, ProfileInfo, Response, Tool, ToolCall, ToolResult, Usage
from .base import Provider, ProxyError, Route, parse_arguments
from .content import content_text, set_content_text
from .openai_stream import OpenAIStreamRelay

CHAT = "chat/completions"


def _calls(raw_calls: Any) -> list[ToolCall]:
    calls = []
    for raw in raw_calls if isinstance(raw_calls, list) else ():
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict):
            continue
        arguments, text = parse_arguments(function.get("arguments", ""))
        calls.append(ToolCall(raw.get("id"), str(function.get("name", "")), arguments, text))
    return calls


class OpenAICompatible(Provider):
    name = "openai"
    #: Body fields this upstream rejects and the proxy removes before forwarding.
    drop_params: tuple[str, ...] = ()
    #: Paths (after the base) reached with a leading ``v1/`` too, as the mistralai SDK sends them.
    v1_prefix = False
    chat_path = CHAT

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        if self.v1_prefix and path.startswith("v1/"):
            path = path[3:]
        if path == self.chat_path:
            return Route("chat", self.chat_path)
        return None

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        return Route("chat", self.chat_path, stream=False), {"model": model, "messages": messages, "stream": False}

    # -- errors ---------------------------------------------------------------------------------
    def error_body(self, error: ProxyError) -> dict[str, Any]:
        return {"error": {"message": error.message, "type": error.kind, "param": error.param,
                          "code": error.code}}

    # -- request --------------------------------------------------------------------------------
    def tool_result_text(self, content: Any) -> str:
        text = content_text(content)
        return text if text is not None else json.dumps(content)

    def validate_request(self, body: Any) -> None:
        super().validate_request(body)
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise ProxyError(400, "'model' must be a non-empty string.", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise ProxyError(400, "'messages' must be an array of message objects.", param="messages")
        for i, message in enumerate(messages):
            if not isinstance(message.get("role"), str):
                raise ProxyError(400, f"'messages[{i}].role' must be a string.", param=f"messages[{i}].role")
        tools = body.get("tools")
        if tools is not None and not isinstance(tools, list):
            raise ProxyError(400, "'tools' must be an array.", param="tools")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise ProxyError(400, "'stream' must be a boolean.", param="stream")

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        messages: list[Message] = []
        call_names: dict[str, str] = {}
        for index, raw in enumerate(body["messages"]):
            role = raw["role"]
            if role == "tool":
                content = self.tool_result_text(raw.get("content"))
                call_id = raw.get("tool_call_id")
                result = ToolResult(call_id, call_names.get(call_id) or raw.get("name"), content,
                                    _ref=index, _original=content)
                messages.append(Message(role, None, tool_results=[result], _ref=index))
                continue
            text = content_text(raw.get("content"))
            calls = _calls(raw.get("tool_calls"))
            for call in calls:
                if call.id:
                    call_names[call.id] = call.name
            messages.append(Message(role, text, tool_calls=calls, _ref=index, _original=text))
        tools = []
        for raw in body.get("tools") or ():
            function = raw.get("function") if isinstance(raw, dict) else None
            if isinstance(function, dict) and function.get("name"):
                tools.append(Tool(str(function["name"]), function.get("description"), function.get("parameters")))
        return Exchange(self.name, profile, body["model"], stream=bool(body.get("stream")),
                            messages=messages, tools=tools, client=client)

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        body["model"] = exchange.model
        native = body["messages"]
        rebuilt = []
        for message in exchange.messages:
            if message._ref is None:
                rebuilt.append({"role": message.role, "content": message.text or ""})
                continue
            raw = native[message._ref]
            if message.text is not None and message.text != message._original:
                set_content_text(raw, message.text)
            for result in message.tool_results:
                if result.edited:
                    raw["content"] = result.content
            rebuilt.append(raw)
        body["messages"] = rebuilt
        if "tools" in body:
            keep = {tool.name for tool in exchange.tools}
            body["tools"] = [t for t in body["tools"]
                             if isinstance(t, dict) and (t.get("function") or {}).get("name") in keep]
            if not body["tools"]:
                for key in ("tools", "tool_choice", "parallel_tool_calls"):
                    body.pop(key, None)

    def prepare_upstream_body(self, body: dict[str, Any]) -> bool:
        dropped = [key for key in self.drop_params if key in body]
        for key in dropped:
            del body[key]
        return bool(dropped)

    # -- response -------------------------------------------------------------------------------
    def parse_response(self, data: Any, exchange: Exchange) -> Response:
        response = Response(model=data.get("model"))
        choices = data.get("choices") if isinstance(data.get("choices"), list) else []
        for choice in choices:
            message = choice.get("message") or {}
            if choice.get("index", 0) == 0:
                response.text = content_text(message.get("content")) or ""
                response.finish_reason = choice.get("finish_reason")
            response.tool_calls += _calls(message.get("tool_calls"))
        usage = data.get("usage")
        if isinstance(usage, dict):
            response.usage = Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        return response

    def tool_call_groups(self, data: Any) -> list[tuple[Any, list[ToolCall]]]:
        groups = []
        for position, choice in enumerate(data.get("choices") or ()):
            calls = _calls((choice.get("message") or {}).get("tool_calls"))
            if calls:
                groups.append((position, calls))
        return groups

    def refuse_response(self, data: dict[str, Any], key: Any, text: str) -> None:
        choice = data["choices"][key]
        message = choice.setdefault("message", {})
        message.pop("tool_calls", None)
        message.pop("function_call", None)
        message["role"] = "assistant"
        message["content"] = text
        choice["finish_reason"] = "stop"

    def stream_relay(self, exchange: Exchange, decide: Any) -> OpenAIStreamRelay:
        return OpenAIStreamRelay(exchange, decide, self.error_body)


class OpenAI(OpenAICompatible):
    name = "openai"
    #: Non-generative endpoints passed through unchanged. Generative ones that are not inspected
    #: (``/responses``, ``/completions``, ``/assistants``...) are refused: they would bypass the hooks.
    passthrough_post = ("embeddings", "moderations")

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        found = super().route(method, path, query)
        if found is not None:
            return found
        if method == "GET" and path:
            return Route("passthrough", path, stream=False)
        if method == "POST" and path in self.passthrough_post:
            return Route("passthrough", path, stream=False)
        return None


class Mistral(OpenAICompatible):
    name = "mistral"
    v1_prefix = True
    # Mistral forbids extra fields: stream_options gets a 422 (usage always comes in the last chunk).
    drop_params = ("stream_options",)

    def error_body(self, error: ProxyError) -> dict[str, Any]:
        return {"object": "error", "message": error.message, "type": error.kind, "param": error.param,
                "code": error.code}


class Cerebras(OpenAICompatible):
    name = "cerebras"


class VLLM(OpenAICompatible):
    name = "vllm"


class Ollama(OpenAICompatible):
    name = "ollama"


class ZhipuAI(OpenAICompatible):
    name = "zhipuai"
