"""What the Model Router keeps so that a Responses API client can continue a conversation with
``previous_response_id`` when the upstream keeps none (every provider but OpenAI's own Responses API).

The conversation is kept as the client got it: the calls the proxy refused are not in it (the refusal text is),
so the next turn never shows the model a call that did not run. It is written once the answer's decisions are
made (``Recorder.run_now``: streams end outside the request), and a request that reaches another worker first
waits for it briefly, as the response chain does.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from sqlalchemy.exc import IntegrityError

from ..exchange import Exchange
from ..families.neutral import ChatAnswer, ChatRequest, Message, Reasoning, Text, ToolCallPart
from ..proxy_error import ProxyError
from ..runtime import Runtime
from . import response_store

log = logging.getLogger("archestra.router")
#: How long a request naming a response waits for it to be written (another worker may still be writing it).
WAIT_SECONDS = 3.0


def previous(runtime: Runtime, profile_id: str, body: dict[str, Any]) -> list[Message] | None:
    """The conversation ``previous_response_id`` names (None without one); a 400 when this profile has none."""
    response_id = body.get("previous_response_id")
    if response_id is None:
        return None
    if not isinstance(response_id, str) or not response_id:
        raise ProxyError(400, "previous_response_id must be a response id.", param="previous_response_id")
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = response_store.load(profile_id, response_id)
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise ProxyError(400, f"Previous response with id {response_id!r} not found.",
                             code="previous_response_not_found", param="previous_response_id")
        time.sleep(0.1)


def as_received(answer: ChatAnswer, exchange: Exchange) -> Message:
    """The answer's assistant turn as the client received it: its reasoning, then the decided text and calls."""
    parts: list[Any] = [part for part in answer.parts if isinstance(part, Reasoning)]
    response = exchange.response
    if response is not None and response.text:
        parts.append(Text(response.text))
    for call in response.tool_calls if response is not None else []:
        arguments = call.raw_arguments if call.raw_arguments is not None else json.dumps(call.arguments)
        parts.append(ToolCallPart(call.id or "", call.name, arguments))
    return Message("assistant", parts)


def remember(runtime: Runtime, profile_id: str, body: dict[str, Any], request: ChatRequest, answer: ChatAnswer,
             exchange: Exchange, response_id: str | None) -> None:
    """Keep the conversation under the id the client got (not when the client asked ``store: false``)."""
    if body.get("store") is False or not response_id:
        return
    messages = [*request.messages, as_received(answer, exchange)]

    def write(session: Any) -> None:
        response_store.save(profile_id, response_id, messages, str(body.get("model") or ""))

    try:
        runtime.recorder.run_now(write)
    except IntegrityError:
        log.warning("the Model Router already keeps a response %s: not overwritten", response_id)
