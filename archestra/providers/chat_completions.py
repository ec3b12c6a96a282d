"""The OpenAI Chat Completions family, as OpenAI and the OpenAI-compatible servers speak it (openai_compat.py).

An instance serves one provider; the upstreams differ only in a few quirks, given to the constructor (see
provider-wire-formats.md section 6): body fields they reject, whether a stream reports usage only when asked,
the shape of an error.
"""
from __future__ import annotations

from typing import Any, Callable

from ..exchange import ClientInfo, Exchange, Message, ProfileInfo, Response, ToolCall
from ..proxy_error import ProxyError
from ..routing import Route
from .chat_context import DOCUMENTS, documents_result, unseen_context
from .chat_search import message_results, response_results
from .chat_usage import usage_of
from .content import content_text, set_content_text
from .family import Family
from .openai_calls import (
    TABLE,
    ConversationCalls,
    answer_calls,
    declared_tools,
    keep_tools,
    message_calls,
    refusable,
    result_document,
    result_text,
)
from .openai_stream import OpenAIStreamRelay
from .shapes import FamilyTable, Reading

CHAT = "chat/completions"
#: Where the exchange keeps how many choices the request asked for (``n``): a stream with more is refused.
CHOICES = "archestra.openai.choices"
#: The proxy asked the upstream for the usage chunk the client did not ask for: the relay strips it again.
USAGE_ADDED = "archestra.openai.usage_added"


def _choice_calls(choice: Any) -> list[ToolCall]:
    """The calls of one answer choice: its message's, and a delta's (a stream chunk sent as a JSON body),
    with a refused call for each part of them the family's table does not hold."""
    if not isinstance(choice, dict):
        raise TypeError("a choice is not an object")
    return answer_calls(choice.get("message"), "field") + answer_calls(choice.get("delta"), "delta")


def openai_error(error: ProxyError) -> dict[str, Any]:
    """An error as OpenAI's SDK parses it."""
    return {"error": {"message": error.message, "type": error.kind, "param": error.param, "code": error.code}}


def mistral_error(error: ProxyError) -> dict[str, Any]:
    """An error as Mistral answers it (and the mistralai SDK reads it)."""
    return {"object": "error", "message": error.message, "type": error.kind, "param": error.param,
            "code": error.code}


class ChatCompletions(Family):
    """``POST {base}/chat/completions``: messages with ``tool_calls``, ``role: tool`` results, ``tools[].function``."""

    def __init__(self, provider: str, *, chat_path: str = CHAT, drop_params: tuple[str, ...] = (),
                 usage_on_request: bool = True, table: FamilyTable = TABLE,
                 errors: Callable[[ProxyError], dict[str, Any]] = openai_error,
                 search_suffix: str | None = None) -> None:
        super().__init__(provider)
        #: Where the upstream serves this family (``chat/completions``; Cohere's ``v2/chat``).
        self.chat_path = chat_path
        #: Body fields this upstream rejects and the proxy removes before forwarding.
        self.drop_params = drop_params
        #: Streams report usage only when asked with ``stream_options.include_usage`` (OpenAI's chat completions).
        self.usage_on_request = usage_on_request
        #: The family's declared table: how every part of a request is read (see providers/shapes.py).
        self.table = table
        #: A model name suffix that turns the provider's web search on (OpenRouter's ``:online``): a server tool.
        self.search_suffix = search_suffix
        self._errors = errors

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        return (Route("chat", self.chat_path, stream=False, family=self),
                {"model": model, "messages": messages, "stream": False})

    # -- errors ---------------------------------------------------------------------------------
    def error_body(self, error: ProxyError) -> dict[str, Any]:
        return self._errors(error)

    # -- request --------------------------------------------------------------------------------
    def tool_result_text(self, content: Any) -> str:
        """A tool result's content as text for hooks."""
        return result_text(content)

    def tool_result_document(self, content: Any) -> Any:
        """What policy conditions see of a tool result (see ``ToolResult.document``)."""
        return result_document(content)

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
            if message.get("tool_calls") is not None and not isinstance(message["tool_calls"], list):
                raise ProxyError(400, f"'messages[{i}].tool_calls' must be an array.",
                                 param=f"messages[{i}].tool_calls")
        tools = body.get("tools")
        if tools is not None and not isinstance(tools, list):
            raise ProxyError(400, "'tools' must be an array.", param="tools")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise ProxyError(400, "'stream' must be a boolean.", param="stream")

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        conversation = ConversationCalls(body["messages"])
        messages: list[Message] = []
        documents = documents_result(self.table, body)
        if documents is not None:  # before the conversation, as chat templates place them
            messages.append(Message("tool", None, tool_results=[documents], _ref=DOCUMENTS))
        for index, raw in enumerate(body["messages"]):
            role = raw["role"]
            if self.table.in_request("role", role) is Reading.RESULT:
                # Legacy ``function`` and Llama ``ipython`` messages are tool results too: untrusted unless a
                # policy trusts them.
                content = raw.get("content")
                result = conversation.result(raw, index, self.tool_result_text(content),
                                             self.tool_result_document(content))
                messages.append(Message(role, None, tool_results=[result], _ref=index))
                continue
            text = content_text(raw.get("content"))
            calls = message_calls(raw) if role == "assistant" else []
            messages.append(Message(role, text, tool_calls=calls, _ref=index, _original=text))
        exchange = Exchange(self.provider, profile, body["model"], stream=bool(body.get("stream")),
                            messages=messages, tools=declared_tools(body, self.table, self.search_suffix),
                            client=client)
        exchange.unseen_context += unseen_context(self.table, body)
        choices = body.get("n")
        exchange.state[CHOICES] = choices if isinstance(choices, int) and not isinstance(choices, bool) else 1
        if self._adds_usage(body):
            exchange.state[USAGE_ADDED] = True
        return exchange

    def documents_written(self, content: str) -> list[Any]:
        """Grounding documents a policy replaced (blocked or sanitised), as the request carries documents."""
        return [{"text": content}]

    def _adds_usage(self, body: dict[str, Any]) -> bool:
        """A stream whose usage the client did not ask for: without it the exchange could not be priced."""
        if not self.usage_on_request or body.get("stream") is not True:
            return False
        options = body.get("stream_options")
        return not (isinstance(options, dict) and options.get("include_usage") is True)

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        body["model"] = exchange.model
        native = body["messages"]
        rebuilt = []
        if "documents" in body and not any(m._ref == DOCUMENTS for m in exchange.messages):
            del body["documents"]  # a hook removed them
        for message in exchange.messages:
            if message._ref == DOCUMENTS:
                if message.tool_results and message.tool_results[0].edited:
                    body["documents"] = self.documents_written(message.tool_results[0].content)
                continue
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
        keep_tools(body, exchange.tools, self.table, self.search_suffix)

    def prepare_upstream_body(self, body: dict[str, Any]) -> bool:
        dropped = [key for key in self.drop_params if key in body]
        for key in dropped:
            del body[key]
        if self._adds_usage(body) and "stream_options" in body:  # present without include_usage: rewritten
            options = body["stream_options"]
            body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
            return True
        return bool(dropped)

    def metered_payload(self, payload: bytes, body: dict[str, Any]) -> bytes:
        """The request with ``stream_options.include_usage`` when it has no ``stream_options``: spliced in
        after the opening brace, without encoding the (possibly large) body again."""
        if not self._adds_usage(body):
            return payload
        head, brace, rest = payload.lstrip().partition(b"{")
        return brace + b'"stream_options":{"include_usage":true},' + rest if brace and not head else payload

    # -- response -------------------------------------------------------------------------------
    def parse_response(self, data: Any, exchange: Exchange) -> Response:
        response = Response(model=data.get("model"))
        choices = data.get("choices") if isinstance(data.get("choices"), list) else []
        for choice in choices:
            message = choice.get("message") or {}
            if choice.get("index", 0) == 0:
                response.text = content_text(message.get("content")) or ""
                response.finish_reason = choice.get("finish_reason")
            response.tool_calls += _choice_calls(choice)
        response.usage = usage_of(data.get("usage")) or response.usage
        return response

    def tool_call_groups(self, data: Any) -> list[tuple[Any, ...]]:
        groups: list[tuple[Any, ...]] = []
        searched = response_results(data)
        for position, choice in enumerate(data.get("choices") or ()):
            calls = _choice_calls(choice)
            if calls:
                # What the provider's own search and tools read for this answer is in the context of its calls.
                groups.append((position, calls, searched + message_results(choice.get("message"))
                               + message_results(choice.get("delta"))))
        return groups

    def refuse_response(self, data: dict[str, Any], key: Any, text: str) -> None:
        choice = data["choices"][key]
        # A stream chunk sent as a JSON body carries its calls in ``delta``.
        part = "delta" if isinstance(choice.get("delta"), dict) and "message" not in choice else "message"
        for holder, where in ((choice.get("message"), "field"), (choice.get("delta"), "delta")):
            # The calls go, and so does every part the proxy does not understand.
            for field in [key for key in holder if refusable(key, where)] if isinstance(holder, dict) else ():
                holder.pop(field)
        message = choice.get(part) if isinstance(choice.get(part), dict) else {}
        message["role"] = "assistant"
        message["content"] = text
        choice[part] = message
        choice["finish_reason"] = "stop"

    def stream_relay(self, exchange: Exchange, decide: Any) -> OpenAIStreamRelay:
        return OpenAIStreamRelay(exchange, decide, self.error_body, exchange.state.get(CHOICES, 1),
                                 strip_usage=exchange.state.get(USAGE_ADDED, False))
