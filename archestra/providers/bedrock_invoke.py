"""Bedrock InvokeModel and InvokeModelWithResponseStream: the body is the model's own format.

The route's family is chosen by the body (``for_body``):

* Anthropic Messages (``anthropic_version``): fully inspected by the Anthropic family (anthropic_platforms.py);
* Amazon Nova (``messages`` of content lists, ``schemaVersion: messages-v1``): Converse-shaped requests and
  answers, tools included, inspected by the Converse family; its stream is Converse events in chunk frames;
* text completions (``prompt``: Meta Llama, Mistral, DeepSeek, legacy Claude): text with usage. Their bodies
  cannot declare tools (refused when they try); a body field the table does not hold is unseen context, and an
  answer field it does not hold (structured tool calls, Cohere's ``generations``...) is refused (502, or the
  stream cut).

Any other body (Cohere, Titan, AI21...) is refused with a 400: it is never forwarded uninspected. Each body
kind that is not the Anthropic family's has its table in ``TABLES``.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..exchange import ClientInfo, Exchange, Message, ProfileInfo, Response, Usage
from ..proxy_error import ProxyError
from ..routing import Route
from ..streaming.eventstream import EventMessage
from ..streaming.sse import SSEEvent
from ..strict_json import loads_strict
from .anthropic_platforms import ANTHROPIC_ON_BEDROCK
from .bedrock_content import TABLE as CONVERSE
from .bedrock_converse import CONVERSE as CONVERSE_FAMILY
from .bedrock_converse import BedrockFamily, Converse
from .bedrock_stream import BedrockStreamRelay
from .family import Family
from .invoke_stream import EVENTS, METRICS, ChunkEnvelope
from .relay import StreamRelay
from .shapes import FamilyTable, Reading, refused_reason, unseen_reason
from .wire import compact_json

_I, _O = Reading.INERT, Reading.OPAQUE
#: Amazon Nova's body and answer are Converse's shapes (read by the Converse family); its stream is Converse's
#: events, each one the only key of a chunk's JSON (the invocation metrics aside).
NOVA_TABLE = FamilyTable("Bedrock InvokeModel: Amazon Nova",
                         {**CONVERSE.request, "request field:schemaVersion": Reading.OPAQUE}, CONVERSE.answer,
                         {**EVENTS, **CONVERSE.events}, unknown_event=Reading.SKIPPED,
                         notes={**CONVERSE.notes, "event:chunk": "each chunk's JSON names one Converse event; "
                                                                 "a name the table does not hold cuts the stream"})
PROMPT_FAMILY = "Bedrock InvokeModel text completion"
PROMPT_TABLE = FamilyTable(
    PROMPT_FAMILY,
    request={"body:prompt": _I, "body:images": _I, **{f"body:{key}": _O for key in (
        "max_gen_len", "max_tokens", "max_tokens_to_sample", "temperature", "top_p", "top_k", "stop",
        "stop_sequences")}},
    answer={"answer:generation": _I, "answer:completion": _I, "answer:outputs": _I, "answer:choices": _I,
            "output:text": _I, **{f"{where}:{key}": _O for where in ("answer", "output") for key in (
                "stop_reason", "finish_reason", "stop", "index", "logprobs")},
            **{f"answer:{key}": _O for key in ("prompt_token_count", "generation_token_count", METRICS)}},
    events=EVENTS, unknown_event=Reading.SKIPPED,
    notes={"body:images": "Llama's inline base64 images", "answer:outputs": "Mistral: items of `output` fields",
           "answer:choices": "DeepSeek: items of `output` fields"})
TABLES = [NOVA_TABLE, PROMPT_TABLE]

SUPPORTED = ("Anthropic Messages (anthropic_version), Amazon Nova (messages-v1), text completions with a prompt "
             "(Meta Llama, Mistral, DeepSeek)")


class NovaInvoke(Converse):
    """Amazon Nova's InvokeModel body and answer are Converse-shaped: the Converse family reads them."""

    table = NOVA_TABLE

    def stream_relay(self, exchange: Exchange, decide: Any) -> StreamRelay:  # type: ignore[override]
        def converse_event(raw: bytes, data: dict[str, Any], text: str) -> EventMessage:
            kinds = [key for key in data if key != METRICS]
            if len(kinds) > 1:  # a client checking for each event name would act on several
                raise ValueError("a Nova stream event names one event type")
            if not kinds:  # the invocation metrics alone: no event (the relay passes it in its place)
                return EventMessage({":message-type": "event"}, b"", raw)
            if kinds[0] not in CONVERSE.types("events", "event"):
                # the application reads the chunk's JSON itself, not botocore: a name the table does not
                # hold (chat completions' ``choices``...) is not one it would skip
                raise ValueError(f"a Nova stream chunk of a kind the proxy does not read ({kinds[0]!r})")
            return EventMessage({":event-type": kinds[0], ":message-type": "event"},
                                compact_json(data[kinds[0]]).encode(), raw)
        return ChunkEnvelope(exchange, BedrockStreamRelay(exchange, decide), converse_event, writes_frames=True)


class PromptRelay(StreamRelay):
    """Text completion chunks (``generation`` / ``outputs[].text``): passed as they come, read for the view."""

    def feed(self, event: SSEEvent) -> Iterable[bytes]:
        if event.event == "error":  # an exception frame: the client raises, the stream ends
            return [event.raw]
        answer = prompt_answer(event.data or "{}")
        self.text.append(answer.text or "")
        self.response.finish_reason = answer.finish_reason or self.response.finish_reason
        return [event.raw]

    def error_bytes(self, message: str) -> bytes:
        raise NotImplementedError  # the envelope writes the error frame


def prompt_answer(data: Any) -> Response:
    """A text completion: Llama ``generation``, Mistral ``outputs[].text``, DeepSeek ``choices[].text``, legacy
    Claude ``completion``. Structured tool calls in it are never passed undecided (ValueError)."""
    if isinstance(data, str):
        data = loads_strict(data)
    if not isinstance(data, dict):
        raise ValueError("a text completion that is not a JSON object")
    if any(key in data and not isinstance(data[key], list) for key in ("outputs", "choices")) or any(
            data.get(key) is not None and not isinstance(data[key], str) for key in ("generation", "completion")):
        raise ValueError("a text completion whose text fields are not text")
    outputs = [o for key in ("outputs", "choices") if isinstance(data.get(key), list) for o in data[key]]
    for where, part in [("answer", data), *(("output", o) for o in outputs)]:
        for key in part if isinstance(part, dict) else [type(part).__name__]:
            if PROMPT_TABLE.in_answer(where, key) is Reading.REFUSED:  # tool calls, messages, unknown fields
                raise ValueError(refused_reason(PROMPT_FAMILY, f"{where} field", key))
    text = data.get("generation", data.get("completion")) if not outputs else "".join(
        str(o.get("text", "")) for o in outputs)
    stop = data.get("stop_reason") or next((o.get("stop_reason") for o in outputs), None)
    return Response(text=str(text or ""), finish_reason=stop,
                    usage=Usage(data.get("prompt_token_count"), data.get("generation_token_count")))


class PromptInvoke(BedrockFamily):
    """Meta Llama and Mistral text completions: the prompt is the request's one readable message."""

    def validate_request(self, body: Any) -> None:
        if not isinstance(body.get("prompt"), str):
            raise ProxyError(400, "prompt: must be a string.")
        declared = [key for key in ("tools", "tool_choice", "toolConfig") if key in body]
        if declared:  # tools in a text completion body would be calls the proxy cannot see
            raise ProxyError(400, f"{declared[0]}: tools cannot be used with a text completion body through this "
                                  "proxy; use Converse or the model's messages format.", code="uninspectable_body")

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        prompt = body["prompt"]
        unseen = [f"{key}: {unseen_reason(PROMPT_FAMILY, 'body field', key)}" for key in body
                  if PROMPT_TABLE.in_request("body", key) is Reading.UNSEEN]
        return Exchange(self.provider, profile, route.model or "", stream=bool(route.stream), client=client,
                        messages=[Message("user", prompt, _ref="prompt", _original=prompt)], unseen_context=unseen)

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        body["prompt"] = "\n\n".join(m.text for m in exchange.messages if m.text)

    def parse_response(self, data: Any, exchange: Exchange) -> Response:
        answer = prompt_answer(data)
        answer.model = exchange.model
        return answer

    def tool_call_groups(self, data: Any) -> list[tuple[Any, ...]]:
        return []  # a text completion has no structured tool calls

    def refuse_response(self, data: dict[str, Any], key: Any, text: str) -> None:
        raise NotImplementedError

    def stream_relay(self, exchange: Exchange, decide: Any) -> StreamRelay:
        return ChunkEnvelope(exchange, PromptRelay(exchange), lambda raw, data, text: SSEEvent(raw, None, text),
                             lambda message: SSEEvent(message.raw, "error", None))


NOVA, PROMPT = NovaInvoke(), PromptInvoke()


class BedrockInvoke(BedrockFamily):
    """The InvokeModel routes' family: the one the body's format names (``for_body``). Errors and proxy-made
    questions (the dual LLM, asked through Converse) are Bedrock's own."""

    json_without_content_type = True  # boto3's invoke_model may be called without contentType

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        return CONVERSE_FAMILY.completion_request(model, system, prompt, route)

    def for_body(self, body: Any) -> Family:
        if isinstance(body, dict):
            if "anthropic_version" in body:
                return ANTHROPIC_ON_BEDROCK
            messages = body.get("messages")
            if isinstance(messages, list) and (body.get("schemaVersion") == "messages-v1" or messages and all(
                    isinstance(m, dict) and isinstance(m.get("content"), list)
                    and not any(isinstance(b, dict) and "type" in b for b in m["content"]) for m in messages)):
                return NOVA  # Converse's blocks have no ``type`` (OpenAI-style chat bodies do: not Nova's)
            if "prompt" in body and "messages" not in body:
                return PROMPT
        raise ProxyError(400, f"The proxy cannot inspect this InvokeModel body, so it does not forward it. "
                              f"Supported model formats: {SUPPORTED}; other models can be used through Converse.",
                         code="uninspectable_body")

    def validate_request(self, body: Any) -> None:
        self.for_body(body).validate_request(body)


INVOKE = BedrockInvoke()
