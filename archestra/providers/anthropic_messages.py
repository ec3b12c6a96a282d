"""The Anthropic Messages family (provider-wire-formats.md section 2), at Anthropic and, with the model in the path,
at the clouds (anthropic_platforms.py)."""
from __future__ import annotations

from typing import Any, Iterator

from ..exchange import ClientInfo, Exchange, Message, ProfileInfo, Response, ToolCall, ToolResult, Usage
from ..proxy_error import ProxyError
from ..routing import Route
from .anthropic_blocks import (
    CALL_TYPES,
    Names,
    answer_segments,
    blocks,
    call_of,
    client_result,
    declared_tools,
    is_server_result,
    pinned_listings,
    server_result,
    set_text,
    tool_entries,
    undeclared_tools,
    write_result,
    write_tools,
)
from .anthropic_context import request_unseen, unseen
from .anthropic_reminders import INSTRUCTIONS_TOOL, Reminders, instructions_tool
from .anthropic_stream import AnthropicStreamRelay
from .anthropic_table import FAMILY, TABLE
from .family import Family
from .shapes import Reading, unseen_reason
from .wire import compact_json

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
                415: "invalid_request_error", 429: "rate_limit_error", 402: "billing_error"}


class AnthropicMessages(Family):
    """``POST /v1/messages``: content blocks, ``tool_use`` / ``tool_result``, server tools and their results."""

    def __init__(self, provider: str = "anthropic") -> None:
        super().__init__(provider)

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        return Route("chat", "v1/messages", stream=False, family=self), self.question(model, system, prompt)

    @staticmethod
    def question(model: str, system: str, prompt: str) -> dict[str, Any]:
        """The body of a proxy-made question (the dual LLM)."""
        body: dict[str, Any] = {"model": model, "max_tokens": 1024, "messages": [{"role": "user", "content": prompt}]}
        if system:
            body["system"] = system
        return body

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
            # ``system`` messages inside ``messages`` are part of the API (Claude Code sends them).
            if message.get("role") not in ("user", "assistant", "system"):
                raise ProxyError(400, f"messages.{i}.role: must be 'user', 'assistant' or 'system'.")
        if "system" in body and not isinstance(body["system"], (str, list)):
            raise ProxyError(400, "system: must be a string or an array of text blocks.")
        for key in ("tools", "mcp_servers"):
            if body.get(key) is not None and not isinstance(body[key], list):
                raise ProxyError(400, f"{key}: must be an array.")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise ProxyError(400, "stream: must be a boolean.")

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        names, reminders, unseen_context = Names(), Reminders(), list[str]()
        for raw in body["messages"]:  # every call first: a result is tied to its call by id, once all are known
            for block in blocks(raw.get("content")):
                if isinstance(block, dict) and block.get("type") in CALL_TYPES:
                    names.add(block)
        messages: list[Message] = []
        if body.get("system"):
            raw_system = {"role": "system", "content": body["system"]}
            messages.append(self._message("system", raw_system, names, reminders, unseen_context))
            reminders.reset()
        for index, raw in enumerate(body["messages"]):
            messages.append(self._message(index, raw, names, reminders, unseen_context))
        entries = tool_entries(body)
        tools = declared_tools(body, entries)
        if listings := pinned_listings(body, entries):  # read with the conversation: the first message holds them
            if messages:
                messages[0].tool_results[:0] = listings
            else:
                unseen_context.append("tools: a pinned MCP tool listing with no conversation to read it in")
        unseen_context += [f"tools: {reason}" for reason in undeclared_tools(body, entries)] + request_unseen(body)
        if any(result.name == INSTRUCTIONS_TOOL for message in messages for result in message.tool_results):
            tools.append(instructions_tool())  # discovered, so that a policy can trust it
        exchange = Exchange(self.provider, profile, body["model"], stream=bool(body.get("stream")),
                            messages=messages, tools=tools, client=client)
        exchange.unseen_context.extend(unseen_context)
        return exchange

    @staticmethod
    def _message(index: int | str, raw: dict[str, Any], names: Names, reminders: Reminders,
                 unseen_context: list[str]) -> Message:
        """One message (``index`` "system": the top-level system prompt) as hooks see it."""
        role, content = raw["role"], raw.get("content")
        if role == "assistant":
            reminders.reset()
        scan = role != "assistant"
        if isinstance(content, str):
            name = reminders.result_of(content) if scan else None
            if name is None:
                return Message(role, content, _ref=index, _original=content)
            result = ToolResult(None, name, content, _ref=("string", None), _original=content)
            return Message(role, None, tool_results=[result], _ref=index)
        calls, results, texts = [], [], []
        where = index if index == "system" else f"messages.{index}"
        if content is not None and not isinstance(content, list):  # neither text nor blocks: nothing is read
            unseen_context.append(f"{where}: {unseen_reason(FAMILY, 'content', f'{type(content).__name__} value')}")
        for position, block in enumerate(blocks(content)):
            if reason := unseen(block):
                unseen_context.append(f"{where}: {reason}")
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            reading = TABLE.in_request("content", kind)
            if reading in (Reading.CALL, Reading.SERVER_TOOL):
                calls.append(call_of(block))
            elif kind == "tool_result":
                results.append(client_result(block, names, ("tool_result", position)))
            elif reading is Reading.RESULT or is_server_result(kind):  # an unknown ``*_tool_result`` too
                results.append(server_result(block, names, ("server", position)))
            elif scan and (name := reminders.result_of(block)) is not None:
                text = block.get("text")
                whole = not isinstance(text, str)
                output = compact_json(block) if whole else str(text)
                results.append(ToolResult(None, name, output, document=block if whole else None,
                                          _ref=("reminder", position), _original=output))
            elif kind == "text":
                texts.append(str(block.get("text", "")))
        text = "".join(texts) if texts else None
        return Message(role, text, calls, results, _ref=index, _original=text)

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
            self._write_message(raw, message)
            rebuilt.append(raw)
        body["messages"] = rebuilt
        self._write_system(body, system_parts)
        # A pinned MCP listing a policy blocked or sanitised: its server goes (the model must not read it).
        refused = {r.name for r in exchange.tool_results if r._ref and r._ref[0] == "listing" and r.edited}
        write_tools(body, [t for t in exchange.tools if not (t.server and t.name in refused)])

    @staticmethod
    def _write_message(raw: dict[str, Any], message: Message) -> None:
        """Hook edits of one message: results first (in place), then its own text around them."""
        dropped: list[Any] = []
        for result in message.tool_results:
            if result.edited:
                write_result(raw, result, dropped)
        if message.text is not None and message.text != message._original:
            set_text(raw, message.text, {r._ref[1] for r in message.tool_results
                                         if r._ref[0] not in ("tool_result", "listing")})
        if dropped:
            raw["content"] = [b for b in raw["content"] if all(b is not d for d in dropped)]

    @staticmethod
    def _write_system(body: dict[str, Any], parts: list[Message]) -> None:
        original = next((m for m in parts if m._ref == "system"), None)
        added = [m.text or "" for m in parts if m._ref is None]
        if original is None and not added:
            body.pop("system", None)
            return
        holder = {"content": body.get("system", "")}
        if original is not None:
            AnthropicMessages._write_message(holder, original)
        if added:
            if isinstance(holder["content"], list):
                holder["content"] = [*({"type": "text", "text": t} for t in added), *holder["content"]]
            else:
                holder["content"] = "\n\n".join([*added, holder["content"]] if holder["content"] else added)
        body["system"] = holder["content"]

    # -- response -------------------------------------------------------------------------------
    def parse_response(self, data: Any, exchange: Exchange) -> Response:
        content = [b for b in blocks(data.get("content")) if isinstance(b, dict)]
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Response(
            text="".join(str(b.get("text", "")) for b in content if b.get("type") == "text"),
            tool_calls=[call_of(b) for b in content if b.get("type") in CALL_TYPES],
            finish_reason=data.get("stop_reason"),
            usage=Usage(usage.get("input_tokens"), usage.get("output_tokens")),
            model=data.get("model"),
        )

    def tool_call_groups(self, data: Any) -> Iterator[tuple[Any, list[ToolCall], list[ToolResult]]]:
        """The answer's calls, one group per stretch between server results (``answer_segments``), each
        with the results before it. Groups come one at a time and stop once one was refused
        (``refuse_response`` replaced the content): one blocked call blocks the whole answer."""
        content = data.get("content")
        for calls, results in answer_segments(content):
            if data.get("content") is not content:
                return
            yield None, calls, results

    def refuse_response(self, data: dict[str, Any], key: Any, text: str) -> None:
        data["content"] = [{"type": "text", "text": text}]
        data["stop_reason"] = "end_turn"
        data["stop_sequence"] = None

    def stream_relay(self, exchange: Exchange, decide: Any) -> AnthropicStreamRelay:
        return AnthropicStreamRelay(exchange, decide)
