"""The OpenAI Responses API family (``POST {base}/responses``), served for OpenAI, vLLM and Ollama.

A family, not a provider (style.md): the provider says where a request goes and how it authenticates, this
module speaks the wire format (see ``responses_items`` for what each item is to the security view).

* Request: ``instructions`` (a system message), ``input`` (a string, a user message, or items), ``tools``.
  Client calls in the history are tool calls, their outputs tool results; hosted items (web search, file
  search, code interpreter, image generation, MCP calls and listings) are server results; ``reasoning`` and
  other opaque items are kept byte for byte. Every item, part and tool is read by the family's declared table
  (``responses_table.TABLE``). Context the proxy cannot see makes the context untrusted
  (``Exchange.unseen_context``): item, part and tool types the table does not hold, ``item_reference``, files
  and images given by ``file_id`` / ``file_url`` / a remote URL at any depth (in messages and call outputs), a
  stored ``prompt``, ``compaction`` items (unless the response chain relayed it for this profile and puts the
  context it summarises back: ``COMPACTIONS``). ``previous_response_id`` and ``conversation`` are left in
  ``exchange.state[PREVIOUS]`` for the response chain (``security/response_chain.py``), which puts the
  remembered context back (``REMEMBERED`` messages, never written back) or marks it unseen.
* Compaction: ``POST /responses/compact`` (Codex's remote compaction, v1) is an exchange like ``POST /responses``;
  its answer (``response.compaction``: the user messages, then one ``compaction`` item) and a Responses answer
  carrying a ``compaction`` item (v2: a ``compaction_trigger`` input item) leave the items' encrypted contents in
  ``exchange.state[COMPACTED]`` for the chain to remember with the trust of the context they summarise.
* Hosted tools (every tool type the client does not run: ``web_search*`` as ``web_search``, ``file_search``,
  ``code_interpreter``, ``image_generation``, ``mcp`` as ``mcp:<server_label>``, server-side ``tool_search``,
  ``shell`` in a hosted container, types unknown here, which are unseen context too) are server tools: decided
  before the request goes upstream (``gate_server_tools``); a refused one is removed, with a ``tool_choice``
  naming it. Their hosted items in an answer already ran: those are results (they taint the context). A call
  item some client executes (``shell_call``, ``tool_search_call``...) stays a decided call whatever its fields
  say about where it ran.
* **MCP approvals.** An ``mcp`` tool with ``require_approval: "never"`` (or a filter exempting some of its
  tools) lets the provider call MCP tools without the proxy seeing the call, and an MCP result read in one
  answer can make the next MCP call of that answer one made in an untrusted context. So every ``mcp`` tool
  the proxy forwards asks for approval (``require_approval`` is rewritten to ``"always"``): each MCP call
  comes back as an ``mcp_approval_request`` item, decided like a client call of ``mcp:<server_label>`` with
  arguments ``{"name": <MCP tool>, "arguments": {...}}``. Allowed, the request reaches the client unchanged and
  the client answers it as usual (the openai-agents SDK's ``on_approval_request`` hook, or its
  interruptions); refused, it is replaced by the refusal message, so the client never approves it. A client
  that set ``"never"`` therefore sees approval requests for the calls the policies allow.
* Answer: the calls (client calls, approval requests, and item types or message parts the table does not hold,
  which are refused whatever the policies) are decided with the hosted results
  that came before them; one refused call refuses them all: the call items give way to one assistant
  ``message`` item with the refusal text, where the first call was. ``tool_call_groups``, ``refuse_response``
  and ``parse_response`` take any Responses ``response`` object (a POST's body, the ``response`` of
  ``response.completed``, a retrieved response); ``responses_items.answer_segments`` is the neutral view of
  its items.
* Streams: ``responses_stream.ResponsesStreamRelay``.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterator, Mapping

from ..exchange import ClientInfo, Exchange, Message, ProfileInfo, Response, Tool, ToolCall, ToolResult, Usage
from ..proxy_error import ProxyError
from ..routing import Route
from .chat_completions import openai_error
from .content import content_text, set_content_text
from .family import Family
from .instructions import INSTRUCTIONS_TOOL, codex_instructions, instructions_tool
from .responses_items import (
    COMPACTED,
    COMPACTIONS,
    TEXT_PARTS,
    Calls,
    answer_calls,
    answer_segments,
    call_of,
    compaction_of,
    field_unseen,
    hosted_result,
    item_tools,
    item_unseen,
    kind_of,
    output_result,
    refuse_output,
    tool_name,
    tool_of,
    tool_unseen,
)
from .responses_stream import ResponsesStreamRelay

PATH = "responses"
#: ``exchange.state`` key holding ``{"previous_response_id", "conversation", "store"}`` of every request (and
#: ``"retrieved": True`` for a stored response fetched again), for the response chain.
PREVIOUS = "archestra.responses.previous"
#: ``Message._ref`` of the results the response chain puts back into the view (the context a
#: ``previous_response_id`` or a compaction continues): the provider holds them, they are never written back.
#: Their results' ``_ref`` is ``(REMEMBERED, stored)``, ``stored`` the chain's record (``original`` in it: the
#: provider holds a version the proxy made, a summary or a redaction, not the tool's own output).
REMEMBERED = "remembered"
#: ``exchange.state`` key of the declared tools and where each sits in the body (to remove refused ones).
_PLACES = "archestra.responses.tools"
_INSTRUCTIONS = "archestra.responses.instructions"  # a project instruction file's ToolResult._ref: (this, part)
#: Outputs whose ``output`` may be text; others (screenshots, shell outcomes) cannot hold a redaction.
_TEXT_OUTPUTS = ("function_call_output", "custom_tool_call_output", "local_shell_call_output",
                 "apply_patch_call_output")


_RESPONSE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


def companion_route(method: str, path: str, query: Mapping[str, str], provider: str) -> Route | None:
    """The routes clients call beside ``POST /responses``. A stored response fetched again (``GET
    /responses/{id}``, also streamed with ``?stream=true``, and ``POST /responses/{id}/cancel``, which answers
    the response) is decided like any answer, in the context its creation left; deleting, listing its input
    items and counting input tokens are passed through."""
    parts = path.split("/")
    if parts[0] != PATH or len(parts) not in (2, 3):
        return None
    if parts[1] == "input_tokens" and len(parts) == 2:
        return Route("passthrough", path, stream=False, family=family_for(provider)) if method == "POST" else None
    if parts[1] == "compact" and len(parts) == 2:  # a compaction pass: an exchange like any other
        return Route("chat", path, family=family_for(provider)) if method == "POST" else None
    if not _RESPONSE_ID.fullmatch(parts[1]):
        return None
    operation = parts[2] if len(parts) == 3 else None
    if operation is None and method == "GET" or operation == "cancel" and method == "POST":
        stream = method == "GET" and str(query.get("stream", "")).lower() == "true"
        return Route("retrieve", path, stream=stream, model=parts[1], family=family_for(provider))
    if operation is None and method == "DELETE" or operation == "input_items" and method == "GET":
        return Route("passthrough", path, stream=False, family=family_for(provider))
    return None


def not_served(provider: str) -> ProxyError:
    return ProxyError(404, f"POST /responses: the {provider} provider does not serve the OpenAI Responses API "
                           f"(use /chat/completions).", kind="not_found_error", code="unknown_route")


@lru_cache(maxsize=None)
def family_for(provider: str) -> Responses:
    """The Responses family adapter for ``provider`` (its exchanges are recorded under that provider)."""
    return Responses(provider)


class Responses(Family):
    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self.name = f"{provider} Responses API"

    def error_body(self, error: ProxyError) -> dict[str, Any]:
        return openai_error(error)

    # -- request --------------------------------------------------------------------------------
    def validate_request(self, body: Any) -> None:
        super().validate_request(body)
        if "model" in body and (not isinstance(body["model"], str) or not body["model"]):
            raise ProxyError(400, "'model' must be a non-empty string.", param="model")
        items = body.get("input")
        if items is not None and not isinstance(items, str) and not (
                isinstance(items, list) and all(isinstance(item, dict) for item in items)):
            raise ProxyError(400, "'input' must be a string or an array of input items.", param="input")
        if body.get("instructions") is not None and not isinstance(body["instructions"], str):
            raise ProxyError(400, "'instructions' must be a string.", param="instructions")
        if body.get("tools") is not None and not isinstance(body["tools"], list):
            raise ProxyError(400, "'tools' must be an array.", param="tools")
        if "stream" in body and not isinstance(body["stream"], (bool, type(None))):
            raise ProxyError(400, "'stream' must be a boolean.", param="stream")

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        messages: list[Message] = []
        if isinstance(body.get("instructions"), str):
            messages.append(Message("system", body["instructions"], _ref="instructions",
                                    _original=body["instructions"]))
        items = body.get("input")
        unseen: list[str] = []
        if isinstance(items, str):
            messages.append(Message("user", items, _ref="input", _original=items))
        elif isinstance(items, list):
            calls = Calls(items)
            compactions = []
            for index, item in enumerate(items):
                messages.append(_message(item, index, calls))
                reason = item_unseen(item)
                if reason:
                    unseen.append(f"input[{index}]: {reason}")
                    if compaction_of(item):
                        compactions.append((unseen[-1], compaction_of(item)))
        places = _declared(body)
        declared = [tool for tool, _ in places]
        if any(result.name == INSTRUCTIONS_TOOL for message in messages for result in message.tool_results):
            declared.append(instructions_tool())  # discovered, so that a policy can trust it
        unseen += _tools_unseen(body) + [why for name, value in body.items() if (why := field_unseen(name, value))]
        exchange = Exchange(self.provider, profile, body.get("model") or "", stream=bool(body.get("stream")),
                            messages=messages, tools=declared, client=client)
        prompt = body.get("prompt")
        if isinstance(prompt, dict) and prompt.get("id") is not None:
            unseen.append(f"the stored prompt {prompt['id']}")
        exchange.unseen_context += unseen
        exchange.state[PREVIOUS] = {"previous_response_id": body.get("previous_response_id"),
                                    "conversation": body.get("conversation"), "store": body.get("store")}
        exchange.state[_PLACES] = places
        if isinstance(items, list) and compactions:
            exchange.state[COMPACTIONS] = compactions
        return exchange

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        if exchange.model or "model" in body:
            body["model"] = exchange.model
        items = body.get("input")
        instructions = [m for m in exchange.messages if m._ref == "instructions"]
        rest = [m for m in exchange.messages if m._ref not in ("instructions", REMEMBERED)]
        for result in exchange.tool_results:
            ref = result._ref
            if isinstance(ref, tuple) and ref[0] == REMEMBERED and result.edited and "original" not in ref[1]:
                # The provider holds the tool's own output, which the model reads, not this edit of it (a
                # version the proxy made earlier, a summary or a redaction, is as safe as the edit).
                exchange.unseen_context.append(f"a remembered result of {result.name} that a policy changed, which "
                                               "the provider holds unchanged")
        if instructions:
            body["instructions"] = instructions[0].text or ""
        else:
            body.pop("instructions", None)
        if isinstance(items, str) and len(rest) == 1 and rest[0]._ref == "input":
            body["input"] = rest[0].text or ""
        elif rest or items is not None:
            dropped: set[str] = set()
            rebuilt = [_write_item(items, message, dropped) for message in rest]
            body["input"] = [item for item in rebuilt
                             if not (kind_of(item) == "call" and item.get("call_id") in dropped)]
        _keep_tools(body, exchange)

    def prepare_upstream_body(self, body: dict[str, Any]) -> bool:
        """Every forwarded ``mcp`` tool asks for approval (module docstring: MCP approvals)."""
        changed = False
        tools, items = body.get("tools"), body.get("input")
        entries = [*(tools if isinstance(tools, list) else ())]
        for item in items if isinstance(items, list) else ():
            entries += item_tools(item)
        for entry in entries:
            if isinstance(entry, dict) and entry.get("type") == "mcp" and entry.get("require_approval") != "always":
                entry["require_approval"] = "always"
                changed = True
        return changed

    def retrieval_exchange(self, route: Route, profile: ProfileInfo, client: ClientInfo) -> Exchange:
        """The exchange of a stored response fetched again (``route.model`` is its id): it continues the
        context the response was created in, so the response chain looks that context's trust up."""
        exchange = Exchange(self.provider, profile, "", stream=bool(route.stream), client=client)
        exchange.state[PREVIOUS] = {"previous_response_id": route.model, "conversation": None, "retrieved": True}
        return exchange

    # -- response -------------------------------------------------------------------------------
    def prepare_answer(self, data: Any, exchange: Exchange) -> None:
        """Before a non-streamed answer's calls are decided (``Provider.prepare_answer``): a retrieved response
        tells its model and the tools its request declared (a POST's request declared them itself)."""
        if (exchange.state.get(PREVIOUS) or {}).get("retrieved") and not exchange.tools:
            exchange.tools = [tool for tool, _ in _declared(data)]
            exchange.model = data.get("model") if isinstance(data.get("model"), str) else exchange.model

    def parse_response(self, data: Any, exchange: Exchange | None) -> Response:
        output = data.get("output") if isinstance(data.get("output"), list) else []
        texts = [content_text(item.get("content"), ("output_text",)) or "" for item in output
                 if isinstance(item, dict) and item.get("type") == "message"]
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        compacted = [content for content in map(compaction_of, output) if content]
        if compacted and exchange is not None:
            exchange.state[COMPACTED] = compacted
        return Response(text="".join(texts), tool_calls=answer_calls(output), finish_reason=data.get("status"),
                        usage=Usage(usage.get("input_tokens"), usage.get("output_tokens")),
                        model=data.get("model"), id=data.get("id") if isinstance(data.get("id"), str) else None)

    def tool_call_groups(self, data: Any) -> Iterator[tuple[Any, list[ToolCall], list[ToolResult]]]:
        """The answer's calls, stretch by stretch with the hosted results before them (the last group may hold
        results only). Lazy: once one group was refused the output is replaced and no group follows."""
        output = data.get("output")
        if output is not None and not isinstance(output, list):
            raise ValueError("output is not an array")
        for calls, results in answer_segments(output):
            if data.get("output") is not output:
                return
            yield None, calls, results

    def refuse_response(self, data: dict[str, Any], key: Any, text: str) -> None:
        data["output"] = refuse_output(data.get("output") or [], text)

    def stream_relay(self, exchange: Exchange, decide: Any) -> ResponsesStreamRelay:
        return ResponsesStreamRelay(exchange, decide)


# -- reading items --------------------------------------------------------------------------------------
def _message(item: dict[str, Any], index: int, calls: Calls) -> Message:
    kind = kind_of(item)
    if kind == "message":
        role = str(item.get("role") or "user")
        content = item.get("content")
        files = codex_instructions(content, TEXT_PARTS) if role == "user" else []
        if files:  # Codex's AGENTS.md files: results of project_instructions, the rest stays the user's text
            positions = {position for position, _ in files}
            rest = content_text([p for i, p in enumerate(content) if i not in positions], TEXT_PARTS) \
                if isinstance(content, list) else None
            results = [ToolResult(None, INSTRUCTIONS_TOOL, text, _ref=(_INSTRUCTIONS, position), _original=text)
                       for position, text in files]
            return Message(role, rest, tool_results=results, _ref=index, _original=rest)
        text = content_text(content, TEXT_PARTS)
        return Message(role, text, _ref=index, _original=text)
    if kind == "call":
        return Message("assistant", None, tool_calls=[call_of(item)], _ref=index)
    if kind == "output":
        return Message("tool", None, tool_results=[output_result(item, calls.name(item, index), index)], _ref=index)
    if kind == "hosted":
        return Message("assistant", None, tool_results=[hosted_result(item, index)], _ref=index)
    return Message("assistant" if item.get("type") == "reasoning" else "user", None, _ref=index)


def _tools_unseen(body: dict[str, Any]) -> list[str]:
    """The ``tools`` entries (inside namespaces and tool-carrying items too) of types the table does not hold."""
    entries = [*(body.get("tools") if isinstance(body.get("tools"), list) else ())]
    entries += [inner for entry in list(entries) if isinstance(entry, dict) and entry.get("type") == "namespace"
                for inner in (entry.get("tools") if isinstance(entry.get("tools"), list) else ())]
    items = body.get("input")
    entries += [entry for item in (items if isinstance(items, list) else ()) for entry in item_tools(item)]
    return [why for entry in entries if (why := tool_unseen(entry))]


def _declared(body: dict[str, Any]) -> list[tuple[Tool, tuple[Any, ...]]]:
    """Every declared tool and where its entry is: ``("tools", i)``, ``("tools", i, j)`` inside a namespace,
    ``("input", i, j)`` in an item carrying tool definitions."""
    places: list[tuple[Tool | None, tuple[Any, ...]]] = []
    for i, entry in enumerate(body.get("tools") or ()):
        if isinstance(entry, dict) and entry.get("type") == "namespace":
            namespace = entry.get("name") if isinstance(entry.get("name"), str) else ""
            places += [(tool_of(inner, namespace), ("tools", i, j)) for j, inner in enumerate(entry.get("tools") or ())]
        else:
            places.append((tool_of(entry), ("tools", i)))
    items = body.get("input")
    for i, item in enumerate(items if isinstance(items, list) else ()):
        places += [(tool_of(entry), ("input", i, j)) for j, entry in enumerate(item_tools(item))]
    return [(tool, place) for tool, place in places if tool is not None]


# -- writing hook edits back ------------------------------------------------------------------------------
def _write_item(items: Any, message: Message, dropped: set[str]) -> dict[str, Any]:
    """The input item for one message of the view, with hook edits applied."""
    if message._ref is None or message._ref == "input":
        return {"role": message.role, "content": message.text or ""}
    item = items[message._ref]
    files = {result._ref[1]: result for result in message.tool_results
             if isinstance(result._ref, tuple) and result._ref[0] == _INSTRUCTIONS}
    if message.text is not None and message.text != message._original:
        kinds = ("output_text", "input_text") if message.role == "assistant" else TEXT_PARTS
        set_content_text(item, message.text, kinds, skip=set(files))
    for position, result in files.items():
        if result.edited and position is None:
            item["content"] = result.content
        elif result.edited:
            item["content"][position] = {**item["content"][position], "text": result.content}
    for result in message.tool_results:
        if not result.edited or any(result is file for file in files.values()):
            continue
        if item.get("type") in _TEXT_OUTPUTS:
            item["output"] = result.content
        elif item.get("type") == "shell_call_output" and not result.server:
            item["output"] = [{"stdout": result.content, "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}]
        else:
            # Typed outputs (screenshots, tool lists) and hosted items cannot hold text: the item becomes a
            # message, and a client call it answered goes with it (the API refuses calls without output).
            if result.tool_call_id and not result.server:
                dropped.add(result.tool_call_id)
            return {"type": "message", "role": "assistant" if result.server else "user",
                    "content": result.content}
    return item


def _keep_tools(body: dict[str, Any], exchange: Exchange) -> None:
    """Remove the entries of declared tools that hooks (or the server-tool gate) removed, and a
    ``tool_choice`` naming one."""
    kept = {id(tool) for tool in exchange.tools}
    removed = [(tool, place) for tool, place in exchange.state.get(_PLACES, ()) if id(tool) not in kept]
    if not removed:
        return
    for _, place in sorted(removed, key=lambda pair: pair[1], reverse=True):
        if place[0] == "tools" and len(place) == 2:
            del body["tools"][place[1]]
        elif place[0] == "tools":
            del body["tools"][place[1]]["tools"][place[2]]
        else:
            del body["input"][place[1]]["tools"][place[2]]
    if isinstance(body.get("tools"), list):
        body["tools"] = [t for t in body["tools"] if not (isinstance(t, dict) and t.get("type") == "namespace"
                                                          and not t.get("tools"))]
        if not body["tools"]:
            body.pop("tools")
    names = {tool.name for tool, _ in removed} - {tool.name for tool in exchange.tools}
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools" and isinstance(choice.get("tools"), list):
        choice["tools"] = [t for t in choice["tools"] if tool_name(t) not in names]
        if not choice["tools"]:
            body.pop("tool_choice")
    elif tool_name(choice) in names or ("tools" not in body and choice not in (None, "none", "auto")):
        body.pop("tool_choice")
