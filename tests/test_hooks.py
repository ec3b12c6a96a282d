"""Operators' hook files: loaded and validated at startup, see the exchange view, edit and block."""
from __future__ import annotations

import json
import re
import textwrap

import openai
import pytest

from archestra import create_app
from archestra.exchange import ToolCall
from archestra.hooks.loader import HookLoadError
from archestra.toolcalls import refusal_text
from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply, sse_reply

TOOLS = [{"type": "function", "function": {"name": name, "description": name,
                                           "parameters": {"type": "object", "properties": {}}}}
         for name in ("get_weather", "send_email")]


def hook_file(tmp_path, source: str, name: str = "hooks.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


def client(proxy) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-x", base_url=proxy.base("openai"), max_retries=0)


@pytest.mark.parametrize("source,message", [
    ("def on_requets(exchange):\n    pass\n", "on_requets() is not a hook stage"),
    ("def on_tool_call(exchange):\n    pass\n", "on_tool_call() must accept (exchange, call)"),
    ("async def on_request(exchange):\n    pass\n", "must be a plain synchronous function"),
    ("import nosuchmodule_xyz\n", "failed to import: ModuleNotFoundError"),
    ("x = 1\n", "defines no hook function"),
])
def test_bad_hook_files_are_startup_errors(tmp_path, source, message):
    path = hook_file(tmp_path, source)
    with pytest.raises(HookLoadError, match=re.escape(message)):
        create_app({"hooks": path, "database_url": f"sqlite:///{tmp_path}/x.db"})


def test_missing_hook_file_is_a_startup_error(tmp_path):
    with pytest.raises(HookLoadError, match="does not exist"):
        create_app({"hooks": str(tmp_path / "nope.py"), "database_url": f"sqlite:///{tmp_path}/x.db"})


def test_hooks_see_the_view_and_edits_reach_upstream(tmp_path, make_proxy, upstream):
    seen_file = tmp_path / "seen.json"
    path = hook_file(tmp_path, """
        import json
        SEEN = []
        OUT = '__OUT__'

        def on_request(exchange):
            SEEN.append({
                "provider": exchange.provider, "model": exchange.model, "stream": exchange.stream,
                "roles": [m.role for m in exchange.messages],
                "tools": [t.name for t in exchange.tools],
                "history_calls": [(c.name, c.arguments) for m in exchange.messages for c in m.tool_calls],
                "session": exchange.client.session_id,
            })
            exchange.model = "gpt-4o-mini"
            exchange.messages[0].text = exchange.messages[0].text.replace("SECRET", "[redacted]")
            exchange.tools = [t for t in exchange.tools if t.name != "send_email"]

        def on_tool_result(exchange, result):
            SEEN.append({"result": (result.tool_call_id, result.name, result.content)})
            result.content = result.content.replace("4111-1111", "****")
            result.trusted = True

        def on_response(exchange):
            SEEN.append({"answer": exchange.response.text, "usage": exchange.response.usage.input_tokens,
                         "trusted": exchange.context_trusted})
            with open(OUT, "w") as out:
                json.dump(SEEN, out)
    """.replace("__OUT__", str(seen_file)))
    proxy = make_proxy(hooks=path)
    upstream.reply_with(json_reply(wire.completion("done")))
    messages = [
        {"role": "user", "content": "my SECRET is here"},
        {"role": "assistant", "content": None, "tool_calls": [wire.tool_call("get_weather", {"city": "Oslo"})]},
        {"role": "tool", "tool_call_id": "call_abc123", "content": "card 4111-1111"},
    ]
    client(proxy).chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS,
                                          tool_choice="auto", extra_headers={"X-Archestra-Session-Id": "s-1"})

    sent = upstream.received[-1].json
    assert sent["model"] == "gpt-4o-mini"
    assert sent["messages"][0]["content"] == "my [redacted] is here"
    assert sent["messages"][2]["content"] == "card ****"
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather"]
    assert "X-Archestra-Session-Id" not in upstream.received[-1].headers

    seen = json.loads(seen_file.read_text())
    assert seen[0] == {"provider": "openai", "model": "gpt-4o", "stream": False,
                       "roles": ["user", "assistant", "tool"], "tools": ["get_weather", "send_email"],
                       "history_calls": [["get_weather", {"city": "Oslo"}]], "session": "s-1"}
    assert seen[1] == {"result": ["call_abc123", "get_weather", "card 4111-1111"]}
    assert seen[2] == {"answer": "done", "usage": 44, "trusted": True}


def test_a_request_the_hooks_do_not_touch_is_forwarded_byte_for_byte(tmp_path, make_proxy, upstream):
    proxy = make_proxy(hooks=hook_file(tmp_path, "def on_request(exchange):\n    pass\n"))
    upstream.reply_with(json_reply(wire.completion()))
    raw = b'{"model": "gpt-4o",   "messages": [{"role": "user", "content": "caf\\u00e9"}], "x_extra": [1, 2]}'
    import requests
    requests.post(proxy.base("openai") + "/chat/completions", data=raw,
                  headers={"Content-Type": "application/json", "Authorization": "Bearer k"}, timeout=10)
    assert upstream.received[-1].body == raw


def test_block_in_on_request_is_a_403_in_provider_format(tmp_path, make_proxy, upstream):
    proxy = make_proxy(hooks=hook_file(tmp_path, """
        from archestra.hooks import Block

        def on_request(exchange):
            raise Block("no jailbreaks")
    """))
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "request_blocked"
    assert "no jailbreaks" in caught.value.message
    assert upstream.received == []


def test_a_crashing_hook_fails_closed(tmp_path, make_proxy, upstream, caplog):
    proxy = make_proxy(hooks=hook_file(tmp_path, """
        def on_request(exchange):
            return {}["missing"]
    """, name="buggy.py"))
    with pytest.raises(openai.PermissionDeniedError, match="buggy.py:on_request failed"):
        client(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert upstream.received == []
    assert "KeyError" in caplog.text and "buggy.py" in caplog.text


BLOCK_EMAIL = """
    from archestra.hooks import Block

    def on_tool_call(exchange, call):
        if call.name == "send_email":
            raise Block("email is not allowed here")
"""


def expected_refusal(args: dict) -> str:
    return refusal_text(ToolCall("x", "send_email", args), "email is not allowed here")


def test_blocked_tool_call_becomes_a_refusal_message(tmp_path, make_proxy, upstream):
    proxy = make_proxy(hooks=hook_file(tmp_path, BLOCK_EMAIL))
    calls = [wire.tool_call("get_weather", {"city": "Paris"}, "call_1"),
             wire.tool_call("send_email", {"to": "evil@example.com"}, "call_2")]
    upstream.reply_with(json_reply(wire.completion(None, calls)))

    answer = client(proxy).chat.completions.create(model="gpt-4o", tools=TOOLS,
                                                   messages=[{"role": "user", "content": "x"}])
    choice = answer.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.tool_calls is None
    assert choice.message.content == expected_refusal({"to": "evil@example.com"})
    assert choice.message.content.startswith(
        'I tried to invoke the send_email tool with the following arguments: {"to":"evil@example.com"}.')
    assert answer.usage.total_tokens == 60


def test_blocked_streamed_tool_call_is_never_sent(tmp_path, make_proxy, upstream):
    proxy = make_proxy(hooks=hook_file(tmp_path, BLOCK_EMAIL))
    events = wire.tool_stream([("call_9", "send_email", ['{"to":', '"evil@example.com"}'])], text=["Sure. "])
    upstream.reply_with(sse_reply(events))

    with client(proxy).chat.completions.with_streaming_response.create(
            model="gpt-4o", tools=TOOLS, stream=True, messages=[{"role": "user", "content": "x"}],
            stream_options={"include_usage": True}) as response:
        body = b"".join(response.iter_bytes())
    assert b'"tool_calls"' not in body and b'"arguments"' not in body and b"call_9" not in body
    assert body.endswith(b"data: [DONE]\n\n")

    upstream.reply_with(sse_reply(events))
    with client(proxy).chat.completions.stream(model="gpt-4o", tools=TOOLS, stream_options={"include_usage": True},
                                               messages=[{"role": "user", "content": "x"}]) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.tool_calls in (None, [])
    assert message.content == "Sure. " + expected_refusal({"to": "evil@example.com"})
    assert final.choices[0].finish_reason == "stop"
    assert final.usage.total_tokens == 60


def test_allowed_streamed_tool_call_is_replayed_byte_for_byte(tmp_path, make_proxy, upstream):
    proxy = make_proxy(hooks=hook_file(tmp_path, BLOCK_EMAIL))
    events = wire.tool_stream([("call_1", "get_weather", ['{"ci', 'ty": "Paris"}'])], text=["Checking."])
    upstream.reply_with(sse_reply(events))
    with client(proxy).chat.completions.with_streaming_response.create(
            model="gpt-4o", tools=TOOLS, stream=True, messages=[{"role": "user", "content": "x"}],
            stream_options={"include_usage": True}) as response:  # as the events: usage asked for
        body = b"".join(response.iter_bytes())
    assert body == b"".join(events)


def test_blocked_mistral_whole_call_stream(tmp_path, make_proxy, upstream):
    from mistralai.client import Mistral

    proxy = make_proxy(hooks=hook_file(tmp_path, BLOCK_EMAIL))
    upstream.reply_with(sse_reply(wire.mistral_tool_stream("send_email", {"to": "a@b.c"})))
    events = list(Mistral(api_key="k", server_url=proxy.base("mistral")).chat.stream(
        model="mistral-large-latest", messages=[{"role": "user", "content": "x"}], tools=TOOLS))
    text = "".join(e.data.choices[0].delta.content or "" for e in events)
    assert text == expected_refusal({"to": "a@b.c"})
    assert not any(e.data.choices[0].delta.tool_calls for e in events)
    assert events[-1].data.choices[0].finish_reason == "stop"
    assert events[-1].data.usage.total_tokens == 30


def test_refusal_text_matches_the_spec():
    text = refusal_text(ToolCall("c", "send_email", {"to": "x@y.z", "n": 1}), "untrusted context")
    assert text == ('I tried to invoke the send_email tool with the following arguments: {"to":"x@y.z","n":1}.'
                    "\n\nHowever, I was denied by a tool invocation policy:\n\nuntrusted context")
    json.loads(text.split("arguments: ")[1].split(".\n\n")[0])
