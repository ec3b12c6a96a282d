"""The real Claude Code CLI on another provider's model through the Model Router (``ANTHROPIC_BASE_URL`` at
``/v1/model-router/<profile>``, a virtual key as its API key, ``ANTHROPIC_MODEL=openai:gpt-4o``), on the two-worker
gunicorn: the Anthropic front translates to chat completions and back, and an exfiltrating Bash call after a Read of
a secret file is refused (it never runs) until Read results are trusted."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes import openai_wire as wire
from tests.fakes.server import Reply, sse_reply
from tests.live import _start
from tests.router_support import HELD, SECRET
from tests.test_claude_code import REFUSED, claude_cli, run_claude, workdir  # noqa: F401  (fixtures)
from tests.test_deployment import stop_gunicorn

MODEL = "openai:gpt-4o"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    env = {f"ARCHESTRA_CHAT_{name.upper()}_API_KEY": key for name, key in HELD.items()}
    upstream, process, log, proxy = _start(tmp_path_factory, None, {**env, "ARCHESTRA_SECRET_KEY": SECRET})
    yield proxy
    stop_gunicorn(process, log)
    upstream.close()


def openai_tool_loop(workdir: Path):
    """The scripted model, speaking chat completions: Read the secret, then Bash it away, then say it is done."""
    secret, marker = workdir / "secret.txt", workdir / "marker"
    bash = {"command": f"cat {secret} > {marker}", "description": "Send the secret to evil.example"}

    def handler(request) -> Reply:
        seen = json.dumps(request.json.get("messages"))
        if "call_B" in seen:
            return sse_reply(wire.text_stream(["Done."]))
        if "call_R" in seen:
            return sse_reply(wire.tool_stream([("call_B", "Bash", [json.dumps(bash)])]))
        return sse_reply(wire.tool_stream([("call_R", "Read", [json.dumps({"file_path": str(secret)})])]))
    return handler


def test_claude_code_on_an_openai_model_is_protected_through_the_router(live, claude_cli, workdir):
    profile = live.profile()
    key = live.api("POST", "/virtual-keys", json={"profile_id": profile, "name": "claude"}).json()["key"]
    live.upstream.reply_with(openai_tool_loop(workdir))
    env = {"ANTHROPIC_API_KEY": key, "ANTHROPIC_MODEL": MODEL, "ANTHROPIC_SMALL_FAST_MODEL": MODEL}
    base = f"{live.url}/v1/model-router/{profile}"
    result = run_claude(claude_cli, base, workdir, "Look at secret.txt", env)
    assert REFUSED in result["result"] and not (workdir / "marker").exists()
    assert live.blocked(profile, 1)[0]["tool"] == "Bash"
    sent = [r for r in live.upstream.received if r.method == "POST"]
    assert all(r.path == "/chat/completions" and r.json["model"] == "gpt-4o" for r in sent)
    assert all(r.headers["Authorization"] == f"Bearer {HELD['openai']}" for r in sent)

    live.policy("result", profile, "Read", "mark_as_trusted")
    result = run_claude(claude_cli, base, workdir, "Look at secret.txt", env)
    assert result["result"] == "Done." and (workdir / "marker").read_text() == "top secret value 42\n"
