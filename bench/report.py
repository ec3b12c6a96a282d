"""The results of one benchmark run, side by side, as Markdown."""
from __future__ import annotations

from dataclasses import dataclass, field

from .measure import Load

DIRECT = "direct to upstream"
OURS = "archestra (SQLite)"
PEER = "LiteLLM proxy"
CHUNKS = 200


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

    def load(self, name: str, connections: int, load: Load, cpu_ms: float | None) -> None:
        self.loads[(name, connections)] = (load, cpu_ms)
        print(f"{name:24} c={connections:<3} {load.rps:9.1f} req/s  p50 {load.p50_ms:8.3f} ms  "
              f"p99 {load.p99_ms:8.3f} ms  errors {load.errors}", flush=True)

    def stream(self, name: str, mode: str, first_ms: float, last_ms: float) -> None:
        self.streams[(name, mode)] = (first_ms, last_ms)
        print(f"{name:24} {mode} stream: first event {first_ms:.3f} ms, [DONE] {last_ms:.3f} ms", flush=True)

    def idle(self, name: str, count: int, before: float, after: float) -> None:
        self.idles[name] = (count, before, after)
        print(f"{name:24} {count} idle streams: RSS {before:.1f} -> {after:.1f} MiB", flush=True)

    def leak(self, name: str, round_: int, requests: int, errors: int, rss: float, fds: int) -> None:
        self.leaks.append((name, round_, requests, errors, rss, fds))
        print(f"{name:24} leak round {round_}: {requests} requests, {errors} errors, RSS {rss:.1f} MiB, "
              f"{fds} fds", flush=True)

    def recorded(self, name: str, sent: int, count: int) -> None:
        self.records[name] = (sent, count)
        print(f"{name:24} leak rounds: {sent} requests answered, {count} interactions recorded", flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)

    # -- rendering ---------------------------------------------------------------------------------------
    def markdown(self) -> str:
        lines = [f"# Benchmark results, {self.date}", "", f"Machine: {self.machine}.", "",
                 "Server under test pinned to core 1, wrk and the fake upstream to core 0." if self.pinned else
                 "No core pinning (taskset missing or one core).", ""]
        lines += self._load_table() + self._stream_table() + self._idle_table() + self._leak_table()
        lines += self._ratios()
        if self.notes:
            lines += ["## Notes", ""] + [f"- {note}" for note in self.notes] + [""]
        return "\n".join(lines)

    def _load_table(self) -> list[str]:
        rows = ["## Non-streamed chat completion with tools (wrk, one worker process)", "",
                "| target | conc. | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | CPU ms/req | errors |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for (name, connections), (load, cpu_ms) in self.loads.items():
            direct = self.loads.get((DIRECT, connections))
            added = (f"{load.p50_ms - direct[0].p50_ms:.3f} | {load.p99_ms - direct[0].p99_ms:.3f}"
                     if direct and name != DIRECT else "- | -")
            cpu = f"{cpu_ms:.3f}" if cpu_ms is not None else "-"
            rows.append(f"| {name} | {connections} | {load.rps:.0f} | {load.p50_ms:.3f} | {load.p99_ms:.3f} | "
                        f"{added} | {cpu} | {load.errors} |")
        return rows + [""]

    def _stream_table(self) -> list[str]:
        rows = [f"## Streaming, {CHUNKS} chunks (median of fresh connections)", "",
                "`fast`: chunks back to back; `paced`: 1 ms between chunks (as a model emits tokens).", "",
                "| target | stream | first event ms | [DONE] ms | added first ms | added [DONE] ms "
                "| added per chunk µs |",
                "|---|---|---:|---:|---:|---:|---:|"]
        for (name, mode), (first, last) in self.streams.items():
            direct = self.streams.get((DIRECT, mode))
            if direct and name != DIRECT:
                added = (f"{first - direct[0]:.3f} | {last - direct[1]:.3f} | "
                         f"{(last - direct[1] - (first - direct[0])) * 1000 / CHUNKS:.1f}")
            else:
                added = "- | - | -"
            rows.append(f"| {name} | {mode} | {first:.3f} | {last:.3f} | {added} |")
        return rows + [""]

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
            rows += [f"{name}: {sent} requests answered in the leak rounds, {count} interactions recorded for them "
                     "(wrk drops up to 10 requests in flight at the end of each round; the proxy records those too)."]
        return rows + [""]

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
