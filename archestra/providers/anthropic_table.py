"""The Anthropic Messages family's declared table (``providers/shapes.py``): how each request block, nested
part, tool entry and answer block is read. ``anthropic_blocks`` reads requests and answers by it;
``anthropic_events`` holds the stream events. The SDK's own type unions are checked against it
(tests/test_sdk_types_anthropic.py), so a type a new SDK knows and this table does not fails CI.

Places (``where``) in a request: ``content`` (a block of ``messages[].content`` or ``system``), ``tool_result``
(a block inside a ``tool_result``), ``source`` (an image's or document's source), ``document`` (a block of a
``content`` source), ``search_result`` (a block of a search result), ``result`` (a part of a provider-executed
tool's result, at any depth), ``tool`` (a ``tools`` entry; an entry without ``type`` is ``custom``),
``tool_change`` (what a ``tool_addition`` / ``tool_removal`` names), ``mcp_server`` (an ``mcp_servers``
entry), ``thread`` (the ``thread`` field: server-held conversation state), ``container`` (the ``container``
field: ``id`` names a container and the files in it), ``skill`` (a skill loaded in the container) and
``field`` (the body's own fields: those that hold content are read in their places, the others are settings;
a field the table does not hold is unseen). In an answer: ``content``.
"""
from __future__ import annotations

from .anthropic_events import EVENTS, UNKNOWN_EVENT
from .anthropic_events import NOTES as EVENT_NOTES
from .shapes import FamilyTable, Reading

FAMILY = "Anthropic Messages"
I, C, R, S, U, O = Reading.INERT, Reading.CALL, Reading.RESULT, Reading.SERVER_TOOL, Reading.UNSEEN, Reading.OPAQUE

#: Tool entry types whose calls come back to the client (``tool_use``): client tools. Every other type, known
#: or not, is a provider-executed server tool, decided before the request goes upstream.
CLIENT_TOOLS = ("custom", "bash_20241022", "bash_20250124", "text_editor_20241022", "text_editor_20250124",
                "text_editor_20250429", "text_editor_20250728", "computer_20241022", "computer_20250124",
                "computer_20251124", "memory_20250818", "browser_toolset_20260801", "computer_toolset_20260801")
SERVER_TOOLS = ("web_search_20250305", "web_search_20260209", "web_search_20260318", "web_fetch_20250910",
                "web_fetch_20260209", "web_fetch_20260309", "web_fetch_20260318", "code_execution_20250522",
                "code_execution_20250825", "code_execution_20260120", "code_execution_20260521",
                "tool_search_tool_bm25", "tool_search_tool_bm25_20251119", "tool_search_tool_regex",
                "tool_search_tool_regex_20251119", "advisor_20260301", "mcp_toolset")
#: Result blocks of provider-executed tools (in a request's history and in an answer).
SERVER_RESULTS = ("web_search_tool_result", "web_fetch_tool_result", "advisor_tool_result",
                  "code_execution_tool_result", "bash_code_execution_tool_result",
                  "text_editor_code_execution_tool_result", "tool_search_tool_result", "mcp_tool_result",
                  "mcp_tool_listing")
#: The parts of those results, at any depth (what ``result`` holds).
_RESULT_PARTS = ("text", "web_search_result", "web_search_tool_result_error", "web_fetch_result",
                 "web_fetch_tool_result_error", "code_execution_result", "code_execution_tool_result_error",
                 "bash_code_execution_result", "bash_code_execution_tool_result_error",
                 "text_editor_code_execution_view_result", "text_editor_code_execution_create_result",
                 "text_editor_code_execution_str_replace_result", "text_editor_code_execution_tool_result_error",
                 "tool_search_tool_search_result", "tool_search_tool_result_error", "tool_reference",
                 "advisor_result", "advisor_tool_result_error", "document")

#: The body's fields whose content is read in the places above.
_READ_FIELDS = ("messages", "system", "tools", "mcp_servers", "thread", "container")
#: The body's settings: no content, no reference (``anthropic_version`` / ``anthropic_beta``: Bedrock and Vertex;
#: ``temperature`` / ``top_p`` / ``top_k`` / ``output_format``: older API versions, which clients still send;
#: ``betas`` / ``user_profile_id`` / ``workspace_id``: headers the SDK declares with the body's fields).
_SETTINGS = ("model", "max_tokens", "stream", "tool_choice", "metadata", "thinking", "service_tier", "stop_sequences",
             "temperature", "top_p", "top_k", "context_management", "output_config", "output_format", "cache_control",
             "compaction", "diagnostics", "fallback_credit_token", "fallbacks", "inference_geo", "speed",
             "billing_policy", "anthropic_version", "anthropic_beta", "betas", "user_profile_id", "workspace_id")

_REQUEST: dict[str, Reading] = {
    "content:text": I, "content:image": I, "content:document": I, "content:thinking": I,
    "content:redacted_thinking": O, "content:tool_use": C, "content:server_tool_use": S,
    "content:mcp_tool_use": S, "content:tool_result": R, **{f"content:{kind}": R for kind in SERVER_RESULTS},
    "content:search_result": U, "content:container_upload": U, "content:compaction": U,
    "content:tool_addition": I, "content:tool_removal": I, "content:fallback": O,
    "tool_result:text": I, "tool_result:image": I, "tool_result:document": I, "tool_result:search_result": I,
    "tool_result:tool_reference": I, "tool_result:browser_state": I,
    "source:base64": I, "source:text": I, "source:content": I, "source:url": U, "source:file": U,
    "document:text": I, "document:image": I,
    "search_result:text": I,
    **{f"result:{kind}": R for kind in _RESULT_PARTS},
    "result:encrypted_code_execution_result": U, "result:advisor_redacted_result": U,
    "result:code_execution_output": U, "result:bash_code_execution_output": U,
    **{f"tool:{kind}": C for kind in CLIENT_TOOLS}, **{f"tool:{kind}": S for kind in SERVER_TOOLS},
    "tool_change:tool_reference": I, "tool_change:mcp_tool_reference": I, "tool_change:mcp_toolset_reference": I,
    "tool_change:tool_definition": I,
    "mcp_server:url": S,
    "thread:create": O, "thread:continue": U,
    "container:id": U, "skill:anthropic": I, "skill:custom": U,
    **{f"field:{name}": I for name in _READ_FIELDS}, **{f"field:{name}": O for name in _SETTINGS},
}
_ANSWER: dict[str, Reading] = {
    "content:text": I, "content:thinking": I, "content:redacted_thinking": O, "content:tool_use": C,
    "content:server_tool_use": S, "content:mcp_tool_use": S, **{f"content:{kind}": R for kind in SERVER_RESULTS},
    "content:container_upload": O, "content:compaction": I, "content:fallback": O,
}
_NOTES = {
    "content:search_result": "retrieved content outside any tool result: no result policy can judge it",
    "content:container_upload": "a stored file, by id (in an answer: the server's record of an upload)",
    "content:compaction": "in a request, a summary of context the request no longer carries (a failed "
                          "compaction, without content, is nothing); in an answer, text the server wrote",
    "content:tool_addition": "its tool (a reference or an inline definition) is a declared tool",
    "content:mcp_tool_listing": "an MCP server's tool listing, pinned: a result of `mcp:<server>`",
    "content:fallback": "marks where a fallback model took over; not rendered into the prompt",
    "tool_result:browser_state": "the client's browser tabs after a browser toolset call",
    "source:url": "read by the provider from a URL", "source:file": "a stored file, by id",
    "source:content": "its blocks are read as `document`",
    "result:encrypted_code_execution_result": "encrypted: the proxy cannot read it",
    "result:advisor_redacted_result": "encrypted: the proxy cannot read it",
    "result:code_execution_output": "a file in the container, by id",
    "result:bash_code_execution_output": "a file in the container, by id",
    "result:document": "a fetched page: its source is read as `source`",
    "tool:mcp_toolset": "part of its `mcp_servers` entry; pinned `tools` are a result of `mcp:<server>`",
    "tool:browser_toolset_20260801": "the `browser` toolset: member calls carry `toolset_name`",
    "tool:computer_toolset_20260801": "the `computer` toolset: member calls carry `toolset_name`",
    "mcp_server:url": "the server tool `mcp:<name>`",
    "thread:create": "asks the server to hold this conversation: nothing unseen yet",
    "thread:continue": "the conversation the server holds since `previous_message_id`",
    "container:id": "a container reused with the files in it (the field as a string is its id)",
    "skill:anthropic": "one of Anthropic's own skills", "skill:custom": "a stored, user-defined skill",
    **{f"field:{name}": "read in its own places (above)" for name in _READ_FIELDS},
}

# Unknown stream events: the official SDKs hand them to the application unaccumulated, and a newer client may act
# on them, so the relay cuts the stream (anthropic_events.UNKNOWN_EVENT, read off both SDKs' sources).
TABLE = FamilyTable(FAMILY, request=_REQUEST, answer=_ANSWER, events=EVENTS, unknown_event=UNKNOWN_EVENT,
                    notes={**_NOTES, **EVENT_NOTES})
