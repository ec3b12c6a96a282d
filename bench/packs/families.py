"""The two ends of a scenario for each API family: the client (builds the request the agent sends, reads the
answer, appends the call and its result the way the real client does) and the scripted model (the fake upstream's
answer: the next call of the script, in the family's own wire shape).

Families: ``anthropic`` (Messages, streamed, as Claude Code speaks it), ``bedrock-invoke`` (Anthropic Messages
inside Bedrock InvokeModel, not streamed), ``chat`` (chat completions, not streamed), ``responses`` (Responses
API, streamed, as Codex speaks it: no ``previous_response_id``, the whole input every turn).
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from tests.fakes import anthropic_wire, openai_wire, responses_wire

from .scenarios import Call, Task, all_calls, schema_for, tool_names

#: The families whose answers are streamed (what Claude Code and Codex ask for).
STREAMED = ("anthropic", "responses")
MODELS = {"anthropic": "claude-sonnet-4-5", "bedrock-invoke": "anthropic.claude-sonnet-4-5-20250929-v1:0",
          "chat": "gpt-4.1", "responses": "gpt-5.1-codex"}
#: The tool a Responses item without a name calls, as the proxy names it.
ITEM_TOOLS = {"local_shell_call": "local_shell", "shell_call": "shell", "apply_patch_call": "apply_patch"}
REFUSAL = "However, I was denied by a tool invocation policy:\n\n"


@dataclass
class Turn:
    """What the client got back: the calls that reached it, or the text (a refusal, or the final answer)."""
    calls: list[dict[str, Any]]
    text: str
    status: int = 200

    @property
    def refusal(self) -> str | None:
        return self.text.split(REFUSAL, 1)[1] if REFUSAL in self.text else None


def wire_name(task: Task, family: str, tool: str) -> str:
    """Claude Code names an MCP server's tools ``mcp__<server>__<tool>``; the other clients by the tool's name."""
    if task.mcp_server and family in ("anthropic", "bedrock-invoke"):
        return f"mcp__{task.mcp_server}__{tool}"
    return tool


# -- the client --------------------------------------------------------------------------------------------------
class Client:
    """One conversation of the agent, in ``family``'s shape."""

    def __init__(self, task: Task, family: str):
        self.task, self.family = task, family
        self.history: list[dict[str, Any]] = []
        calls = all_calls(task)
        first = [{"type": "text", "text": task.preamble}] if task.preamble else []
        if family in ("anthropic", "bedrock-invoke"):
            self.history.append({"role": "user", "content": [*first, {"type": "text", "text": task.prompt}]})
        elif family == "chat":
            self.history.append({"role": "user", "content": (task.preamble + "\n\n" if task.preamble else "")
                                 + task.prompt})
        else:
            if task.preamble:
                self.history.append({"type": "message", "role": "user",
                                     "content": [{"type": "input_text", "text": task.preamble}]})
            self.history.append({"type": "message", "role": "user",
                                 "content": [{"type": "input_text", "text": task.prompt}]})
        self.tools = [self._declare(name, [c.arguments for c in calls if c.tool == name],
                                    next((c.kind for c in calls if c.tool == name), "function"))
                      for name in tool_names(task)]

    def _declare(self, name: str, arguments: list[Any], kind: str) -> dict[str, Any]:
        wire = wire_name(self.task, self.family, name)
        schema = schema_for(arguments)
        if self.family in ("anthropic", "bedrock-invoke"):
            return {"name": wire, "description": f"The {name} tool", "input_schema": schema}
        if self.family == "chat":
            return {"type": "function", "function": {"name": wire, "description": f"The {name} tool",
                                                     "parameters": schema}}
        if kind == "custom":
            return {"type": "custom", "name": wire, "description": "Use the `apply_patch` tool to edit files.",
                    "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch hunk+ end_patch"}}
        if kind == "local_shell":
            return {"type": "local_shell"}
        if kind == "shell_call":
            return {"type": "shell"}
        if kind == "apply_patch_call":
            return {"type": "apply_patch"}
        return {"type": "function", "name": wire, "description": f"The {name} tool", "strict": False,
                "parameters": schema}

    def request(self) -> tuple[str, dict[str, Any]]:
        """The path below the provider's base, and the body."""
        model = MODELS[self.family]
        if self.family == "anthropic":
            return "/v1/messages", {"model": model, "max_tokens": 4096, "messages": self.history,
                                    "tools": self.tools, "system": "You are Claude Code.", "stream": True}
        if self.family == "bedrock-invoke":
            return f"/model/{model}/invoke", {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4096,
                                              "messages": self.history, "tools": self.tools,
                                              "system": "You are Claude Code."}
        if self.family == "chat":
            return "/chat/completions", {"model": model, "messages": self.history, "tools": self.tools}
        return "/responses", {"model": model, "instructions": "You are a coding agent.", "input": self.history,
                              "tools": self.tools, "store": False, "stream": True}

    def read(self, status: int, body: Any) -> Turn:
        """The answer as the client sees it; the calls are appended to the history (with their results, by
        :meth:`answer`)."""
        if status != 200 or not isinstance(body, dict):
            return Turn([], json.dumps(body)[:500], status)
        if self.family in ("anthropic", "bedrock-invoke"):
            content = body.get("content") or []
            calls = [{"id": b["id"], "name": b["name"], "arguments": b["input"]} for b in content
                     if b.get("type") == "tool_use"]
            text = "".join(b.get("text", "") for b in content if b.get("type") == "text")
            if calls:
                self.history.append({"role": "assistant", "content": content})
            return Turn(calls, text)
        if self.family == "chat":
            message = body["choices"][0]["message"]
            calls = [{"id": c["id"], "name": c["function"]["name"],
                      "arguments": json.loads(c["function"]["arguments"])} for c in message.get("tool_calls") or []]
            if calls:
                self.history.append({"role": "assistant", "content": message.get("content"),
                                     "tool_calls": message["tool_calls"]})
            return Turn(calls, message.get("content") or "")
        calls, text = [], ""
        for item in body.get("output") or []:
            kind = item.get("type")
            if kind == "message":
                text += "".join(part.get("text", "") for part in item.get("content") or [])
                continue
            if kind in ("function_call", "custom_tool_call", "local_shell_call", "apply_patch_call", "shell_call"):
                self.history.append(item)
                arguments = (json.loads(item["arguments"]) if kind == "function_call" else item.get("input")
                             if kind == "custom_tool_call" else item.get("action") or item.get("operation"))
                calls.append({"id": item.get("call_id"), "name": item.get("name") or ITEM_TOOLS.get(kind, kind),
                              "arguments": arguments, "kind": kind})
        return Turn(calls, text)

    def answer(self, call: dict[str, Any], result: str) -> None:
        """The client ran ``call``: its result, appended as the client sends it."""
        if self.family in ("anthropic", "bedrock-invoke"):
            self.history.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call["id"], "content": result}]})
        elif self.family == "chat":
            self.history.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        else:
            kind = call.get("kind", "function_call")
            if kind == "shell_call":
                output: Any = [{"stdout": result, "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}]
                self.history.append({"type": "shell_call_output", "call_id": call["id"], "output": output})
            elif kind == "apply_patch_call":
                self.history.append({"type": "apply_patch_call_output", "call_id": call["id"],
                                     "status": "completed", "output": result})
            else:
                self.history.append({"type": f"{kind}_output", "call_id": call["id"], "output": result})


# -- the scripted model ------------------------------------------------------------------------------------------
def results_in(family: str, body: dict[str, Any]) -> int:
    """How many tool results the conversation holds: which turn of the script the model is at."""
    if family in ("anthropic", "bedrock-invoke"):
        return sum(1 for message in body.get("messages", []) if isinstance(message.get("content"), list)
                   for block in message["content"] if block.get("type") == "tool_result")
    if family == "chat":
        return sum(1 for message in body.get("messages", []) if message.get("role") == "tool")
    return sum(1 for item in body.get("input", []) if str(item.get("type", "")).endswith("_output"))


def streamed(family: str, answer: dict[str, Any]) -> list[bytes]:
    """``answer`` (a :func:`model_turn`) as the family streams it."""
    if family == "anthropic":
        return anthropic_wire.answer_stream(answer["content"], answer["stop_reason"])
    return responses_wire.stream(answer["output"])


def read_stream(family: str, raw: bytes) -> dict[str, Any]:
    """A streamed answer, put together as the client's SDK does: the same body as the answer not streamed."""
    events = [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: ")]
    if family == "responses":
        done = [e for e in events if e.get("type") in ("response.completed", "response.incomplete", "response.failed")]
        return done[-1]["response"] if done else {"output": [], "error": events}
    message: dict[str, Any] = {"content": []}
    partial: dict[int, str] = {}
    for event in events:
        kind = event.get("type")
        if kind == "message_start":
            message = {**event["message"], "content": []}
        elif kind == "content_block_start":
            message["content"].append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            block, delta = message["content"][event["index"]], event["delta"]
            if delta.get("type") == "text_delta":
                block["text"] = block.get("text", "") + delta["text"]
            elif delta.get("type") == "input_json_delta":
                partial[event["index"]] = partial.get(event["index"], "") + delta["partial_json"]
        elif kind == "message_delta":
            message.update(event.get("delta") or {})
    for index, text in partial.items():
        message["content"][index]["input"] = json.loads(text) if text else {}
    return message


def model_turn(task: Task, family: str, call: Call | None, index: int) -> dict[str, Any]:
    """The upstream's answer: ``call`` (None: the final text) in ``family``'s shape."""
    if call is None:
        text = "Done."
        if family in ("anthropic", "bedrock-invoke"):
            return anthropic_wire.message([anthropic_wire.text(text)])
        if family == "chat":
            return openai_wire.completion(text)
        return responses_wire.response([responses_wire.message(text)])
    name = wire_name(task, family, call.tool)
    call_id = f"call_{index:02d}{zlib.crc32(f'{task.name}|{call.tool}|{index}'.encode()):010d}"
    if family in ("anthropic", "bedrock-invoke"):
        return anthropic_wire.message([anthropic_wire.text("Working on it."),
                                       anthropic_wire.tool_use(name, call.arguments, f"toolu_{call_id[5:]}")],
                                      stop_reason="tool_use")
    if family == "chat":
        return openai_wire.completion(None, [openai_wire.tool_call(name, call.arguments, call_id)])
    if call.kind == "custom":
        item = responses_wire.custom_tool_call(name, call.arguments, call_id)
    elif call.kind == "local_shell":
        item = responses_wire.local_shell_call(call.arguments["command"], call_id)
    elif call.kind == "apply_patch_call":
        item = {"id": f"apc_{call_id[5:]}", "type": "apply_patch_call", "status": "completed", "call_id": call_id,
                "operation": call.arguments}
    elif call.kind == "shell_call":
        item = responses_wire.shell_call(call.arguments["commands"], call_id)
    else:
        item = responses_wire.function_call(name, call.arguments, call_id)
    return responses_wire.response([item])
