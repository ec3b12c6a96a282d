"""The measurements: wrk runs, stream timings, idle streams, process CPU, memory and descriptors."""
from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
def sdk_json(body: dict) -> str:
    """A request body as the official SDKs send it: compact, UTF-8 (httpx's ``encode_json``, JSON.stringify)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


BODY = {
    "model": "gpt-4o",
    "messages": [{"role": "system", "content": "You are a helpful assistant."},
                 {"role": "user", "content": "What is the weather in Paris?"}],
    "tools": [{"type": "function", "function": {
        "name": "get_weather", "description": "Get the weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
}
#: The same conversation and tool as a Responses API request (as the openai-agents SDK sends it).
RESPONSES_BODY = {
    "model": "gpt-4o",
    "instructions": "You are a helpful assistant.",
    "input": [{"role": "user", "content": "What is the weather in Paris?"}],
    "tools": [{"type": "function", "name": "get_weather", "description": "Get the weather for a city",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
               "strict": False}],
}
#: A Codex-style compaction pass over a short agent history (``POST /responses/compact``).
COMPACT_BODY = {
    "model": "gpt-4o",
    "instructions": "Summarize the conversation so far for a continuation.",
    "input": [{"role": "user", "content": "What is the weather in Paris?"},
              {"type": "function_call", "call_id": "call_bench1", "name": "get_weather",
               "arguments": "{\"city\":\"Paris\"}"},
              {"type": "function_call_output", "call_id": "call_bench1", "output": "Sunny, 21 C"},
              {"role": "assistant", "content": "It is sunny and 21 C in Paris."}],
}
#: The same chat request to the Model Router, for an Anthropic model (``provider:model``): the router reads it as
#: chat completions and asks the upstream in Anthropic Messages.
ROUTER_BODY = {**BODY, "model": "anthropic:claude-bench"}
#: The same conversation and tool as an Anthropic Messages request (straight to the fake upstream's Anthropic side).
MESSAGES_BODY = {
    "model": "claude-bench", "max_tokens": 1024, "system": "You are a helpful assistant.",
    "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
    "tools": [{"name": "get_weather", "description": "Get the weather for a city",
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
}
#: The same conversation and tool as a Bedrock InvokeModel body (Anthropic Messages on Bedrock: the model is in the
#: path, the version in the body).
INVOKE_BODY = {k: v for k, v in MESSAGES_BODY.items() if k != "model"} | {"anthropic_version": "bedrock-2023-05-31"}
INVOKE_MODEL = "anthropic.claude-bench-v1:0"
#: What ends a stream, by API: chat completions' ``data: [DONE]``, the Responses API's terminal event.
DONE = b"[DONE]"
RESPONSE_COMPLETED = b"event: response.completed\n"
MESSAGE_STOP = b"event: message_stop\n"
#: Bedrock's event stream (binary frames, base64 events): read to the end of the HTTP body.
EVENTSTREAM_END = b"application/vnd.amazon.eventstream"
KEY = "sk-bench-not-a-real-key"
CLK_TCK = os.sysconf("SC_CLK_TCK")
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def wrk(url: str, connections: int, seconds: int, cpu: str | None = None, body: dict | None = None,
        key: str | None = None) -> Load:
    """One wrk run against ``url`` (wrk only knows durations: a thread that stops early still waits them out);
    ``key`` is sent as the bearer token (else ``BENCH_KEY``, else a fake provider key: see post.lua)."""
    env = {**os.environ, "BENCH_BODY": sdk_json(body or BODY), **({"BENCH_KEY": key} if key else {})}
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s",
               "-s", str(HERE / "post.lua"), url]
    done = subprocess.run(pinned(command, cpu), env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    out = done.stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Load(rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
                p50_ms=_ms(percentiles["50"]), p99_ms=_ms(percentiles["99"]),
                requests=int(re.search(r"(\d+) requests in", out).group(1)), errors=errors)


def pinned(command: list[str], cpu: str | None) -> list[str]:
    """``command`` run on the given cores (taskset), or as it is when there is nothing to pin to."""
    return ["taskset", "-c", cpu, *command] if cpu else command


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(number) * UNITS[unit]


# -- streams ------------------------------------------------------------------------------------------
def _stream_request(host: str, port: int, path: str, mode: str = "", body: dict | None = None,
                    key: str | None = None) -> bytes:
    """A streamed request (chat unless ``body`` says otherwise); the fake upstream reads the mode from the model
    name's ending (``gpt-4o-idle``, ``anthropic:claude-bench-paced``)."""
    body = body or BODY
    if path.endswith("/invoke"):  # Bedrock InvokeModel: streamed on its own path, the model (the mode) in the path
        path = path.replace("/invoke", f"-{mode}/invoke" if mode else "/invoke") + "-with-response-stream"
        body = sdk_json(body).encode()
    else:
        body = sdk_json({**body, "stream": True, "model": f"{body['model']}-{mode}" if mode else body["model"]}
                          ).encode()
    key = key or os.environ.get("BENCH_KEY", KEY)
    return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def stream_times(host: str, port: int, path: str, runs: int, mode: str = "", body: dict | None = None,
                 end: bytes = DONE, key: str | None = None) -> tuple[float, float]:
    """Median time to the first SSE event and to the last one, in ms, over ``runs`` fresh streams.

    The last event is ``end``: ``[DONE]`` (chat completions), or for the Responses API and Anthropic Messages the
    terminal event (``RESPONSE_COMPLETED``, ``MESSAGE_STOP``), complete: its blank line received, HTTP chunk
    framing taken off.
    """
    first, last = [], []
    request = _stream_request(host, port, path, mode, body, key)
    for _ in range(runs):
        with socket.create_connection((host, port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = time.perf_counter()
            sock.sendall(request)
            got_first = _read_to(sock, port, end)
            done = time.perf_counter()
        first.append((got_first - started) * 1000)
        last.append((done - started) * 1000)
    return statistics.median(first), statistics.median(last)


def _read_to(sock: socket.socket, port: int, end: bytes) -> float:
    """Read a stream until ``end``; the time its first event started arriving."""
    seen, got_first = b"", None
    if end == DONE:
        while DONE not in seen[-64:]:
            data = sock.recv(65536)
            if not data:
                raise RuntimeError(f"stream from {port} ended before [DONE]: {seen[-300:]!r}")
            if got_first is None and b"data: " in seen[-8:] + data:
                got_first = time.perf_counter()
            seen = seen[-64:] + data
        return got_first
    body = _Dechunked()
    if end == EVENTSTREAM_END:  # the first frame's headers are plain text; the stream ends with the HTTP body
        while body.left is not None:
            data = sock.recv(65536)
            if not data:
                raise RuntimeError(f"event stream from {port} ended before its last chunk: {seen[-300:]!r}")
            if got_first is None and b":event-type" in seen[-16:] + data:
                got_first = time.perf_counter()
            seen = seen[-16:] + data
            body.feed(data)
            body.text = b""
        return got_first
    while True:
        data = sock.recv(65536)
        if not data:
            raise RuntimeError(f"stream from {port} ended before {end!r}: {body.text[-300:]!r}")
        if got_first is None and b"data: " in seen[-8:] + data:
            got_first = time.perf_counter()
        seen = seen[-8:] + data
        body.feed(data)
        at = body.text.find(end)
        if at >= 0 and body.text.find(b"\n\n", at) >= 0:
            return got_first
        if at < 0:
            body.text = body.text[-len(end):]  # only the terminal event is kept whole


class _Dechunked:
    """The body of a ``Transfer-Encoding: chunked`` HTTP response, as it arrives (the head is skipped)."""

    def __init__(self) -> None:
        self.raw, self.text, self.in_head = b"", b"", True
        self.left: int | None = 0  # bytes left in the chunk being read; -2, -1: its CRLF; None: the body ended

    def feed(self, data: bytes) -> None:
        if self.left is None:  # past the last chunk
            return
        raw = self.raw + data
        at = 0
        if self.in_head:
            head_end = raw.find(b"\r\n\r\n")
            if head_end < 0:
                self.raw = raw
                return
            at, self.in_head = head_end + 4, False
        pieces = [self.text]
        while at < len(raw):
            if self.left > 0:  # inside a chunk
                take = raw[at:at + self.left]
                pieces.append(take)
                at, self.left = at + len(take), self.left - len(take)
                if not self.left:
                    self.left = -2  # then its CRLF
                continue
            if self.left < 0:
                skip = min(-self.left, len(raw) - at)
                at, self.left = at + skip, self.left + skip
                continue
            line_end = raw.find(b"\r\n", at)
            if line_end < 0:
                break
            self.left = int(raw[at:line_end].split(b";")[0], 16)
            at = line_end + 2
            if self.left == 0:  # the last chunk
                at, self.left = len(raw), None
        self.raw, self.text = raw[at:], b"".join(pieces)


def open_idle_streams(host: str, port: int, path: str, count: int, timeout: float = 10) -> list[socket.socket]:
    """Up to ``count`` streams that received their first event and are now idle (the upstream holds them).

    Stops early when a stream gets no first event within ``timeout`` seconds (a server that cannot hold more).
    """
    request = _stream_request(host, port, path, "idle")
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.sendall(request)
        seen = b""
        try:
            while b"data: " not in seen:
                data = sock.recv(65536)
                if not data:
                    raise RuntimeError(f"idle stream {len(sockets)} was closed: {seen[-300:]!r}")
                seen += data
        except socket.timeout:
            sock.close()
            break
        sockets.append(sock)
    return sockets


def counted_requests(host: str, port: int, path: str, total: int, connections: int = 10, body: dict | None = None,
                     key: str | None = None) -> tuple[int, int]:
    """Exactly ``total`` requests over ``connections`` keep-alive connections, each answer read whole: (answered
    with 200, other answers). Unlike wrk, nothing is left in flight at the end, so the count is exact."""
    import http.client
    import threading

    data = sdk_json(body or BODY).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key or os.environ.get('BENCH_KEY', KEY)}"}
    counts = [0, 0]
    lock = threading.Lock()

    def send(count: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        for _ in range(count):
            connection.request("POST", path, data, headers)
            answer = connection.getresponse()
            answer.read()
            with lock:
                counts[0 if answer.status == 200 else 1] += 1
        connection.close()

    threads = [threading.Thread(target=send, args=(total // connections + (index < total % connections),))
               for index in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts[0], counts[1]


# -- processes -----------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of ``pid`` (the gevent worker's event loop is the thread whose id is the pid;
    the others are native threads: the recorder's writer, pollers)."""
    seconds = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        seconds[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return seconds


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def wait_http(host: str, port: int, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=2) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing answered 200 on {host}:{port}{path} within {timeout}s")


def wait_port(host: str, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")
