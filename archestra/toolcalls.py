"""Security decisions on tool traffic: tool results (trust), tool calls (``on_tool_call``), the refusal
text, the record of a block, and provider-executed tools decided before the request goes upstream."""
from __future__ import annotations

import json
import logging
from typing import Any, Iterable

from .exchange import BlockedCall, Exchange, ToolCall, ToolResult
from .hooks import Block
from .metering.interactions import INTERACTION_ID
from .models import BlockedToolCall
from .security.approvals import APPROVED_CALLS
from .security.hooks import monitoring

log = logging.getLogger("archestra.proxy")
BLOCKED_CALLS = BlockedToolCall.__table__

REFUSAL = ("I tried to invoke the {tool} tool with the following arguments: {args}.\n\n"
           "However, I was denied by a tool invocation policy:\n\n{reason}")


def refusal_text(call: ToolCall, reason: str) -> str:
    """What the client reads instead of a blocked tool call (product spec section 3)."""
    args = json.dumps(call.arguments, separators=(",", ":"), ensure_ascii=False)
    return REFUSAL.format(tool=call.name, args=args, reason=reason)


def judge_result(runtime: Any, exchange: Exchange, result: ToolResult) -> None:
    """Run ``on_tool_result`` for one result; a Block replaces its content and leaves it untrusted (monitor
    mode: the content is kept and the block recorded as would-block)."""
    try:
        runtime.hooks.run("on_tool_result", exchange, result)
    except Block as block:
        result.blocked_reason = block.reason
        result.trusted = False
        if monitoring(exchange):
            exchange.would_block_results.append({"tool": result.name, "tool_call_id": result.tool_call_id,
                                                 "action": "block_always", "reason": block.reason})
            return
        result.content = f"[Content blocked by policy: {block.reason}]"


def decide_tool_calls(runtime: Any, exchange: Exchange, calls: list[ToolCall],
                      results: Iterable[ToolResult] = ()) -> str | None:
    """Run ``on_tool_call`` for the calls of one answer: the refusal text if any is blocked, else None.

    ``results`` are tool results the provider produced inside the same answer before these calls (web
    search, web fetch, MCP results): they are judged first, so the calls are decided with them in context.
    One blocked call blocks every tool call of that answer. In monitor mode the block is recorded as
    would-block and the answer goes through unchanged (None).
    """
    results = list(results)
    exchange.decided.append((results, list(calls)))
    exchange.state.pop(APPROVED_CALLS, None)
    for result in results:
        judge_result(runtime, exchange, result)
        exchange.answer_results.append(result)
    for call in calls:
        try:
            runtime.hooks.run("on_tool_call", exchange, call)
        except Block as block:
            exchange.state.pop(APPROVED_CALLS, None)  # refused with the others: their approvals stay unused
            _blocked(runtime, exchange, call, block.reason)
            return None if monitoring(exchange) else refusal_text(call, block.reason)
    lost = _use_approvals(runtime, exchange)
    if lost is None:
        return None
    call, reason = lost
    _blocked(runtime, exchange, call, reason)
    return refusal_text(call, reason)


def _use_approvals(runtime: Any, exchange: Exchange) -> tuple[ToolCall, str] | None:
    """Every call of the answer passed: use the approvals that let some of them pass (each once, atomically).
    The call whose approval another request used first, and why it is refused; None when all were used here."""
    if runtime.approvals is None or not exchange.state.get(APPROVED_CALLS):
        return None
    return runtime.approvals.consume(exchange, exchange.state.get(INTERACTION_ID))


def would_refuse(exchange: Exchange, stage: str, block: Block) -> bool:
    """Monitor mode: a hook of ``stage`` (``on_request`` or ``on_response``; an operator's own or a built-in)
    refused the exchange. The refusal is recorded as would-refuse and the exchange goes on unchanged (True);
    in enforce mode nothing is recorded here and the caller refuses (False)."""
    if not monitoring(exchange):
        return False
    exchange.would_refuse.append({"stage": stage, "reason": block.reason})
    log.info("monitor mode, would refuse (%s) for profile %s: %s", stage, exchange.profile.id, block.reason)
    return True


def gate_server_tools(runtime: Any, exchange: Exchange) -> None:
    """Decide provider-executed tools before the request leaves: the provider runs them before the proxy
    sees the answer, so refusing the answer afterwards would be too late (a fetch exfiltrates through its
    URL). Each server tool goes through ``on_tool_call`` as a call without id whose arguments are the
    tool's configuration; a refused one is removed from the request and recorded."""
    for tool in [t for t in exchange.tools if t.server]:
        call = ToolCall(None, tool.name, tool.parameters or {}, server=True)
        exchange.state.pop(APPROVED_CALLS, None)
        try:
            runtime.hooks.run("on_tool_call", exchange, call)
            lost = _use_approvals(runtime, exchange)
            if lost is not None:
                raise Block(lost[1])
        except Block as block:
            if monitoring(exchange):
                _blocked(runtime, exchange, call, f"{block.reason} (the provider-executed tool {tool.name} would "
                                                  f"have been removed from the request)")
                continue
            exchange.tools.remove(tool)
            _blocked(runtime, exchange, call, f"{block.reason} (the provider-executed tool {tool.name} was "
                                              f"removed from the request)")


def _blocked(runtime: Any, exchange: Exchange, call: ToolCall, reason: str) -> None:
    would = monitoring(exchange)
    (exchange.would_block if would else exchange.blocked).append(BlockedCall(call.name, call.arguments, reason))
    log.info("%s tool call %s for profile %s: %s", "monitor mode, would block" if would else "blocked", call.name,
             exchange.profile.id, reason)
    values = {"profile_id": exchange.profile.id, "profile_name": exchange.profile.name,
              "interaction_id": exchange.state.get(INTERACTION_ID), "session_id": exchange.client.session_id,
              "provider": exchange.provider, "model": exchange.model,
              "tool": call.name, "arguments": call.arguments, "reason": reason, "would_block": would}
    runtime.recorder.submit(lambda session: (BLOCKED_CALLS, values))  # a row of the recorder's batch
