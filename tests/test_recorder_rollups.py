"""The recorder's batched writes, on the proxy as deployed (two workers writing at once): every request recorded,
and the running totals written beside the interactions (each tool's call count, the daily spend rollup) exactly
the sum of what was recorded."""
from __future__ import annotations

import concurrent.futures

import openai

from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply
from tests.live import live as live_fixture
from tests.test_console import signed_in

live = live_fixture
TOOLS = [{"type": "function", "function": {"name": name, "description": name,
                                           "parameters": {"type": "object", "properties": {}}}}
         for name in ("get_weather", "get_time")]


def test_tool_call_counts_and_spend_add_up_across_both_workers(live):
    profile = live.profile()

    def answer(request):
        # Even questions: two get_weather calls; odd ones: one get_time call.
        n = int(request.json["messages"][0]["content"][1:])
        calls = ([wire.tool_call("get_weather", {}, f"call_w{n}a"), wire.tool_call("get_weather", {}, f"call_w{n}b")]
                 if n % 2 == 0 else [wire.tool_call("get_time", {}, f"call_t{n}")])
        return json_reply(wire.completion(None, calls, usage=(100, 10)))

    live.upstream.reply_with(answer)

    def ask(n: int) -> int:
        client = openai.OpenAI(api_key="k", base_url=live.base("openai", profile), max_retries=0)
        made = client.chat.completions.create(model="gpt-4o", tools=TOOLS,
                                              messages=[{"role": "user", "content": f"q{n}"}])
        return len(made.choices[0].message.tool_calls)

    total = 60
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answered = list(pool.map(ask, range(total)))
    assert sum(answered) == 2 * (total // 2) + total // 2  # every answer came back whole

    rows = live.eventually(lambda: (lambda data: data if len(data) == total else None)(
        live.api("GET", "/interactions", params={"profile_id": profile, "limit": 200}).json()["data"]))
    assert len(rows) == total  # every request recorded

    def counts() -> dict[str, int] | None:
        tools = live.api("GET", "/tools", params={"profile_id": profile}).json()["data"]
        found = {tool["name"]: tool["call_count"] for tool in tools}
        return found if found.get("get_weather") == total and found.get("get_time") == total // 2 else None

    assert live.eventually(counts) == {"get_weather": total, "get_time": total // 2}
    # The daily spend rollup (what the console's spend and profile pages read): every interaction, every token.
    expected = sum(row["cost_usd"] for row in rows)
    page = signed_in(live.url, "t").get(f"/console/profiles/{profile}").text
    assert f"${expected:.4f}</strong> over {total} interactions, {110 * total} tokens" in page
