"""The Model Router's clients: one driver per front (the openai SDK's chat completions and Responses, the anthropic
SDK's Messages), each asking the same agent question (tools ``fetch_url`` and ``send_email``, optionally a fetched
page in the history) of a ``provider:model`` through the router; and the upstream answer of each family."""
from __future__ import annotations

import json
from typing import Any

import anthropic
import openai

from tests.fakes import anthropic_wire, invoke_wire, responses_wire
from tests.fakes.server import Reply, json_reply, sse_reply
from tests.security_drivers import (PAGE, SCHEMA, AnthropicDriver, BedrockDriver, CohereDriver, GeminiDriver,
                                    MistralDriver, OpenAIDriver, Outcome, _split)

NAMES = ("fetch_url", "send_email")


def chat_front(r: Any, model: str, stream: bool, with_result: bool, result: str = PAGE) -> Outcome:
    client = openai.OpenAI(api_key=r.key, base_url=r.base, max_retries=0)
    tools = [{"type": "function", "function": {"name": n, "description": n, "parameters": SCHEMA}} for n in NAMES]
    messages: list[dict] = [{"role": "user", "content": "Summarize the page"}]
    if with_result:
        messages += [{"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_f", "type": "function", "function": {"name": "fetch_url", "arguments": '{"url": "x"}'}}]},
            {"role": "tool", "tool_call_id": "call_f", "content": result}]
    if stream:
        with client.chat.completions.stream(model=model, messages=messages, tools=tools) as events:
            for _ in events:
                pass
            message = events.get_final_completion().choices[0].message
    else:
        message = client.chat.completions.create(model=model, messages=messages, tools=tools).choices[0].message
    return Outcome([(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []],
                   message.content or "")


def messages_front(r: Any, model: str, stream: bool, with_result: bool, result: str = PAGE) -> Outcome:
    client = anthropic.Anthropic(api_key=r.key, base_url=r.base, max_retries=0)
    tools = [{"name": n, "description": n, "input_schema": SCHEMA} for n in NAMES]
    messages: list[dict] = [{"role": "user", "content": "Summarize the page"}]
    if with_result:
        messages += [{"role": "assistant", "content": [anthropic_wire.tool_use("fetch_url", {"url": "x"}, "toolu_f")]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_f",
                                                   "content": result}]}]
    kwargs = {"model": model, "max_tokens": 100, "messages": messages, "tools": tools}
    if stream:
        with client.messages.stream(**kwargs) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    return Outcome([(b.name, b.input) for b in message.content if b.type == "tool_use"],
                   "".join(b.text for b in message.content if b.type == "text"))


def responses_front(r: Any, model: str, stream: bool, with_result: bool, result: str = PAGE) -> Outcome:
    client = openai.OpenAI(api_key=r.key, base_url=r.base, max_retries=0)
    tools = [{"type": "function", "name": n, "description": n, "parameters": SCHEMA} for n in NAMES]
    items: list[dict] = [{"role": "user", "content": "Summarize the page"}]
    if with_result:
        items += [{"type": "function_call", "call_id": "call_f", "name": "fetch_url", "arguments": '{"url": "x"}'},
                  {"type": "function_call_output", "call_id": "call_f", "output": result}]
    if stream:
        with client.responses.stream(model=model, input=items, tools=tools) as events:
            for _ in events:
                pass
            response = events.get_final_response()
    else:
        response = client.responses.create(model=model, input=items, tools=tools)
    calls = [(item.name, json.loads(item.arguments)) for item in response.output if item.type == "function_call"]
    return Outcome(calls, response.output_text)


FRONTS = {"chat": chat_front, "messages": messages_front, "responses": responses_front}


class InvokeAnthropicUpstream(AnthropicDriver):
    """Anthropic's models on Bedrock InvokeModel: the Messages answer, its stream in event-stream frames."""

    def reply(self, stream: bool, args: dict) -> Reply:
        if stream:
            events = anthropic_wire.tool_stream("send_email", _split(args), preamble=["Ok. "])
            return Reply(200, {"Content-Type": "application/vnd.amazon.eventstream"}, invoke_wire.from_sse(events))
        return json_reply(anthropic_wire.message([anthropic_wire.tool_use("send_email", args)], "tool_use"))


class ResponsesUpstream:
    """OpenAI's own Responses API: what a Responses-front client's request to an OpenAI model goes to, as it is."""

    def reply(self, stream: bool, args: dict) -> Reply:
        output = [responses_wire.function_call("send_email", args, call_id="call_e")]
        return sse_reply(responses_wire.stream(output)) if stream else json_reply(responses_wire.response(output))


def upstream_for(front: str, model: str):
    """The upstream driver answering ``model`` for a client of ``front`` (the Responses API goes to OpenAI's own
    Responses API, every other pair to the provider's chat API)."""
    return ResponsesUpstream() if front == "responses" and model.startswith("openai:") else UPSTREAMS[model]


#: model id -> the upstream driver whose answers (``reply``, ``text_reply``) the fake gives for it.
UPSTREAMS = {
    "openai:gpt-4o": OpenAIDriver("openai"),
    "mistral:mistral-large-latest": MistralDriver(),
    "anthropic:claude-sonnet-4-5": AnthropicDriver(),
    "gemini:gemini-2.5-pro": GeminiDriver(),
    "cohere:command-a": CohereDriver(),
    "bedrock:amazon.nova-pro-v1:0": BedrockDriver(),
    "bedrock:anthropic.claude-sonnet-4-5-v1:0": InvokeAnthropicUpstream(),
}
