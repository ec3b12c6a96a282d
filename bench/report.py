"""The results of one benchmark run, side by side, as Markdown."""
from __future__ import annotations

from dataclasses import dataclass, field

from .measure import Load

DIRECT = "direct to upstream"
OURS = "archestra (SQLite)"
PEER = "LiteLLM proxy"
FLOOR = "stack floor (Flask + gevent + requests only)"
CHUNKS = 200
RESPONSES_API = "Responses API"
#: The Model Router, measured right after the native chat route (OURS) in the same run, same worker.
ROUTER = "archestra router (OpenAI front -> Anthropic)"
DIRECT_MESSAGES = "direct to upstream (Anthropic Messages)"
#: Issue 26: the router's own cost at most this much above the native route's.
ROUTER_LIMIT = 1.2
COMPACTION = "Responses compaction"
#: Bedrock InvokeModel with an Anthropic body (plain, and streamed with InvokeModelWithResponseStream).
INVOKE = "archestra Bedrock InvokeModel (Anthropic body)"
INVOKE_DIRECT = "direct to upstream (Bedrock InvokeModel)"
#: Issue 31: InvokeModel's CPU per request (and per stream) within 15% of the chat row's.
INVOKE_LIMIT = 1.15


@dataclass
class Report:
    machine: str
    date: str
    pinned: bool
    loads: dict[tuple[str, int], tuple[Load, float | None]] = field(default_factory=dict)
    streams: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    idles: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    leaks: list[tuple[str, int, int, int, float, int]] = field(default_factory=list)
    records: dict[str, tuple[int, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # The same measurements with the Responses API request, taken in the same run.
    responses_loads: dict[tuple[str, int], tuple[Load, float | None]] = field(default_factory=dict)
    responses_streams: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    compaction_loads: dict[tuple[str, int], tuple[Load, float | None]] = field(default_factory=dict)
    #: The server's CPU ms per chat stream, by (target, mode), where its worker is known.
    stream_cpu: dict[tuple[str, str], float] = field(default_factory=dict)

    def load(self, name: str, connections: int, load: Load, cpu_ms: float | None, api: str = "chat") -> None:
        tables = {"chat": self.loads, RESPONSES_API: self.responses_loads, COMPACTION: self.compaction_loads}
        tables[api][(name, connections)] = (load, cpu_ms)
        label = name if api == "chat" else f"{name} [{api}]"
        print(f"{label:24} c={connections:<3} {load.rps:9.1f} req/s  p50 {load.p50_ms:8.3f} ms  "
              f"p99 {load.p99_ms:8.3f} ms  errors {load.errors}", flush=True)

    def stream(self, name: str, mode: str, first_ms: float, last_ms: float, api: str = "chat",
               cpu_ms: float | None = None) -> None:
        (self.streams if api == "chat" else self.responses_streams)[(name, mode)] = (first_ms, last_ms)
        if api == "chat" and cpu_ms is not None:
            self.stream_cpu[(name, mode)] = cpu_ms
        label, end = (name, "[DONE]") if api == "chat" else (f"{name} [{api}]", "response.completed")
        cpu = f", CPU {cpu_ms:.3f} ms" if cpu_ms is not None else ""
        print(f"{label:24} {mode} stream: first event {first_ms:.3f} ms, {end} {last_ms:.3f} ms{cpu}", flush=True)

    def idle(self, name: str, count: int, before: float, after: float) -> None:
        self.idles[name] = (count, before, after)
        print(f"{name:24} {count} idle streams: RSS {before:.1f} -> {after:.1f} MiB", flush=True)

    def leak(self, name: str, round_: int, requests: int, errors: int, rss: float, fds: int) -> None:
        self.leaks.append((name, round_, requests, errors, rss, fds))
        print(f"{name:24} leak round {round_}: {requests} requests, {errors} errors, RSS {rss:.1f} MiB, "
              f"{fds} fds", flush=True)

    def recorded(self, name: str, sent: int, count: int) -> None:
        self.records[name] = (sent, count)
        print(f"{name:24} record check: {sent} requests answered, {count} interactions recorded"
              + ("" if sent == count else " MISMATCH"), flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)

    # -- rendering ---------------------------------------------------------------------------------------
    def markdown(self) -> str:
        lines = [f"# Benchmark results, {self.date}", "", f"Machine: {self.machine}.", "",
                 "Server under test pinned to core 1, wrk and the fake upstream to core 0." if self.pinned else
                 "No core pinning (taskset missing or one core).", ""]
        lines += self._load_table() + self._stream_table() + self._responses() + self._idle_table()
        lines += self._leak_table()
        lines += self._router() + self._ratios() + self._targets() + self._floor()
        notes = self.notes + [
            "The PostgreSQL server runs on the same two cores, unpinned: under load it competes with the proxy and "
            "the load generator, which shows in the PostgreSQL rows' tail latency.",
            "Figures vary by about 10% between runs on this virtual machine; ratios are steadier than absolutes."]
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
        return "\n".join(lines)

    def _load_table(self, loads: dict[tuple[str, int], tuple[Load, float | None]] | None = None,
                    title: str = "## Non-streamed chat completion with tools (wrk, one worker process)") -> list[str]:
        loads = self.loads if loads is None else loads
        rows = [title, "",
                "| target | conc. | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | CPU ms/req | errors |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for (name, connections), (load, cpu_ms) in loads.items():
            direct = loads.get((DIRECT, connections))
            added = (f"{load.p50_ms - direct[0].p50_ms:.3f} | {load.p99_ms - direct[0].p99_ms:.3f}"
                     if direct and name != DIRECT else "- | -")
            cpu = f"{cpu_ms:.3f}" if cpu_ms is not None else "-"
            rows.append(f"| {name} | {connections} | {load.rps:.0f} | {load.p50_ms:.3f} | {load.p99_ms:.3f} | "
                        f"{added} | {cpu} | {load.errors} |")
        return rows + [""]

    def _stream_table(self, streams: dict[tuple[str, str], tuple[float, float]] | None = None,
                      title: str = f"## Streaming, {CHUNKS} chunks (median of fresh connections)",
                      intro: str = "`fast`: chunks back to back; `paced`: 1 ms between chunks (as a model emits "
                                   "tokens).", end: str = "[DONE]") -> list[str]:
        streams = self.streams if streams is None else streams
        rows = [title, "", intro, "",
                f"| target | stream | first event ms | {end} ms | added first ms | added {end} ms "
                "| added per chunk µs |",
                "|---|---|---:|---:|---:|---:|---:|"]
        for (name, mode), (first, last) in streams.items():
            direct = streams.get((DIRECT, mode))
            if direct and name != DIRECT:
                added = (f"{first - direct[0]:.3f} | {last - direct[1]:.3f} | "
                         f"{(last - direct[1] - (first - direct[0])) * 1000 / CHUNKS:.1f}")
            else:
                added = "- | - | -"
            rows.append(f"| {name} | {mode} | {first:.3f} | {last:.3f} | {added} |")
        return rows + [""]

    def _responses(self) -> list[str]:
        """The Responses API rows and how they compare with chat completions' rows of the same run."""
        if not self.responses_loads and not self.responses_streams:
            return []
        rows = [f"## {RESPONSES_API}", "",
                "`POST /v1/openai/responses` (archestra), `/v1/responses` (direct, stack floor), measured in the same "
                "run as the chat rows above, right after them at each concurrency: the same conversation and "
                "function tool as a Responses request (instructions, input items); the fake upstream answers with "
                "a `function_call` item (a fresh `resp_` id each time, which archestra remembers for "
                "`previous_response_id` chains), or streamed, `response.created` ... one `response.output_text.delta` "
                f"per token ({CHUNKS}) ... `response.completed` (compact JSON, `event:` and `data:` lines, "
                "sequence numbers).", ""]
        rows += self._load_table(self.responses_loads, f"### Non-streamed {RESPONSES_API} request with tools "
                                                       "(wrk, one worker process)")
        rows += self._stream_table(
            self.responses_streams, f"### Streamed {RESPONSES_API}, {CHUNKS} text deltas (median of fresh "
                                    "connections)",
            "`fast`: events back to back; `paced`: 1 ms between deltas. The last event is `response.completed` "
            "(received whole); added per chunk is per delta.", "response.completed")
        return rows + self._compare() + self._compaction()

    def _compaction(self) -> list[str]:
        if not self.compaction_loads:
            return []
        return [f"### {COMPACTION}", "",
                "`POST /v1/openai/responses/compact` (archestra), `/v1/responses/compact` (direct): Codex's remote "
                "compaction of a short agent history (a user message, a function call and its output, an answer); "
                "the fake upstream answers with the user message and a compaction item whose encrypted content is "
                "new each time (archestra remembers each compaction it relays, with the trust of its context).",
                ""] + self._load_table(self.compaction_loads, "#### Non-streamed compaction (wrk, one worker process)")

    def _compare(self) -> list[str]:
        """Added cost, chat completions vs the Responses API, target by target (each against its own direct)."""
        rows = [f"### {RESPONSES_API} vs chat completions (added over direct, same run)", "",
                "| target | measure | chat completions | Responses API | Responses - chat |",
                "|---|---|---:|---:|---:|"]
        names = [name for name, _ in self.responses_loads if name != DIRECT]
        names += [name for name, _ in self.responses_streams if name != DIRECT and name not in names]

        def row(name: str, what: str, chat: float | None, responses: float | None, digits: int = 3) -> None:
            if chat is not None and responses is not None:
                rows.append(f"| {name} | {what} | {chat:.{digits}f} | {responses:.{digits}f} | "
                            f"{responses - chat:+.{digits}f} |")

        def added(loads: dict, name: str, connections: int, field: str) -> float | None:
            ours, direct = loads.get((name, connections)), loads.get((DIRECT, connections))
            return getattr(ours[0], field) - getattr(direct[0], field) if ours and direct else None

        def stream_added(streams: dict, name: str, mode: str, which: int) -> float | None:
            ours, direct = streams.get((name, mode)), streams.get((DIRECT, mode))
            return ours[which] - direct[which] if ours and direct else None

        for name in dict.fromkeys(names):
            for connections in (1, 10, 100):
                chat, responses = self.loads.get((name, connections)), self.responses_loads.get((name, connections))
                if chat and responses:
                    row(name, f"req/s at concurrency {connections}", chat[0].rps, responses[0].rps, 0)
            for connections in (1, 10):
                row(name, f"added p50 ms at concurrency {connections}", added(self.loads, name, connections, "p50_ms"),
                    added(self.responses_loads, name, connections, "p50_ms"))
            chat10, responses10 = self.loads.get((name, 10)), self.responses_loads.get((name, 10))
            if chat10 and responses10:
                row(name, "CPU ms/req at concurrency 10", chat10[1], responses10[1])
            for mode in ("fast", "paced"):
                row(name, f"{mode} stream: added first event ms", stream_added(self.streams, name, mode, 0),
                    stream_added(self.responses_streams, name, mode, 0))
                row(name, f"{mode} stream: added last event ms", stream_added(self.streams, name, mode, 1),
                    stream_added(self.responses_streams, name, mode, 1))
        return rows + ["", "The last event is `[DONE]` for chat completions, `response.completed` for the Responses "
                           "API. Differences of a few tenths of a millisecond, or about 10% in req/s, are within this "
                           "machine's run-to-run noise.", ""]

    def _router(self) -> list[str]:
        """The Model Router against the native chat route, figure by figure: the router's as a ratio of native's."""
        if not any(name == ROUTER for name, _ in self.loads):
            return []
        rows = ["## Model Router vs the native chat route (same run, same worker)", "",
                f"`{ROUTER}`: `POST /v1/model-router/chat/completions` (default profile, a virtual key as the API key) "
                "with the same chat body as the native rows, model `anthropic:claude-bench`: the router reads it as "
                "chat completions, writes it as Anthropic Messages to the fake upstream's `/v1/messages` (the key the "
                "proxy holds), and translates the `tool_use` answer (or the Anthropic SSE stream, 200 text deltas) "
                "back. Each router run follows the native route's run at the same concurrency. "
                f"`{DIRECT_MESSAGES}` is the fake's Anthropic side called directly (its stream's last event is "
                f"`message_stop`, not `[DONE]`): next to `{DIRECT}` it shows whether the fake's two formats cost the "
                f"same; both routes' added figures are over `{DIRECT}`. Ratio: router / native (issue 26: at most "
                f"{ROUTER_LIMIT:.2f}).", "",
                "| measure | native | router | router / native |", "|---|---:|---:|---:|"]

        def row(what: str, native: float | None, router: float | None, digits: int = 3) -> None:
            if native is not None and router is not None:
                ratio = f"{router / native:.2f}" if native > 0 else "-"
                rows.append(f"| {what} | {native:.{digits}f} | {router:.{digits}f} | {ratio} |")

        for connections in (1, 10, 100):
            native, router = self.loads.get((OURS, connections)), self.loads.get((ROUTER, connections))
            if not (native and router):
                continue
            row(f"CPU ms/req at concurrency {connections}", native[1], router[1])
            row(f"p50 ms at concurrency {connections}", native[0].p50_ms, router[0].p50_ms)
            row(f"added p50 ms at concurrency {connections}", self._added(OURS, connections, "p50_ms"),
                self._added(ROUTER, connections, "p50_ms"))
            row(f"p99 ms at concurrency {connections}", native[0].p99_ms, router[0].p99_ms)
            row(f"req/s at concurrency {connections}", native[0].rps, router[0].rps, 0)
        for mode in ("fast", "paced"):
            native, router, direct = (self.streams.get((name, mode)) for name in (OURS, ROUTER, DIRECT))
            row(f"{mode} stream: CPU ms per stream", self.stream_cpu.get((OURS, mode)),
                self.stream_cpu.get((ROUTER, mode)))
            if native and router:
                row(f"{mode} stream: first event ms", native[0], router[0])
                row(f"{mode} stream: [DONE] ms", native[1], router[1])
            if native and router and direct:
                row(f"{mode} stream: added first event ms", native[0] - direct[0], router[0] - direct[0])
                row(f"{mode} stream: added [DONE] ms", native[1] - direct[1], router[1] - direct[1])
        errors = sum(load.errors for (name, _), (load, _) in self.loads.items() if name == ROUTER)
        return rows + ["", f"Router errors over its load runs: {errors}. Latency ratios move more between runs than "
                           "the CPU per request or stream (the steadier measure of the router's own cost), and far "
                           "more when other processes load the machine (the load average is in the notes).", ""]

    def _idle_table(self) -> list[str]:
        rows = ["## Memory per open idle stream", "",
                "| target | streams | RSS before MiB | RSS with streams MiB | KiB per stream |",
                "|---|---:|---:|---:|---:|"]
        for name, (count, before, after) in self.idles.items():
            rows.append(f"| {name} | {count} | {before:.1f} | {after:.1f} | {(after - before) * 1024 / count:.1f} |")
        return rows + [""]

    def _leak_table(self) -> list[str]:
        if not self.leaks:
            return []
        rows = ["## Leak check (non-streamed requests at concurrency 10, in rounds)", "",
                "| target | round | requests | errors | worker RSS MiB | open fds |", "|---|---:|---:|---:|---:|---:|"]
        rows += [f"| {name} | {r} | {n} | {e} | {rss:.1f} | {fds} |" for name, r, n, e, rss, fds in self.leaks]
        if len(self.leaks) >= 3:
            growth = self.leaks[-1][4] - self.leaks[1][4]
            rows += ["", f"RSS growth from round 2 to the last: {growth:+.1f} MiB over "
                         f"{sum(n for _, _, n, _, _, _ in self.leaks[2:])} requests; "
                         f"descriptors {self.leaks[1][5]} -> {self.leaks[-1][5]}."]
        for name, (sent, count) in self.records.items():
            rows += [f"{name}: {sent} requests answered (sent one by one on 10 connections, each answer read whole), "
                     f"{count} interactions recorded for them: "
                     + ("every one, exactly." if sent == count else f"**MISMATCH ({count - sent:+d})**.")]
        return rows + [""]

    def _added(self, name: str, connections: int, field: str) -> float | None:
        ours, direct = self.loads.get((name, connections)), self.loads.get((DIRECT, connections))
        return getattr(ours[0], field) - getattr(direct[0], field) if ours and direct else None

    def _targets(self) -> list[str]:
        """Each target of the benchmark issue, met or not, with the figure that decides it."""
        rows = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]

        def row(target: str, value: float | None, text: str, met: bool) -> None:
            if value is not None:
                rows.append(f"| {target} | {text} | {'yes' if met else 'no'} |")

        p50 = self._added(OURS, 1, "p50_ms")
        row("added p50 at concurrency 1 under 1 ms", p50, f"{p50:.3f} ms" if p50 is not None else "", (p50 or 0) < 1)
        p99 = self._added(OURS, 100, "p99_ms")
        row("added p99 at concurrency 100 under 10 ms", p99, f"{p99:.1f} ms" if p99 is not None else "",
            (p99 or 0) < 10)
        ours10 = self.loads.get((OURS, 10))
        if ours10:
            row("2,000 requests/s per worker at concurrency 10", 1, f"{ours10[0].rps:.0f} req/s", ours10[0].rps >= 2000)
        stream, direct = self.streams.get((OURS, "paced")), self.streams.get((DIRECT, "paced"))
        if stream and direct:
            first = stream[0] - direct[0]
            per_chunk = ((stream[1] - direct[1]) - first) * 1000 / CHUNKS
            row("streaming: under 2 ms added to first byte", 1, f"{first:.3f} ms", first < 2)
            # Buffering would hold chunks back by at least their 1 ms spacing; this is an upper bound that also
            # carries the end-of-stream bookkeeping (response hooks, record) spread over every chunk.
            row("streaming: no measurable delay per chunk (paced 1 ms apart)", 1,
                f"at most {per_chunk:.1f} µs per chunk", per_chunk < 50)
        router10 = self.loads.get((ROUTER, 10))
        if ours10 and router10 and ours10[1] and router10[1] is not None:
            ratio = router10[1] / ours10[1]
            row(f"Model Router: CPU per request at most {ROUTER_LIMIT - 1:.0%} above the native route's (concurrency "
                "10)", 1, f"{ratio:.2f}x ({router10[1]:.3f} vs {ours10[1]:.3f} ms)", ratio <= ROUTER_LIMIT)
        native_stream, router_stream = self.stream_cpu.get((OURS, "fast")), self.stream_cpu.get((ROUTER, "fast"))
        if native_stream and router_stream is not None:
            ratio = router_stream / native_stream
            row(f"Model Router: CPU per stream at most {ROUTER_LIMIT - 1:.0%} above the native route's (fast, "
                f"{CHUNKS} chunks)", 1, f"{ratio:.2f}x ({router_stream:.3f} vs {native_stream:.3f} ms)",
                ratio <= ROUTER_LIMIT)
        router_p50 = self._added(ROUTER, 1, "p50_ms")
        if p50 and router_p50 is not None:
            row(f"Model Router: added p50 at most {ROUTER_LIMIT - 1:.0%} above the native route's (concurrency 1)", 1,
                f"{router_p50 / p50:.2f}x ({router_p50:.3f} vs {p50:.3f} ms)", router_p50 / p50 <= ROUTER_LIMIT)
        invoke10 = self.loads.get((INVOKE, 10))
        if ours10 and invoke10 and ours10[1] and invoke10[1] is not None:
            ratio = invoke10[1] / ours10[1]
            row(f"Bedrock InvokeModel: CPU per request within {INVOKE_LIMIT - 1:.0%} of the chat row's (concurrency "
                "10)", 31, f"{ratio:.2f}x ({invoke10[1]:.3f} vs {ours10[1]:.3f} ms)", ratio <= INVOKE_LIMIT)
        invoke_stream = self.stream_cpu.get((INVOKE, "fast"))
        if native_stream and invoke_stream is not None:
            ratio = invoke_stream / native_stream
            row(f"Bedrock InvokeModel streamed: CPU per stream within {INVOKE_LIMIT - 1:.0%} of the chat row's (fast, "
                f"{CHUNKS} chunks)", 31, f"{ratio:.2f}x ({invoke_stream:.3f} vs {native_stream:.3f} ms)",
                ratio <= INVOKE_LIMIT)
        peer10 = self.loads.get((PEER, 10))
        if ours10 and peer10:
            ratio = ours10[0].rps / peer10[0].rps
            row("3x LiteLLM's throughput per worker (concurrency 10)", 1, f"{ratio:.1f}x", ratio >= 3)
        peer_p50 = self._added(PEER, 1, "p50_ms")
        if p50 is not None and peer_p50:
            row("a third of LiteLLM's added latency (p50, concurrency 1)", 1, f"{p50 / peer_p50:.2f} of it",
                p50 / peer_p50 <= 1 / 3)
        return rows + [""]

    def _floor(self) -> list[str]:
        """What the stack alone costs, measured in the same run: the part of each target no code on it can beat."""
        floor1, floor10 = self.loads.get((FLOOR, 1)), self.loads.get((FLOOR, 10))
        ours1, ours10 = self.loads.get((OURS, 1)), self.loads.get((OURS, 10))
        floor_p50, floor_p99 = self._added(FLOOR, 1, "p50_ms"), self._added(FLOOR, 100, "p99_ms")
        if not (floor1 and floor10 and ours1 and ours10) or floor_p50 is None or floor_p99 is None:
            return []
        text = (f"The stack itself (gunicorn gevent worker, Flask, requests forwarding the same request and doing "
                f"nothing else) serves {floor10[0].rps:.0f} req/s per worker at concurrency 10 on this machine, at "
                f"{floor10[1]:.3f} ms CPU per request, and adds {floor_p50:.3f} ms p50 at concurrency 1 and "
                f"{floor_p99:.1f} ms p99 at concurrency 100")
        floor_stream, ours_stream, direct = (self.streams.get((name, "paced")) for name in (FLOOR, OURS, DIRECT))
        if floor_stream and direct:
            text += f" and {floor_stream[0] - direct[0]:.3f} ms to a paced stream's first event"
        beyond = [what for what, out in (("p99 at concurrency 100 under 10 ms", floor_p99 >= 10),
                                         ("2,000 req/s per worker", floor10[0].rps < 2000),
                                         ("p50 at concurrency 1 under 1 ms", floor_p50 >= 1))
                  if out]
        text += (f". Out of reach for any code on this stack here: {'; '.join(beyond)}." if beyond else
                 ". No throughput or latency target is beyond the stack alone on this machine.")
        text += (" At concurrency 100 the added latency is queueing: 100 requests in flight on one worker wait "
                 "about 100 / (requests per second) each.")
        own_cpu = (ours10[1] - floor10[1]) if ours10[1] is not None and floor10[1] is not None else None
        text += (f" archestra's own work (security hooks, parsing, recording every interaction) adds "
                 f"{ours1[0].p50_ms - floor1[0].p50_ms:.3f} ms p50 at concurrency 1"
                 + (f" and {own_cpu:.3f} ms CPU per request" if own_cpu is not None else "")
                 + f": it serves {ours10[0].rps / floor10[0].rps:.0%} of the stack's requests per second.")
        if floor_stream and ours_stream:
            text += (f" On a paced stream it adds {ours_stream[0] - floor_stream[0]:.3f} ms to the first event over "
                     "the stack (differences of a few tenths of a millisecond are within this machine's run-to-run "
                     "noise).")
        return [text, ""]

    def _ratios(self) -> list[str]:
        rows = ["## Ratios", ""]
        for connections in (1, 10, 100):
            ours, peer, direct = (self.loads.get((n, connections)) for n in (OURS, PEER, DIRECT))
            if ours and direct:
                rows.append(f"- concurrency {connections}: archestra serves {ours[0].rps / direct[0].rps:.0%} of the "
                            f"upstream's direct request rate")
            if ours and peer and direct:
                ours_added = ours[0].p50_ms - direct[0].p50_ms
                peer_added = peer[0].p50_ms - direct[0].p50_ms
                rows.append(f"- concurrency {connections}: archestra {ours[0].rps / peer[0].rps:.1f}x LiteLLM's "
                            f"throughput; added p50 {ours_added:.3f} ms vs {peer_added:.3f} ms "
                            f"({ours_added / peer_added:.2f} of LiteLLM's)")
        return rows + [""]
