"""Deciding the tool calls of an answer: ``on_tool_call`` hooks, the refusal text, the record of a block."""
from __future__ import annotations

import json
import logging
from typing import Any

from .exchange import BlockedCall, Exchange, ToolCall
from .hooks import Block
from .models import BlockedToolCall

log = logging.getLogger("archestra.proxy")

REFUSAL = ("I tried to invoke the {tool} tool with the following arguments: {args}.\n\n"
           "However, I was denied by a tool invocation policy:\n\n{reason}")


def refusal_text(call: ToolCall, reason: str) -> str:
    """What the client reads instead of a blocked tool call (product spec section 3)."""
    args = json.dumps(call.arguments, separators=(",", ":"), ensure_ascii=False)
    return REFUSAL.format(tool=call.name, args=args, reason=reason)


def decide_tool_calls(runtime: Any, exchange: Exchange, calls: list[ToolCall]) -> str | None:
    """Run ``on_tool_call`` for the calls of one answer: the refusal text if any is blocked, else None.

    One blocked call blocks every tool call of that answer.
    """
    for call in calls:
        try:
            runtime.hooks.run("on_tool_call", exchange, call)
        except Block as block:
            exchange.blocked.append(BlockedCall(call.name, call.arguments, block.reason))
            log.info("blocked tool call %s for profile %s: %s", call.name, exchange.profile.id, block.reason)
            runtime.recorder.submit(_record_block(exchange, call, block.reason))
            return refusal_text(call, block.reason)
    return None


def _record_block(exchange: Exchange, call: ToolCall, reason: str):
    values = {"profile_id": exchange.profile.id, "provider": exchange.provider, "model": exchange.model,
              "tool": call.name, "arguments": call.arguments, "reason": reason}
    return lambda session: session.add(BlockedToolCall(**values))
