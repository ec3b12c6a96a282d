"""A fast fake OpenAI upstream for benchmarks: a bare asyncio HTTP/1.1 server with canned answers.

It must cost far less than the proxy, or the benchmark would measure it instead. Keep-alive, Content-Length
bodies only (what requests and wrk send). ``"stream": true`` in the body gets a 200-chunk SSE stream.
``POST /v1/responses`` speaks the Responses API (``tests/fakes/responses_wire.py``, compact JSON like the live
API): a ``function_call`` answer, or streamed, ``response.created`` ... 200 ``response.output_text.delta`` events
... ``response.completed`` with dense ``sequence_number``s. Every Responses answer has its own ``resp_`` id
(the proxy remembers each response it relays, as it would with a real upstream). ``POST /v1/messages`` speaks
Anthropic Messages (``tests/fakes/anthropic_wire.py``, compact JSON): the same ``get_weather`` call as a
``tool_use`` block, or streamed, ``message_start`` ... 200 ``text_delta`` events ... ``message_stop`` (the Model
Router's Anthropic upstream). ``POST /model/{id}/invoke`` is Bedrock InvokeModel with that Anthropic answer, and
``/invoke-with-response-stream`` that stream in Bedrock's event-stream frames (``tests/fakes/invoke_wire.py``; the
mode is the model id's ending there, ``.../claude-bench-v1:0-paced/...``). Run it from the repository root: it
builds the Responses, Anthropic and Bedrock bytes once, at start, with the tests' wire builders.
The model name's ending picks how a stream goes (proxies forward it as it is, whatever the API): ``-paced``
(``gpt-4o-paced``, ``claude-bench-paced``) spaces the chunks by ``--chunk-delay-ms``; ``-idle`` sends the first
chunk and then holds the stream open until the client goes.

    python -m bench.fake_upstream --port 9101 [--chunks 200] [--chunk-delay-ms 1]
"""
import argparse
import asyncio
import itertools
import json

from tests.fakes import anthropic_wire, invoke_wire
from tests.fakes import responses_wire as wire

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


# -- the Responses API ------------------------------------------------------------------------------------
RESPONSE_ID = b"resp_%048x"  # a fresh id per answer, the same length every time (Content-Length stays right)
ID_SLOT = (RESPONSE_ID % 0).decode()
TOOL = {"type": "function", "name": "get_weather", "description": "Get the weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": False}
RESPONSES_USED = wire.usage(input_tokens=44, output_tokens=16, reasoning=0)
RESPONSES_ANSWER = wire.compact(wire.response(
    [wire.function_call("get_weather", {"city": "Paris"}, call_id="call_bench1",
                        item_id="fc_68a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d")],
    used=RESPONSES_USED, model="gpt-4o-2024-08-06", response_id=ID_SLOT, tools=[TOOL])).encode()
#: ``POST /v1/responses/compact``: the user message, then a compaction item (its id and encrypted content are fresh
#: each time, as real ones are: archestra remembers each compaction it relays, and each response by its id).
COMPACT_ANSWER = wire.compact({**wire.compacted(
    [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What is the weather in Paris?"}]},
     wire.compaction(f"gAAAAAB{ID_SLOT}==")], used=wire.usage(input_tokens=120, output_tokens=40, reasoning=0)),
    "id": ID_SLOT}).encode()


def responses_stream_parts(chunks):
    """(head events, one per delta after the first, tail events) of a streamed text answer, each event its own
    HTTP chunk; the head and tail hold the id slot."""
    text = "".join(f"token{index} " for index in range(chunks))
    item = wire.message(text, item_id="msg_68a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d")
    fields = {"model": "gpt-4o-2024-08-06", "response_id": ID_SLOT, "tools": [TOOL]}
    events = wire.stream_events([item], size=1, **fields)  # the deltas are rebuilt below: one token each
    head = [e for e in events if e["type"] != "response.output_text.delta"][:4]
    tail = [e for e in events if e["type"] != "response.output_text.delta"][4:]
    where = {"item_id": item["id"], "output_index": 0, "content_index": 0}
    deltas = [{"type": "response.output_text.delta", "sequence_number": 4 + index, **where,
               "delta": f"token{index} ", "logprobs": [], "obfuscation": "x7Rk"} for index in range(chunks)]
    for number, event in enumerate(tail, start=4 + chunks):
        event["sequence_number"] = number
    tail[-1]["response"]["usage"] = wire.usage(input_tokens=44, output_tokens=chunks, reasoning=0)

    def encode(events):
        return b"".join(chunked(wire.event(e)) for e in events)

    return encode(head + deltas[:1]), [encode([d]) for d in deltas[1:]], encode(tail) + b"0\r\n\r\n"


# -- Anthropic Messages ------------------------------------------------------------------------------------
CLAUDE = "claude-bench"
MESSAGES_ANSWER = json.dumps({
    **anthropic_wire.message([anthropic_wire.tool_use("get_weather", {"city": "Paris"}, "toolu_01Bench")],
                             stop_reason="tool_use", usage=(44, 16)),
    "model": CLAUDE}, separators=(",", ":")).encode()
#: Bedrock InvokeModel (``POST /model/{id}/invoke``) answers with the Anthropic Messages body itself.
INVOKE_REPLY = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % len(MESSAGES_ANSWER) + MESSAGES_ANSWER)
INVOKE_STREAM_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
                      b"X-Amzn-Bedrock-Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
MESSAGES_REPLY = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  % len(MESSAGES_ANSWER) + MESSAGES_ANSWER)


def messages_stream_parts(chunks):
    """(head events, one per text delta after the first, tail events) of a streamed Anthropic text answer, each
    event its own HTTP chunk; every delta a distinct token, as in the chat stream."""
    head, deltas, tail = messages_stream_events(chunks)
    return (b"".join(map(chunked, head + deltas[:1])), [chunked(d) for d in deltas[1:]],
            b"".join(map(chunked, tail)) + b"0\r\n\r\n")


def invoke_stream_parts(chunks):
    """The same stream as Bedrock's InvokeModelWithResponseStream sends it: each event's data in an event-stream
    ``chunk`` frame (no ping; the invocation metrics in the last), each frame its own HTTP chunk."""
    head, deltas, tail = (invoke_wire.from_sse(events) for events in messages_stream_events(chunks))
    return (b"".join(map(chunked, head + deltas[:1])), [chunked(d) for d in deltas[1:]],
            b"".join(map(chunked, tail)) + b"0\r\n\r\n")


def messages_stream_events(chunks):
    """The Anthropic SSE events of a streamed text answer: (head, one per text delta, tail)."""
    event = anthropic_wire.event
    start = {**anthropic_wire.message([], stop_reason=None, usage=(44, 1)), "model": CLAUDE}
    head = [event("message_start", {"type": "message_start", "message": start}),
            event("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": anthropic_wire.text("")}),
            event("ping", '{"type": "ping"}')]  # as the live API sends it, with its space
    deltas = [event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": f"token{index} "}})
              for index in range(chunks)]
    tail = [event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                        "stop_sequence": None},
                                    "usage": {"output_tokens": chunks}}),
            event("message_stop", {"type": "message_stop"})]
    return head, deltas, tail


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
            return
        if head.startswith(b"post /v1/responses/compact "):
            answer = COMPACT_ANSWER.replace(self.options.id_slot, self.options.new_id())
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                                 % len(answer) + answer)
            return
        if head.startswith(b"post /model/"):  # Bedrock InvokeModel; the mode is the model id's ending
            request_line = head.split(b"\r\n", 1)[0]
            if b"/invoke-with-response-stream " in request_line:
                self.streaming = True
                mode = b"idle" if b"-idle/" in request_line else b"paced" if b"-paced/" in request_line else b""
                asyncio.ensure_future(self.stream(mode, self.options.invoke_stream, INVOKE_STREAM_HEAD))
            else:
                self.transport.write(INVOKE_REPLY)
            return
        responses = head.startswith(b"post /v1/responses ")
        messages = head.startswith(b"post /v1/messages ")
        if b'"stream":true' in body.replace(b" ", b""):
            self.streaming = True
            mode = b"idle" if b'-idle"' in body else b"paced" if b'-paced"' in body else b""
            if responses:
                asyncio.ensure_future(self.stream_responses(mode))
            else:
                asyncio.ensure_future(self.stream(mode, self.options.messages_stream if messages else None))
        elif messages:
            self.transport.write(MESSAGES_REPLY)
        elif responses:
            answer = self.options.responses_answer.replace(self.options.id_slot, self.options.new_id())
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                                 % len(answer) + answer)
        else:
            self.transport.write(JSON_HEAD + ANSWER)

    async def stream_responses(self, mode):
        head, deltas, tail = self.options.responses_stream
        response_id = self.options.new_id()
        self.transport.write(STREAM_HEAD + head.replace(self.options.id_slot, response_id))
        if mode == b"idle":
            return
        for delta in deltas:
            if mode == b"paced":
                await asyncio.sleep(self.options.chunk_delay_ms / 1000)
            if self.transport.is_closing():
                return
            self.transport.write(delta)
        self.transport.write(tail.replace(self.options.id_slot, response_id))
        self.streaming = False

    async def stream(self, mode, parts=None, http_head=STREAM_HEAD):
        """A chat completions stream, or with ``parts`` (head, deltas, tail), that stream."""
        head, deltas, tail = parts or self.options.chat_stream
        self.transport.write(http_head + head)
        if mode == b"idle":
            return  # held open until the client goes
        for delta in deltas:
            if mode == b"paced":
                await asyncio.sleep(self.options.chunk_delay_ms / 1000)
            if self.transport.is_closing():
                return
            self.transport.write(delta)
        self.transport.write(tail)
        self.streaming = False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--chunk-delay-ms", type=float, default=1)
    options = parser.parse_args(argv)
    tokens = [chunked(token_event(index)) for index in range(options.chunks)]
    options.chat_stream = tokens[0], tokens[1:], chunked(END) + b"0\r\n\r\n"
    options.messages_stream = messages_stream_parts(options.chunks)
    options.invoke_stream = invoke_stream_parts(options.chunks)
    options.id_slot = ID_SLOT.encode()
    options.responses_answer = RESPONSES_ANSWER
    options.responses_stream = responses_stream_parts(options.chunks)
    counter = itertools.count(1)
    # Scattered like real ids (the proxy's database indexes them), yet unique and cheap.
    options.new_id = lambda: RESPONSE_ID % (next(counter) * 0x9E3779B97F4A7C15F39CC0605CEDC834 % (1 << 192))

    async def serve():
        server = await asyncio.get_running_loop().create_server(
            lambda: Upstream(options), options.host, options.port, backlog=2048)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
