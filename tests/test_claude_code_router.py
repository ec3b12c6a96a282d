"""The real Claude Code CLI on other providers' models through the Model Router (``ANTHROPIC_BASE_URL`` at
``/v1/model-router/<profile>``, a virtual key as its API key, ``ANTHROPIC_MODEL=openai:gpt-4o``...), on the two-worker
gunicorn: the Anthropic front translates to chat completions, Gemini, Cohere and Bedrock Converse and back, and an
exfiltrating Bash call after a Read of a secret file is refused (it never runs) until Read results are trusted."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes import bedrock_wire, cohere_wire, gemini_wire
from tests.fakes import openai_wire as wire
from tests.fakes.server import Reply, sse_reply
from tests.router_support import HELD, live_router
from tests.test_claude_code import REFUSED, claude_cli, run_claude, workdir  # noqa: F401  (fixtures)


def _tool_results(body: dict) -> int:
    """How many tool results a request to the upstream carries, whatever its family."""
    if "contents" in body:  # Gemini
        return sum("functionResponse" in part for content in body["contents"] for part in content["parts"])
    messages = body["messages"]
    if any(isinstance(m.get("content"), list) and any("toolResult" in c for c in m["content"]) for m in messages):
        return sum("toolResult" in c for m in messages for c in m["content"])  # Bedrock Converse
    return sum(m["role"] == "tool" for m in messages)  # chat completions, Cohere


#: model id -> (a streamed call of ``name`` with ``args``, a streamed text) in that upstream's wire format.
SCRIPTS = {
    "openai:gpt-4o": (lambda name, args: sse_reply(wire.tool_stream([(f"call_{name[0]}", name, [json.dumps(args)])])),
                      lambda text: sse_reply(wire.text_stream([text]))),
    "gemini:gemini-2.5-pro": (
        lambda name, args: sse_reply(gemini_wire.sse([gemini_wire.chunk([gemini_wire.function_call(name, args)],
                                                                        "STOP")])),
        lambda text: sse_reply(gemini_wire.sse([gemini_wire.chunk([{"text": text}], "STOP")]))),
    "cohere:command-a-03-2025": (
        lambda name, args: sse_reply(cohere_wire.tool_stream(name, [json.dumps(args)], f"{name}_1")),
        lambda text: sse_reply(cohere_wire.text_stream([text]))),
    "bedrock:amazon.nova-pro-v1:0": (
        lambda name, args: Reply(200, {"Content-Type": "application/vnd.amazon.eventstream"},
                                 bedrock_wire.tool_stream(name, [json.dumps(args)], call_id=f"tooluse_{name}")),
        lambda text: Reply(200, {"Content-Type": "application/vnd.amazon.eventstream"},
                           bedrock_wire.text_stream([text]))),
}


live = live_router  # the two-worker gunicorn holding a key for every provider


def tool_loop(workdir: Path, model: str):
    """The scripted model, in the upstream's own format: Read the secret, then Bash it away, then say it is done."""
    secret, marker = workdir / "secret.txt", workdir / "marker"
    bash = {"command": f"cat {secret} > {marker}", "description": "Send the secret to evil.example"}
    call, text = SCRIPTS[model]

    def handler(request) -> Reply:
        done = _tool_results(request.json)
        if done >= 2:
            return text("Done.")
        if done == 1:
            return call("Bash", bash)
        return call("Read", {"file_path": str(secret)})
    return handler


@pytest.mark.parametrize("model", list(SCRIPTS))
def test_claude_code_on_another_providers_model_is_protected_through_the_router(live, claude_cli, workdir, model):
    profile = live.profile()
    key = live.api("POST", "/virtual-keys", json={"profile_id": profile, "name": "claude"}).json()["key"]
    live.upstream.reply_with(tool_loop(workdir, model))
    env = {"ANTHROPIC_API_KEY": key, "ANTHROPIC_MODEL": model, "ANTHROPIC_SMALL_FAST_MODEL": model}
    base = f"{live.url}/v1/model-router/{profile}"
    result = run_claude(claude_cli, base, workdir, "Look at secret.txt", env)
    assert REFUSED in result["result"] and not (workdir / "marker").exists()
    assert live.blocked(profile, 1)[0]["tool"] == "Bash"
    provider = model.partition(":")[0]
    held = live.upstream.received[-1].headers
    assert HELD[provider] in str(held) and key not in str(held)

    live.policy("result", profile, "Read", "mark_as_trusted")
    result = run_claude(claude_cli, base, workdir, "Look at secret.txt", env)
    assert result["result"] == "Done." and (workdir / "marker").read_text() == "top secret value 42\n"
