"""Scenarios made from recorded traffic ("save as test"): a recorded exchange of any provider family, read by its
family's own parser (the one policy replay uses), becomes neutral steps: the conversation's messages, calls and
results in order, then the answer's results and calls."""
from __future__ import annotations

from typing import Any

from ..exchange import ProfileInfo
from ..security.replay import NotReplayable, Replayer

_PROFILE = "recorded"


def steps_from_exchange(exchange: dict[str, Any]) -> dict[str, Any]:
    """``{provider, path, request, response, stream?, flags?, blocked?, router?, model?}`` (an interaction's
    columns) -> ``{"tools": [declared names], "steps": [...]}``. Raises ValueError when it cannot be read."""
    row = {"provider": exchange.get("provider"), "profile_id": _PROFILE, "request": exchange.get("request"),
           "response": exchange.get("response"), "model": exchange.get("model"), "path": exchange.get("path"),
           "stream": bool(exchange.get("stream")), "flags": exchange.get("flags"),
           "blocked": exchange.get("blocked"), "router": exchange.get("router")}
    try:
        parsed, groups = Replayer({_PROFILE: ProfileInfo(_PROFILE, _PROFILE)}).parse(row)
    except NotReplayable as why:
        raise ValueError(f"the exchange cannot be read: {why}") from None
    steps: list[dict[str, Any]] = []
    for message in parsed.messages:
        if message.text and message.role in ("user", "assistant"):
            steps.append({message.role: message.text})
        for call in message.tool_calls:
            steps.append({"call": _call(call)})
        for result in message.tool_results:
            steps.append({"result": _result(result)})
    for results, calls in groups:
        steps += [{"result": _result(result)} for result in results]
        steps += [{"call": _call(call)} for call in calls]
    return {"tools": [tool.name for tool in parsed.tools if not tool.server], "steps": steps}


def _call(call: Any) -> dict[str, Any]:
    out = {"tool": call.name, "arguments": call.arguments}
    if call.id:
        out["id"] = call.id
    return out


def _result(result: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"tool": result.name, "content": result.original_content}
    if result.tool_call_id:
        out["id"] = result.tool_call_id
    if result.is_error:
        out["is_error"] = True
    return out
