"""An interaction's conversation as messages and tool calls, not JSON: the stored request is parsed back by its
API family into the provider-neutral view the hooks saw (as policy replay does), and so is the stored answer."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..exchange import ClientInfo, Exchange, ProfileInfo, Response
from ..providers import PROVIDERS
from ..security.replay import recorded_route

_PROVIDERS = {provider.name: provider for provider in PROVIDERS}
MAX_TEXT = 20_000  # characters of one message shown; the raw JSON holds the rest


@dataclass
class Call:
    name: str
    arguments: str
    id: str | None = None
    refused: str | None = None     # the reason, when the proxy refused it
    would_block: str | None = None  # monitor mode: the reason it would have been refused


@dataclass
class Turn:
    role: str
    text: str = ""
    calls: list[Call] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Conversation:
    turns: list[Turn] = field(default_factory=list)
    answer: Turn | None = None
    #: Why it cannot be shown as messages (no stored body, a passthrough call...), None when it can.
    unavailable: str | None = None


def _args(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)


def _clip(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"… ({len(text) - MAX_TEXT} more characters)"


def _decisions(row: Any) -> tuple[dict[str, str], dict[str, str]]:
    refused = {entry["tool"]: entry.get("reason", "") for entry in row.blocked or ()}
    would = {entry["tool"]: entry.get("reason", "") for entry in (row.flags or {}).get("would_block") or ()}
    return refused, would


def conversation(row: Any) -> Conversation:
    """The conversation of interaction ``row`` (an ``Interaction``)."""
    if row.kind != "chat":
        return Conversation(unavailable="A passed-through call: its body is not recorded.")
    body = row.request
    if not isinstance(body, dict) or "truncated" in body or "raw" in body:
        return Conversation(unavailable="The request body was not stored (metadata-only recording, or too large)."
                            if body is None or "truncated" in body else "The request body is not JSON.")
    provider = _PROVIDERS.get(row.provider)
    if provider is None:
        return Conversation(unavailable=f"Unknown provider {row.provider}.")
    refused, would = _decisions(row)
    try:
        family, route = recorded_route(provider, body, row.model, row.path)
        exchange = family.parse_request(json.loads(json.dumps(body)), route,
                                        ProfileInfo(row.profile_id, row.profile_name or ""), ClientInfo())
        turns = [_turn(message, refused, would) for message in exchange.messages]
        answer = _answer(family, exchange, row, refused, would)
    except Exception as exc:  # noqa: BLE001 - an unreadable body is shown raw, the page still renders
        return Conversation(unavailable=f"The stored request could not be read as messages ({exc.__class__.__name__}).")
    return Conversation(turns, answer)


def _turn(message: Any, refused: dict[str, str], would: dict[str, str]) -> Turn:
    return Turn(message.role, _clip(message.text),
                [Call(call.name, _args(call.arguments), call.id) for call in message.tool_calls],
                [{"name": result.name, "id": result.tool_call_id, "content": _clip(result.content),
                  "error": result.is_error} for result in message.tool_results])


def _answer(family: Any, exchange: Exchange, row: Any, refused: dict[str, str],
            would: dict[str, str]) -> Turn | None:
    data = row.response
    if not isinstance(data, dict) or "truncated" in data or "raw" in data:
        answer = None
    elif row.stream:  # the answer rebuilt from the stream (exchange.Response as a dict)
        answer = Turn("assistant", _clip(data.get("text")),
                      [Call(call.get("name") or "", _args(call.get("arguments")), call.get("id"))
                       for call in data.get("tool_calls") or ()])
    elif int(row.status_code or 0) >= 400:
        answer = None
    else:
        response: Response = family.parse_response(data, exchange)
        answer = Turn("assistant", _clip(response.text),
                      [Call(call.name, _args(call.arguments), call.id) for call in response.tool_calls])
    if answer is None and not (refused or would):
        return None
    answer = answer or Turn("assistant")
    shown = {call.name for call in answer.calls}
    for call in answer.calls:
        call.refused, call.would_block = refused.get(call.name), would.get(call.name)
    # Calls a refusal took out of the answer: shown where they were, with why.
    for entry in row.blocked or ():
        if entry["tool"] not in shown:
            answer.calls.append(Call(entry["tool"], _args(entry.get("arguments")), refused=entry.get("reason")))
    return answer
