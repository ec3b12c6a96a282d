"""A fast fake OpenAI upstream for benchmarks: a bare asyncio HTTP/1.1 server with canned answers.

It must cost far less than the proxy, or the benchmark would measure it instead. Keep-alive, Content-Length
bodies only (what requests and wrk send). ``"stream": true`` in the body gets a 200-chunk SSE stream.
The model name picks how a stream goes (proxies forward it as it is): ``gpt-4o-paced`` spaces the chunks by
``--chunk-delay-ms``; ``gpt-4o-idle`` sends the first chunk and then holds the stream open until the client
goes.

    python -m bench.fake_upstream --port 9101 [--chunks 200] [--chunk-delay-ms 1]
"""
import argparse
import asyncio
import json

ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        "finish_reason": "tool_calls"}],
    "usage": {"prompt_tokens": 44, "completion_tokens": 16, "total_tokens": 60}}).encode()
JSON_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(ANSWER))
STREAM_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
# Every chunk carries a different token (LiteLLM cuts off a stream that repeats one chunk too often).
def token_event(index):
    return (b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,'
            b'"delta":{"content":"token%d "},"finish_reason":null}]}\n\n' % index)
END = (b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,'
       b'"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":44,"completion_tokens":200,'
       b'"total_tokens":244}}\n\ndata: [DONE]\n\n')
MODELS = json.dumps({"object": "list", "data": [{"id": "gpt-4o", "object": "model", "owned_by": "bench"}]}).encode()
MODELS_REPLY = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(MODELS)
                + MODELS)


def chunked(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


class Upstream(asyncio.Protocol):
    def __init__(self, options):
        self.options = options
        self.buffer = b""
        self.transport = None
        self.streaming = False

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        while not self.streaming:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            length = 0
            for line in head.split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line[15:])
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4:head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length:]
            self.respond(head, body)

    def respond(self, head, body):
        if head.startswith(b"get ") and b"/models" in head[:200]:
            self.transport.write(MODELS_REPLY)
        elif b'"stream":true' in body.replace(b" ", b""):
            self.streaming = True
            mode = b"idle" if b"gpt-4o-idle" in body else b"paced" if b"gpt-4o-paced" in body else b""
            asyncio.ensure_future(self.stream(mode))
        else:
            self.transport.write(JSON_HEAD + ANSWER)

    async def stream(self, mode):
        tokens = self.options.tokens
        self.transport.write(STREAM_HEAD + tokens[0])
        if mode == b"idle":
            return  # held open until the client goes
        for index in range(1, len(tokens)):
            if mode == b"paced":
                await asyncio.sleep(self.options.chunk_delay_ms / 1000)
            if self.transport.is_closing():
                return
            self.transport.write(tokens[index])
        self.transport.write(chunked(END) + b"0\r\n\r\n")
        self.streaming = False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--chunk-delay-ms", type=float, default=1)
    options = parser.parse_args(argv)
    options.tokens = [chunked(token_event(index)) for index in range(options.chunks)]

    async def serve():
        server = await asyncio.get_running_loop().create_server(
            lambda: Upstream(options), options.host, options.port, backlog=2048)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
