"""What Claude Code sends and gets on its cloud routes (2.1.x, shortened): betas, session id, system blocks with
cache_control, thinking, a ``role: "system"`` message; the answer streams a thinking block, then text."""
from __future__ import annotations

import json

from tests.fakes import anthropic_wire as wire

SESSION = "5b0c8d1e-7a2f-4c3b-9e1d-0f6a2b3c4d5e"
BETAS = "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27"
HEADERS = {"anthropic-beta": BETAS, "anthropic-version": "2023-06-01", "x-claude-code-session-id": SESSION,
           "x-app": "cli", "User-Agent": "claude-cli/2.1.332 (external, sdk-cli)", "Content-Type": "application/json"}


def request(version: str, **fields) -> bytes:
    """A streamed request body as Claude Code writes it (``anthropic_version`` of the platform, no model)."""
    body = {
        "anthropic_version": version,
        "max_tokens": 32000,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>\nAs you answer ...\n"
                                                                  "</system-reminder>\n"},
                                         {"type": "text", "text": "Say hi", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": [{"type": "text", "text": "Available agents: general-purpose"}]},
        ],
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332;"},
                   {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                    "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "Bash", "description": "Run a command",
                   "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                                    "required": ["command"], "additionalProperties": False}}],
        "metadata": {"user_id": "user_abc_account__session_" + SESSION},
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "temperature": 1,
        **fields,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def answer() -> list[bytes]:
    """The SSE events of an answer with a thinking block and a text block."""
    start, *rest = wire.text_stream(["Hi", " there"])
    thinking = [wire.event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
                    "type": "thinking", "thinking": "", "signature": ""}}),
                wire.event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
                    "type": "thinking_delta", "thinking": "The user greets me."}}),
                wire.event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
                    "type": "signature_delta", "signature": "EqQBCkgIARABGAIiQL"}}),
                wire.event("content_block_stop", {"type": "content_block_stop", "index": 0})]
    text = [e.replace(b'"index":0', b'"index":1') for e in rest]
    return [start, *thinking, *text]
