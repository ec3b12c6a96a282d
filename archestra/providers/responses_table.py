"""The OpenAI Responses API's declared table (``shapes.FamilyTable``): how every input item, content part, tool,
top-level request field, output item and stream event is read. The ground truth is the openai SDK's typed unions
(``openai/types/responses/``); ``tests/test_sdk_types_responses.py`` fails when the SDK knows a type this table
does not hold. ``responses_items`` reads items through it; nothing outside it passes as harmless."""
from __future__ import annotations

from .shapes import FamilyTable, Reading

FAMILY = "OpenAI Responses"
_INERT, _CALL, _RESULT, _SERVER = Reading.INERT, Reading.CALL, Reading.RESULT, Reading.SERVER_TOOL
_UNSEEN, _OPAQUE, _READ, _SKIPPED = Reading.UNSEEN, Reading.OPAQUE, Reading.READ, Reading.SKIPPED

#: Every item type: (its reading in a request, in an answer, the tool it belongs to). The tool names calls
#: (None: the item's own ``name``; ``mcp``: ``mcp:<server_label>``) and hosted results; outputs are named by
#: the call they answer.
ITEMS: dict[str, tuple[Reading, Reading | None, str | None]] = {
    "message": (_INERT, _INERT, None),
    "function_call": (_CALL, _CALL, None),
    "custom_tool_call": (_CALL, _CALL, None),
    "local_shell_call": (_CALL, _CALL, "local_shell"),
    "shell_call": (_CALL, _CALL, "shell"),
    "apply_patch_call": (_CALL, _CALL, "apply_patch"),
    "computer_call": (_CALL, _CALL, "computer"),
    "tool_search_call": (_CALL, _CALL, "tool_search"),
    "mcp_approval_request": (_CALL, _CALL, "mcp"),
    "function_call_output": (_RESULT, _RESULT, None),
    "custom_tool_call_output": (_RESULT, _RESULT, None),
    "local_shell_call_output": (_RESULT, _RESULT, None),
    "shell_call_output": (_RESULT, _RESULT, None),
    "apply_patch_call_output": (_RESULT, _RESULT, None),
    "computer_call_output": (_RESULT, _RESULT, None),
    "tool_search_output": (_RESULT, _RESULT, None),
    "web_search_call": (_SERVER, _SERVER, "web_search"),
    "file_search_call": (_SERVER, _SERVER, "file_search"),
    "code_interpreter_call": (_SERVER, _SERVER, "code_interpreter"),
    "image_generation_call": (_SERVER, _SERVER, "image_generation"),
    "mcp_call": (_SERVER, _SERVER, "mcp"),
    "mcp_list_tools": (_SERVER, _SERVER, "mcp"),
    "program": (_SERVER, _SERVER, "programmatic_tool_calling"),
    "program_output": (_SERVER, _SERVER, "programmatic_tool_calling"),
    "additional_tools": (_SERVER, _SERVER, "tool_search"),
    "reasoning": (_OPAQUE, _OPAQUE, None),
    "compaction": (_UNSEEN, _OPAQUE, None),
    "compaction_trigger": (_OPAQUE, _OPAQUE, None),
    "mcp_approval_response": (_OPAQUE, _OPAQUE, None),
    "configuration_update": (_OPAQUE, _OPAQUE, None),
    "item_reference": (_UNSEEN, None, None),  # never in an answer: refused there
}
#: Content parts: of messages (``input_*`` in requests, ``output_text`` / ``refusal`` in assistant messages)
#: and of call outputs (``function_call_output`` arrays, the ``computer_screenshot`` of a computer call).
PARTS: dict[str, Reading] = {
    "input_text": _INERT, "output_text": _INERT, "refusal": _INERT, "input_image": _INERT, "input_file": _INERT,
    "input_audio": _INERT, "computer_screenshot": _INERT, "reasoning_text": _INERT, "summary_text": _INERT,
}
#: Tool types: the client runs its calls (``CALL``) or the provider does (``SERVER_TOOL``: decided before the
#: request goes upstream). ``shell`` and ``tool_search`` are also gated as server tools when their fields say
#: the provider runs them; their call items stay decided calls.
TOOLS: dict[str, Reading] = {
    "function": _CALL, "custom": _CALL, "local_shell": _CALL, "shell": _CALL, "apply_patch": _CALL,
    "computer": _CALL, "computer_use_preview": _CALL, "tool_search": _CALL, "namespace": _INERT,
    "file_search": _SERVER, "web_search": _SERVER, "web_search_2025_08_26": _SERVER,
    "web_search_preview": _SERVER, "web_search_preview_2025_03_11": _SERVER, "mcp": _SERVER,
    "code_interpreter": _SERVER, "programmatic_tool_calling": _SERVER, "image_generation": _SERVER,
}
#: Top-level request fields: ``input``, ``instructions`` and ``tools`` are read; a stored ``prompt`` is unseen;
#: ``previous_response_id`` and ``conversation`` are the response chain's (security/response_chain.py); the rest
#: configure the request and carry no content. A field the table does not hold is unseen context unless its
#: value is a number, a boolean or null (which can carry neither content nor a reference).
FIELDS: dict[str, Reading] = {
    "input": _INERT, "instructions": _INERT, "tools": _INERT, "prompt": _UNSEEN, "previous_response_id": _UNSEEN,
    "conversation": _UNSEEN, **{name: _OPAQUE for name in (
        "model", "stream", "stream_options", "background", "background_options", "context_management", "image",
        "include", "max_output_tokens", "max_tool_calls", "metadata", "moderation", "parallel_tool_calls",
        "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "reasoning", "safety_identifier",
        "service_tier", "store", "temperature", "text", "tool_choice", "top_logprobs", "top_p", "truncation",
        "user", "access_programs", "client_metadata")},
}
#: Stream events: ``READ`` ones move the relay's bookkeeping (items, call fragments, the response), the others
#: are relayed in order and move nothing. The openai SDK passes an event type it does not know to the
#: application as it is and accumulates nothing from it (``ResponseStreamState.handle_event``'s last branch):
#: an unknown event is skipped the same way.
_READ_EVENTS = ("response.created", "response.queued", "response.in_progress", "response.completed",
                "response.incomplete", "response.failed", "error", "response.output_item.added",
                "response.output_item.done", "response.output_text.delta", "response.function_call_arguments.delta",
                "response.function_call_arguments.done", "response.custom_tool_call_input.delta",
                "response.custom_tool_call_input.done", "response.shell_call_command.added",
                "response.shell_call_command.delta", "response.shell_call_command.done")
_SKIPPED_EVENTS = (
    "response.audio.delta", "response.audio.done", "response.audio.transcript.delta",
    "response.audio.transcript.done", "response.code_interpreter_call_code.delta",
    "response.code_interpreter_call_code.done", "response.code_interpreter_call.completed",
    "response.code_interpreter_call.in_progress", "response.code_interpreter_call.interpreting",
    "response.compaction.compacting", "response.content_part.added", "response.content_part.done",
    "response.file_search_call.completed", "response.file_search_call.in_progress",
    "response.file_search_call.searching", "response.shell_call_output_content.delta",
    "response.shell_call_output_content.done", "response.reasoning_summary_part.added",
    "response.reasoning_summary_part.done", "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done", "response.reasoning_text.delta", "response.reasoning_text.done",
    "response.refusal.delta", "response.refusal.done", "response.output_text.done",
    "response.web_search_call.completed", "response.web_search_call.in_progress",
    "response.web_search_call.searching", "response.image_generation_call.completed",
    "response.image_generation_call.generating", "response.image_generation_call.in_progress",
    "response.image_generation_call.partial_image", "response.mcp_call_arguments.delta",
    "response.mcp_call_arguments.done", "response.mcp_call.completed", "response.mcp_call.failed",
    "response.mcp_call.in_progress", "response.mcp_list_tools.completed", "response.mcp_list_tools.failed",
    "response.mcp_list_tools.in_progress", "response.output_text.annotation.added")

TABLE = FamilyTable(
    FAMILY,
    request={**{f"item:{kind}": request for kind, (request, _, _) in ITEMS.items()},
             **{f"part:{kind}": reading for kind, reading in PARTS.items()},
             **{f"tool:{kind}": reading for kind, reading in TOOLS.items()},
             **{f"field:{name}": reading for name, reading in FIELDS.items()}},
    answer={**{f"item:{kind}": answer for kind, (_, answer, _) in ITEMS.items() if answer is not None},
            **{f"part:{kind}": reading for kind, reading in PARTS.items()
               if kind in ("output_text", "refusal", "input_text")}},
    events={**{f"event:{name}": _READ for name in _READ_EVENTS}, **{f"event:{name}": _SKIPPED
                                                                    for name in _SKIPPED_EVENTS}},
    unknown_event=_SKIPPED,
    notes={
        "request:field:previous_response_id": "unless the response chain relayed it for this profile (its "
                                              "remembered context is then judged again)",
        "request:field:conversation": "its items are stored at the provider",
        "request:field:client_metadata": "Codex's client metadata (not shown to the model)",
        "request:item:compaction": "unless the response chain relayed it for this profile (its remembered "
                                   "context is then judged again)",
        "request:item:item_reference": "a stored item the request does not carry",
        "request:item:shell_call": "a call whatever its environment says",
        "request:item:tool_search_call": "a call whatever its execution says",
        "request:item:mcp_list_tools": "an MCP server's tool listing: untrusted input",
        "request:item:additional_tools": "tool definitions loaded into the conversation: untrusted input",
        "request:part:input_image": "unseen when given by file_id or a URL that is not data:",
        "request:part:input_file": "unseen when given by file_id or file_url",
        "request:part:computer_screenshot": "unseen when given by file_id or a URL that is not data:",
        "request:tool:shell": "also decided before the request when it runs in a hosted container",
        "request:tool:tool_search": "also decided before the request unless execution is client",
        "request:tool:namespace": "its tools are read as tools of the namespace (their calls' toolset)",
        "answer:item:shell_call": "a call whatever its environment says",
        "answer:part:input_text": "the user messages a compaction answer (POST /responses/compact) gives back",
    })
