"""Ollama's native API (``/api/*``, provider-wire-formats.md section 11), served as the provider ``ollama-native``.

Two families: ``/api/chat`` (messages, tools, tool calls whose arguments are objects, ``role: tool`` results
named by ``tool_name``) and ``/api/generate`` (a prompt; no tools: a body declaring some is refused, as the
text-completion InvokeModel bodies are). ``stream`` defaults to true: an absent or null ``stream`` is a stream
of NDJSON lines (ollama_native_stream.py). Model listings and embeddings are passed through; every other
``/api`` path is refused (model management is no inference, but nothing goes upstream unchecked).

Ollama's tool messages carry no call id (the ``ollama`` library drops ids when a message is sent back): a result
is tied to a call of the last assistant message by its ``tool_call_id`` when that names one, else by its
``tool_name``; with two pending calls of that name it is ambiguous, and no tool's trust applies.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..exchange import ClientInfo, Exchange, Message, ProfileInfo, Response, ToolCall, ToolResult
from ..proxy_error import ProxyError
from ..routing import Route
from .base import Provider
from .chat_context import unseen_context
from .family import Family
from .key_formats import UNDOCUMENTED
from .ollama_native_stream import OllamaStreamRelay
from .ollama_native_table import FAMILY, TABLE, answer_calls, refused_keys, tool_call, unseen_keys, usage
from .openai_calls import declared_tools, keep_tools
from .shapes import Reading, refused_reason
from .wire import compact_json

CHAT, GENERATE = "api/chat", "api/generate"
#: Endpoints passed through unchanged (recorded and limited, not inspected): model listings and details, the
#: server's version, embeddings. None of them generates text.
PASSED = frozenset({("GET", "api/tags"), ("GET", "api/ps"), ("GET", "api/version"), ("POST", "api/show"),
                    ("POST", "api/embed"), ("POST", "api/embeddings")})


def ollama_error(error: ProxyError) -> dict[str, Any]:
    """An error as Ollama answers it (the ``ollama`` library raises ``ResponseError`` with its text)."""
    return {"error": error.message}


class OllamaFamily(Family):
    """What both endpoints share: errors, ``model`` and ``stream``, the NDJSON stream, refusals of keys the
    table does not hold."""

    stream_content_type = "application/x-ndjson"
    #: ``chat`` or ``generate``: the endpoint, and the place of its top-level keys in the table.
    endpoint = ""
    path = ""

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self.name = f"{FAMILY} /{self.path}"

    def error_body(self, error: ProxyError) -> dict[str, Any]:
        return ollama_error(error)

    def validate_request(self, body: Any) -> None:
        super().validate_request(body)
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise ProxyError(400, "model is required")
        if body.get("stream") is not None and not isinstance(body["stream"], bool):
            raise ProxyError(400, "stream must be a boolean")
        self._validate(body)

    def _validate(self, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def exchange(self, body: dict[str, Any], messages: list[Message], profile: ProfileInfo,
                 client: ClientInfo) -> Exchange:
        # Ollama streams unless told not to (``stream`` absent or null is a stream).
        exchange = Exchange(self.provider, profile, body["model"], stream=body.get("stream") is not False,
                            messages=messages, tools=declared_tools(body, TABLE), client=client)
        exchange.unseen_context += unseen_keys(self.endpoint, body)
        return exchange

    # -- response -------------------------------------------------------------------------------
    def tool_call_groups(self, data: Any) -> list[tuple[Any, list[ToolCall]]]:
        calls = self.answer_calls(data) + [
            ToolCall(None, key, data[key], compact_json(data[key]),
                     refuse=refused_reason(FAMILY, f"{self.endpoint} answer field", key))
            for key in refused_keys(self.endpoint, data)]
        return [(None, calls)] if calls else []

    def answer_calls(self, data: dict[str, Any]) -> list[ToolCall]:
        return []

    def refuse_response(self, data: dict[str, Any], key: Any, text: str) -> None:
        for field in refused_keys(self.endpoint, data):
            data.pop(field)
        self.write_refusal(data, text)

    def write_refusal(self, data: dict[str, Any], text: str) -> None:
        raise NotImplementedError

    def stream_relay(self, exchange: Exchange, decide: Any) -> OllamaStreamRelay:
        return OllamaStreamRelay(exchange, decide, self.endpoint)


class PendingCalls:
    """The calls of the last assistant message, each waiting for its result."""

    def __init__(self) -> None:
        self._calls: list[ToolCall] = []

    def open(self, calls: list[ToolCall]) -> None:
        self._calls = list(calls)

    def tie(self, message: dict[str, Any]) -> str | None:
        """The tool a ``role: tool`` message answers, or None when it cannot be tied to exactly one call."""
        call_id, name = message.get("tool_call_id"), message.get("tool_name")
        found = [call for call in self._calls if call_id is not None and call.id == call_id]
        if not found:
            found = [call for call in self._calls if isinstance(name, str) and call.name == name]
        if len(found) != 1:
            return None  # no call, or two a client could mean: no tool's trust
        self._calls.remove(found[0])
        return found[0].name if name is None or name == found[0].name else None


class OllamaChat(OllamaFamily):
    """``POST /api/chat``."""

    endpoint, path = "chat", CHAT

    def _validate(self, body: dict[str, Any]) -> None:
        messages = body.get("messages")
        if messages is not None and (not isinstance(messages, list) or
                                     not all(isinstance(m, dict) for m in messages)):
            raise ProxyError(400, "messages must be an array of message objects")
        for message in messages or ():
            if not isinstance(message.get("role"), str):
                raise ProxyError(400, "a message's role must be a string")
            if message.get("tool_calls") is not None and not isinstance(message["tool_calls"], list):
                raise ProxyError(400, "a message's tool_calls must be an array")
        if body.get("tools") is not None and not isinstance(body["tools"], list):
            raise ProxyError(400, "tools must be an array")

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        return Route("chat", CHAT, stream=False, family=self), {"model": model, "messages": messages, "stream": False}

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        messages: list[Message] = []
        pending = PendingCalls()
        for index, raw in enumerate(body.get("messages") or ()):
            role, content = raw["role"], raw.get("content")
            text = content if isinstance(content, str) else None if content is None else compact_json(content)
            if TABLE.in_request("role", role) is Reading.RESULT:
                call_id = raw.get("tool_call_id") if isinstance(raw.get("tool_call_id"), str) else None
                result = ToolResult(call_id, pending.tie(raw), text or "", _ref=index, _original=text or "")
                messages.append(Message(role, None, tool_results=[result], _ref=index))
                continue
            calls = [tool_call(entry) for entry in raw.get("tool_calls") or ()] if role == "assistant" else []
            if role == "assistant":
                pending.open(calls)
            messages.append(Message(role, text, tool_calls=calls, _ref=index, _original=text))
        exchange = self.exchange(body, messages, profile, client)
        exchange.unseen_context += unseen_context(TABLE, body)
        return exchange

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        body["model"] = exchange.model
        native, rebuilt = body.get("messages") or [], []
        for message in exchange.messages:
            if message._ref is None:
                rebuilt.append({"role": message.role, "content": message.text or ""})
                continue
            raw = native[message._ref]
            if message.text is not None and message.text != message._original:
                raw["content"] = message.text
            for result in message.tool_results:
                if result.edited:
                    raw["content"] = result.content
            rebuilt.append(raw)
        body["messages"] = rebuilt
        keep_tools(body, exchange.tools, TABLE)

    def parse_response(self, data: Any, exchange: Exchange | None) -> Response:
        message = data.get("message") or {}
        content = message.get("content")
        return Response(text=content if isinstance(content, str) else "", tool_calls=answer_calls(message),
                        finish_reason=data.get("done_reason"), usage=usage(data), model=data.get("model"))

    def answer_calls(self, data: dict[str, Any]) -> list[ToolCall]:
        return answer_calls(data.get("message") or {})

    def write_refusal(self, data: dict[str, Any], text: str) -> None:
        data["message"] = {"role": "assistant", "content": text}


class OllamaGenerate(OllamaFamily):
    """``POST /api/generate``: a prompt (and a system prompt, a suffix) read as messages; no tools."""

    endpoint, path = "generate", GENERATE
    #: The body fields read as messages, and the role each is read as.
    _TEXTS = (("system", "system"), ("prompt", "user"), ("suffix", "user"))

    def _validate(self, body: dict[str, Any]) -> None:
        declared = [key for key in ("tools", "tool_choice") if key in body]
        if declared:  # calls in a text completion would be calls the proxy cannot see
            raise ProxyError(400, f"{declared[0]}: tools cannot be used with /api/generate through this proxy; "
                                  "use /api/chat")
        for key, _ in self._TEXTS:
            if body.get(key) is not None and not isinstance(body[key], str):
                raise ProxyError(400, f"{key} must be a string")

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        messages = [Message(role, body[key], _ref=key, _original=body[key])
                    for key, role in self._TEXTS if isinstance(body.get(key), str)]
        return self.exchange(body, messages, profile, client)

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        body["model"] = exchange.model
        kept = {message._ref for message in exchange.messages}
        for key, _ in self._TEXTS:
            if key in body and key not in kept:
                del body[key]  # a hook removed it
        for message in exchange.messages:
            if message._ref is not None:
                if message.edited:
                    body[message._ref] = message.text or ""
                continue
            # A message a hook added: system text joins the system prompt, any other the prompt.
            key = "system" if message.role == "system" else "prompt"
            body[key] = "\n\n".join(text for text in (body.get(key), message.text) if text)

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        body = {"model": model, "prompt": prompt, "stream": False, **({"system": system} if system else {})}
        return Route("chat", GENERATE, stream=False, family=self), body

    def parse_response(self, data: Any, exchange: Exchange | None) -> Response:
        text = data.get("response")
        return Response(text=text if isinstance(text, str) else "", finish_reason=data.get("done_reason"),
                        usage=usage(data), model=data.get("model"))

    def write_refusal(self, data: dict[str, Any], text: str) -> None:
        data["response"] = text


class OllamaNative(Provider):
    """Ollama's own API at ``{base}/api/...`` (``ARCHESTRA_OLLAMA_NATIVE_BASE_URL``, the server's root)."""

    name = "ollama-native"
    key_format = UNDOCUMENTED  # a local server takes no key; ollama.com takes a Bearer key
    tracing_name = "ollama"

    def __init__(self) -> None:
        self.family = OllamaChat(self.name)
        self.generate = OllamaGenerate(self.name)

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        if path != "api" and not path.startswith("api/"):
            return None
        if method == "POST" and path == CHAT:
            return Route("chat", CHAT, family=self.family)
        if method == "POST" and path == GENERATE:
            return Route("chat", GENERATE, family=self.generate)
        if (method, path) in PASSED:
            return Route("passthrough", path, stream=False, family=self.family)
        # Model management (pull, push, create, copy, delete, blobs) and anything newer: never passed unchecked.
        raise ProxyError(404, f"{method} /{path} is not a route this proxy serves for {self.name}.",
                         kind="not_found_error", code="unknown_route")

