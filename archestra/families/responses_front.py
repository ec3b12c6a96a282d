"""The OpenAI Responses API as a front family of the Model Router (issue 26): clients call
``client.responses.create(...)`` on the router, which may answer from any provider.

Client side only: the request is read into neutral form (``responses_front_read``, its items in
``responses_front_items``), neutral answers are rendered as ``Response`` objects (``responses_front_render``)
and neutral stream events as the Responses SSE stream (``responses_front_stream``).

Two departures from :class:`~.codec.FrontCodec`, both optional arguments:

* ``read_request(body, previous)``: ``previous`` is the neutral conversation the router kept for the body's
  ``previous_response_id`` (the router resolves the id, per profile; this reader prepends it).
* ``render_answer(answer, request)``: a Response echoes the request's settings (tools, tool_choice, text
  format...), so the neutral request is passed along.

The id the client gets is :func:`response_id` of the upstream answer's id (also ``render_answer(...)["id"]`` and,
streamed, the writer's ``response_id``): the router keeps the conversation under it.
"""
from __future__ import annotations

import time
from typing import Any

from .neutral import ChatAnswer, ChatRequest, Message
from .responses_front_read import DROPPED_FIELDS, ROUTER_FIELDS, read_request
from .responses_front_render import output_items, response_body, response_id
from .responses_front_stream import ResponsesStreamWriter

__all__ = ["DROPPED_FIELDS", "RESPONSES_FRONT", "ROUTER_FIELDS", "ResponsesFront", "ResponsesStreamWriter",
           "response_id"]


class ResponsesFront:
    name = "responses"
    stream_content_type = "text/event-stream"

    def read_request(self, body: dict[str, Any], previous: list[Message] | None = None) -> ChatRequest:
        return read_request(body, previous)

    def render_answer(self, answer: ChatAnswer, request: ChatRequest | None = None) -> dict[str, Any]:
        """The Response body; without ``request`` the echoed settings are the API's defaults."""
        rid = response_id(answer.id)
        output = output_items(rid, answer.parts, cut=answer.finish_reason == "length")
        return response_body(rid, int(time.time()), answer.model, request, output, answer.finish_reason,
                             answer.usage)

    def stream_writer(self, request: ChatRequest) -> ResponsesStreamWriter:
        return ResponsesStreamWriter(request)


RESPONSES_FRONT = ResponsesFront()
