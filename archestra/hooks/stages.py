"""The hook stages: declared once here; each docstring is the contract a hook function must meet.

A hook is a plain synchronous function named after its stage. It blocks by raising
:class:`archestra.hooks.Block`; any other exception also blocks (fail closed), with the cause logged.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str
    params: tuple[str, ...]
    doc: str


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage("on_request", ("exchange",),
              "Before the request goes upstream. May edit the exchange (model, message text, tools, "
              "tool results); raising Block refuses the request with an error in the provider's format."),
        Stage("on_tool_result", ("exchange", "result"),
              "Once for each tool result the client sends back, after on_request. Decides its trust "
              "(result.trusted = True/False), may add data labels (result.labels) and may redact "
              "result.content; raising Block replaces the content sent upstream with "
              "'[Content blocked by policy: <reason>]'."),
        Stage("on_tool_call", ("exchange", "call"),
              "For each tool call the model makes, once the call is complete (streams included). Raising "
              "Block replaces every tool call of that answer with the refusal message."),
        Stage("on_response", ("exchange",),
              "After the whole answer, with exchange.response filled. Raising Block refuses a non-streamed "
              "answer; for a stream that already reached the client it is logged."),
        Stage("on_error", ("exchange", "error"),
              "When the exchange fails (upstream error, broken stream, blocked request). Observational: "
              "exceptions raised here are logged and ignored."),
    )
}
