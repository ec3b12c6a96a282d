"""Each pack family through the real SDKs on the two-worker proxy: with its pack applied, a benign multi-step task of
the benchmark corpus completes, and the same task with an injection planted in a tool result ends with the
attacker's call refused (never reaching the client). Without the pack, the benign task is refused (the restrictive
default), so the pack is what makes it work.

Families: Anthropic Messages (anthropic SDK, streamed; Claude Code's tools, and an MCP server named the Claude Code
way), Bedrock InvokeModel (anthropic SDK's AnthropicBedrock with a Bedrock API key), Responses (openai SDK, streamed;
Codex's and the Agents SDK's items), chat completions (openai SDK; MCP servers' tools)."""
from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from bench.packs.__main__ import BEDROCK_KEY, Script, run_one, scripted
from bench.packs.families import MODELS
from bench.packs.scenarios import TASKS, Task

pytest_plugins = ["tests.live"]  # the `live` fixture


def sdk_sender(live, profile: str):
    """``send(family, path, body)`` through the real SDK of the family; the answer as the SDK parsed it."""
    def send(family: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if family == "anthropic":  # streamed, as Claude Code asks
            client = anthropic.Anthropic(api_key="k", base_url=live.base("anthropic", profile), max_retries=0)
            with client.messages.stream(**{k: v for k, v in body.items() if k != "stream"}) as stream:
                return 200, stream.get_final_message().model_dump()
        if family == "bedrock-invoke":
            client = anthropic.AnthropicBedrock(api_key=BEDROCK_KEY, aws_region="us-east-1", max_retries=0,
                                                base_url=live.base("bedrock", profile))
            rest = {key: value for key, value in body.items() if key != "anthropic_version"}
            return 200, client.messages.create(model=MODELS[family], **rest).model_dump()
        client = openai.OpenAI(api_key="k", base_url=live.base("openai", profile), max_retries=0)
        if family == "chat":
            return 200, client.chat.completions.create(**body).model_dump()
        events = client.responses.create(**body)  # streamed, as Codex asks
        done = [event.response for event in events if event.type == "response.completed"]
        return 200, done[-1].model_dump()
    return send


def task(pack: str, name: str) -> Task:
    return next(t for t in TASKS if t.pack == pack and t.name == name)


CASES = [  # (pack, task, family): every family the packs' agents speak
    ("claude-code", "feature-with-todos", "anthropic"),
    ("claude-code", "fix-failing-test", "bedrock-invoke"),
    ("codex", "plan-and-patch", "responses"),
    ("openai-agents", "patch-and-test", "responses"),
    ("github", "triage-issue", "chat"),
    ("postgres", "revenue-report", "anthropic"),
    ("filesystem", "summarise-notes", "responses"),
    ("slack", "ack-with-reaction", "chat"),
]


@pytest.mark.parametrize("pack, name, family", CASES)
def test_benign_task_completes_and_injected_one_is_refused(live, pack, name, family):
    subject = task(pack, name)
    script = Script()
    live.upstream.reply_with(scripted(script))
    bare = live.profile()
    without = run_one(sdk_sender(live, bare), script, subject, family, None)
    assert not without.completed and without.refused is not None  # restrictive default: refused at some step

    pid = live.profile()
    assert live.api("POST", f"/profiles/{pid}/packs", json={"packs": list(subject.packs)}).status_code == 200
    send = sdk_sender(live, pid)
    benign = run_one(send, script, subject, family, None)
    assert benign.completed and benign.refused is None, benign
    assert len(benign.reached) == len(subject.steps)
    for attack in subject.attacks:
        injected = run_one(send, script, subject, family, attack)
        assert not injected.attack_reached, (attack.name, injected)
        assert injected.refused is not None, injected
        assert len(injected.reached) == attack.at + 1  # every call before the attacker's went through
    blocked = live.blocked(pid, len(subject.attacks))
    assert len(blocked) == len(subject.attacks)
