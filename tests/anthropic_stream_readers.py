"""The three readers of one Anthropic SSE byte stream: the proxy's relay (in-process, fed as the pipeline feeds
it), the Python SDK (its own SSE decoder and MessageStream, over the bytes the relay sent) and the TypeScript SDK
(through node, ``tests/node/sdk_calls.mjs``). Each gives the call blocks it would hand the application."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import anthropic
import httpx2

from archestra.exchange import Exchange, ProfileInfo, ToolCall
from archestra.providers.anthropic_blocks import call_name
from archestra.providers.anthropic_stream import AnthropicStreamRelay
from archestra.streaming import StreamFormatError

NODE_DIR = Path(__file__).parent / "node"
CALL_TYPES = ("tool_use", "server_tool_use", "mcp_tool_use")
#: What the pipeline (proxy._stream) turns into the relay's error_bytes: the stream is cut there.
CUT = (StreamFormatError, TypeError, AttributeError, KeyError, IndexError, ValueError, RecursionError)


@dataclass
class Relayed:
    out: bytes
    decided: list[ToolCall] = field(default_factory=list)  # every call the relay asked about
    passed: list[ToolCall] = field(default_factory=list)   # the calls it let through
    cut: bool = False


def relay(chunks: Iterable[bytes], refuse: bool = False) -> Relayed:
    """The relay fed chunk by chunk; ``decide`` allows every call (refuses all with ``refuse``), and always
    refuses a call the relay marked ``refuse``, as the built-in call policy does."""
    result = Relayed(b"")

    def decide(calls: list[ToolCall], results: Any = ()) -> str | None:
        result.decided.extend(calls)
        return "Refused by the test." if refuse or any(call.refuse for call in calls) else None

    exchange = Exchange("anthropic", ProfileInfo("p", "p"), "m")
    stream = AnthropicStreamRelay(exchange, decide)
    out = []
    try:
        for chunk in chunks:
            out.append(stream.feed_bytes(chunk))
        out.append(stream.finish_bytes())
    except CUT:
        out.append(stream.error_bytes("cut"))
        result.cut = True
    result.out = b"".join(out)
    result.passed = list(exchange.response.tool_calls)
    return result


def as_call(block: dict[str, Any]) -> tuple[str, Any]:
    """A call block as the decision sees it: the tool's name, the input."""
    return call_name(block), block.get("input")


def python_calls(body: bytes, beta: bool) -> tuple[list[dict[str, Any]], bool]:
    """The call blocks the Python SDK's MessageStream hands over for ``body``: at each block's stop and in the
    final message (or in the snapshot when the stream failed); and whether it failed."""
    client = anthropic.Anthropic(api_key="k", max_retries=0, http_client=httpx2.Client(transport=httpx2.MockTransport(
        lambda request: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body))))
    api = client.beta.messages if beta else client.messages
    found: list[dict[str, Any]] = []
    failed = False
    with api.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as stream:
        try:
            for event in stream:
                block = getattr(event, "content_block", None) if event.type == "content_block_stop" else None
                if block is not None and block.type in CALL_TYPES:
                    found.append(block.to_dict())
            content = stream.get_final_message().content
        except Exception:  # the SDK failed: what it had accumulated is what an application could still read
            failed = True
            try:
                content = stream.current_message_snapshot.content
            except (AssertionError, AttributeError):
                content = []
    found += [block.to_dict() for block in content if getattr(block, "type", None) in CALL_TYPES]
    return found, failed


def node_available() -> bool:
    return shutil.which("node") is not None


def node_calls(bodies: list[bytes]) -> list[dict[str, Any]]:
    """For each body, what the TypeScript SDK's MessageStream and BetaMessageStream hand over (one node process)."""
    if not (NODE_DIR / "node_modules" / "@anthropic-ai" / "sdk").is_dir():
        raise RuntimeError("the TypeScript SDK is not installed: run `npm ci` in tests/node")
    lines = b"".join(base64.b64encode(body) + b"\n" for body in bodies)
    done = subprocess.run(["node", "sdk_calls.mjs"], input=lines, cwd=NODE_DIR, capture_output=True, timeout=120,
                          check=True)
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(bodies), done.stderr.decode()[-2000:]
    return [{side: {"calls": [{"type": t, "name": n, "server_name": s, "input": i} for t, n, s, i in value["calls"]],
                    "failed": value["failed"]} for side, value in result.items()} for result in results]


def undecided(blocks: list[dict[str, Any]], relayed: Relayed, beta: bool) -> list[tuple[str, Any]]:
    """The call blocks a client got that the relay did not let through with that name and input. The non-beta
    message streams do not accumulate an ``mcp_tool_use`` block's fragments (they keep its start's input, which
    the relay refuses to see replaced): such a block, a call the provider ran, is matched by its name."""
    passed = [(call.name, call.arguments) for call in relayed.passed]
    names = [name for name, _ in passed]
    return [as_call(block) for block in blocks if as_call(block) not in passed
            and (beta or block["type"] != "mcp_tool_use" or as_call(block)[0] not in names)]
