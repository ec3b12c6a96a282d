"""The Gemini generateContent upstream codec (issue 26), differentially where it can be:

* what ``write_request`` writes equals what google-genai itself sends for the same conversation (captured by a fake
  upstream), passes the SDK's request types, and is read back by the proxy's own Gemini adapter;
* what ``read_answer`` / the stream reader make of an answer agrees with what google-genai makes of it;
* a Gemini 3 ``thoughtSignature`` survives the trip through a client of another family (answer -> neutral ->
  the next request), and every answer it cannot translate is refused by name.
"""
from __future__ import annotations

import base64
import json
from dataclasses import replace

import httpx
import pytest
from google import genai
from google.genai import _api_client, models, types
from hypothesis import given
from hypothesis import strategies as st

from archestra.families.gemini_generate import DROPPED_FIELDS, GEMINI
from archestra.families.gemini_generate_ids import call_id, gemini_call
from archestra.families.neutral import (ChatAnswer, ChatRequest, Image, Message, Reasoning, ReasoningDelta,
                                        StreamEnd, StreamError, StreamStart, Text, TextDelta, ToolCallDelta,
                                        ToolCallPart, ToolCallStart, ToolResultPart, ToolSpec, Untranslatable,
                                        Usage)
from archestra.providers.gemini import PATH, Gemini, _unseen_context
from archestra.providers.gemini_format import camel, function_calls
from tests.fakes import gemini_wire as wire
from tests.fakes.server import FakeUpstream, json_reply

#: A Gemini 3 signature with every character base64url changes ('+', '/', padding).
SIGNATURE = base64.b64encode(b"\xfb\xef\xbe\xff\x00signed-thought\xfe").decode()
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
PNG = base64.b64encode(b"\x89PNG\r\n").decode()


def decoded(signature: str) -> bytes:
    """The bytes Google reads from a ``bytes`` field (standard or URL-safe base64, padded or not)."""
    return base64.urlsafe_b64decode(signature.replace("+", "-").replace("/", "_") + "=" * (-len(signature) % 4))


@pytest.fixture(scope="module")
def fake():
    server = FakeUpstream()
    yield server
    server.close()


def sdk_request(fake: FakeUpstream, vertex: bool, contents: list[types.Content],
                config: types.GenerateContentConfig) -> dict:
    """The body google-genai sends (AI Studio v1beta, or Vertex AI) for ``contents`` and ``config``."""
    fake.reply_with(json_reply(wire.chunk([{"text": "ok"}], "STOP")))
    options = types.HttpOptions(base_url=fake.url, api_version="v1beta1" if vertex else "v1beta")
    client = genai.Client(vertexai=vertex, api_key="k", http_options=options)
    client.models.generate_content(model=wire.MODEL, contents=contents, config=config)
    assert fake.received[-1].path.startswith("/v1beta1/publishers/google/models/" if vertex else "/v1beta/models/")
    return fake.received[-1].json


def answer_from_sdk(response: types.GenerateContentResponse) -> dict:
    return response.model_dump(mode="json", by_alias=True, exclude_none=True)


def conversation() -> ChatRequest:
    """A user question with an image, a Gemini 3 call with its id and signature, its result, a follow-up."""
    call_id = GEMINI.read_answer(wire.response([wire.candidate(
        [{"functionCall": {"id": "7fq2", "name": "get_weather", "args": {"city": "Paris"}},
          "thoughtSignature": SIGNATURE}],
        "STOP")])).parts[0].id
    return ChatRequest(
        model=wire.MODEL, system=[Text("be brief")],
        messages=[Message("user", [Text("weather in Paris?"), Image("image/png", PNG)]),
                  Message("assistant", [ToolCallPart(call_id, "get_weather", '{"city": "Paris"}')]),
                  Message("user", [ToolResultPart(call_id, [Text("21C"), Image("image/png", PNG)]),
                                   Text("and tomorrow?")])],
        tools=[ToolSpec("get_weather", "the weather", SCHEMA)], tool_choice="get_weather", max_tokens=100,
        temperature=0.2, top_p=0.9, stop=["END"],
        response_format={"type": "json_schema", "name": "w", "schema": SCHEMA, "strict": True})


# -- write_request --------------------------------------------------------------------------------------
@pytest.mark.parametrize("vertex", [False, True], ids=["AI Studio", "Vertex AI"])
def test_request_is_what_google_genai_sends_for_the_same_conversation(fake, vertex):
    written = GEMINI.write_request(conversation())
    sent = sdk_request(fake, vertex, [
        types.Content(role="user", parts=[types.Part(text="weather in Paris?"),
                                          types.Part(inline_data=types.Blob(mime_type="image/png",
                                                                            data=base64.b64decode(PNG)))]),
        types.Content(role="model", parts=[types.Part(
            function_call=types.FunctionCall(id="7fq2", name="get_weather", args={"city": "Paris"}),
            thought_signature=base64.b64decode(SIGNATURE))]),
        types.Content(role="user", parts=[
            types.Part(function_response=types.FunctionResponse(
                id="7fq2", name="get_weather", response={"output": "21C"},
                parts=[types.FunctionResponsePart(inline_data=types.FunctionResponseBlob(
                    mime_type="image/png", data=base64.b64decode(PNG)))])),
            types.Part(text="and tomorrow?")])],
        types.GenerateContentConfig(
            system_instruction="be brief",
            tools=[types.Tool(function_declarations=[types.FunctionDeclaration(
                name="get_weather", description="the weather", parameters_json_schema=SCHEMA)])],
            tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(
                mode="ANY", allowed_function_names=["get_weather"])),
            max_output_tokens=100, temperature=0.2, top_p=0.9, stop_sequences=["END"],
            response_mime_type="application/json", response_json_schema=SCHEMA))
    sent = camel(sent)  # google-genai writes some fields snake_case (parameters_json_schema, mime_type)
    sent["systemInstruction"].pop("role")  # the SDK adds role "user"; Gemini reads the instruction without one
    signature_sent = sent["contents"][1]["parts"][0].pop("thoughtSignature")
    signature_written = written["contents"][1]["parts"][0].pop("thoughtSignature")
    assert decoded(signature_written) == decoded(signature_sent) == base64.b64decode(SIGNATURE)
    assert written == sent


def test_request_passes_the_sdk_request_types():
    body = GEMINI.write_request(conversation())
    assert set(body) == {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}
    for content in [*body["contents"], body["systemInstruction"]]:
        # JSON mode: thoughtSignature must be base64 to become the SDK's bytes; unknown fields are refused
        types.Content.model_validate_json(json.dumps(content))
    types.Tool.model_validate_json(json.dumps(body["tools"][0]))
    types.ToolConfig.model_validate_json(json.dumps(body["toolConfig"]))
    config = types.GenerationConfig.model_validate_json(json.dumps(body["generationConfig"]))
    assert config.response_json_schema == SCHEMA and config.max_output_tokens == 100


def test_the_proxy_gemini_adapter_reads_the_request_whole():
    """What the router sends is what the proxy's own Gemini adapter would judge: nothing unseen, the call and its
    result tied to the same function."""
    body = GEMINI.write_request(conversation())
    Gemini().validate_request(body)
    assert _unseen_context(body) == []
    calls = function_calls(body["contents"][1]["parts"])
    assert [(call.name, call.arguments) for call in calls] == [("get_weather", {"city": "Paris"})]
    response = body["contents"][2]["parts"][0]["functionResponse"]
    assert (response["id"], response["name"], response["response"]) == ("7fq2", "get_weather", {"output": "21C"})


def test_tool_results_errors_images_and_names_from_the_result():
    request = ChatRequest(model="m", messages=[Message("user", [
        ToolResultPart("toolu_1", [Text("no such file")], is_error=True, name="read_file"),
        ToolResultPart("toolu_2", [Text("a"), Image("image/png", PNG), Text("b")], name="screenshot")])])
    parts = GEMINI.write_request(request)["contents"][0]["parts"]
    assert parts[0] == {"functionResponse": {"name": "read_file", "response": {"error": "no such file"}}}
    assert parts[1] == {"functionResponse": {"name": "screenshot", "response": {"output": "a\nb"},
                                             "parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}]}}
    types.Content.model_validate_json(json.dumps({"role": "user", "parts": parts}))


@pytest.mark.parametrize(("choice", "config"), [
    ("auto", {"mode": "AUTO"}), ("none", {"mode": "NONE"}), ("required", {"mode": "ANY"}), (None, None)])
def test_tool_choice(choice, config):
    body = GEMINI.write_request(ChatRequest("m", [Message("user", [Text("hi")])], tools=[ToolSpec("f")],
                                            tool_choice=choice))
    assert body.get("toolConfig") == ({"functionCallingConfig": config} if config else None)
    assert body["tools"] == [{"functionDeclarations": [{"name": "f"}]}]


def test_json_object_and_dropped_fields():
    request = ChatRequest("m", [Message("user", [Text("hi")])], response_format={"type": "json_object"},
                          parallel_tool_calls=False)
    assert GEMINI.write_request(request) == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                                             "generationConfig": {"responseMimeType": "application/json"}}
    assert "parallel_tool_calls" in DROPPED_FIELDS


def test_reasoning_goes_back_only_when_gemini_signed_it():
    answer = GEMINI.read_answer(wire.response([wire.candidate([
        {"text": "Let me think", "thought": True, "thoughtSignature": SIGNATURE},
        {"text": "Sunny.", "thoughtSignature": "c2lnMg=="}], "STOP")]))
    assert answer.parts == [Reasoning("Let me think", "gemini:" + SIGNATURE), Text("Sunny."),
                            Reasoning("", "gemini:c2lnMg==")]
    foreign = [Reasoning("claude thinks", "EqQBCkYIBxgCKkB"), Reasoning("no signature")]
    body = GEMINI.write_request(ChatRequest("m", [Message("user", [Text("hi")]),
                                                  Message("assistant", foreign + answer.parts),
                                                  Message("assistant", foreign)]))
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"text": "Let me think", "thought": True, "thoughtSignature": SIGNATURE},
                                    {"text": "Sunny.", "thoughtSignature": "c2lnMg=="}]}]


def test_a_lone_signature_before_the_text_goes_on_that_text():
    """Fronts that put reasoning first (Responses, chat completions) give the signature before the text."""
    body = GEMINI.write_request(ChatRequest("m", [Message("assistant", [Reasoning("", "gemini:c2ln"),
                                                                        Text("Sunny.")])]))
    assert body["contents"][0]["parts"] == [{"text": "Sunny.", "thoughtSignature": "c2ln"}]


@pytest.mark.parametrize(("message", "field"), [
    (Message("user", [Image(url="https://example.com/cat.png")]), "image"),
    (Message("user", [Image(data=PNG)]), "image"),
    (Message("assistant", [ToolCallPart("c1", "f", "{not json")]), "tool_call.arguments"),
    (Message("assistant", [ToolCallPart("c1", "f", "[1, 2]")]), "tool_call.arguments"),
    (Message("user", [ToolResultPart("unknown", [Text("x")])]), "tool_result"),
    (Message("assistant", [Image("image/png", PNG)]), "assistant message"),
    (Message("user", [ToolCallPart("c1", "f", "{}")]), "user message"),
    (Message("assistant", [ToolCallPart("c1_gts_not*base64", "f", "{}")]), "tool_call.id"),
], ids=["image url", "image without type", "bad json", "not an object", "unknown result", "assistant image",
        "call in user turn", "bad signature"])
def test_untranslatable_requests(message, field):
    with pytest.raises(Untranslatable) as raised:
        GEMINI.write_request(ChatRequest("m", [message]))
    assert raised.value.field == field


def test_untranslatable_request_settings():
    with pytest.raises(Untranslatable, match="tool_choice"):
        GEMINI.write_request(ChatRequest("m", [], tools=[ToolSpec("f")], tool_choice="g"))
    with pytest.raises(Untranslatable, match="response_format"):
        GEMINI.write_request(ChatRequest("m", [], response_format={"type": "grammar"}))


# -- path ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_path_is_a_chat_route_of_the_gemini_provider(stream):
    path, query = GEMINI.path("gemini-3-pro-preview", stream)
    route = Gemini().route("POST", path, {})
    assert route is not None and route.kind == "chat" and route.stream is stream
    assert route.model == "gemini-3-pro-preview" and PATH.fullmatch(path)["version"] == "v1beta"
    assert query == ("alt=sse" if stream else "")
    assert GEMINI.path("models/gemini-2.5-flash", False)[0] == "v1beta/models/gemini-2.5-flash:generateContent"
    with pytest.raises(Untranslatable):
        GEMINI.path("tunedModels/x", stream)


# -- read_answer -----------------------------------------------------------------------------------------
def test_answer_with_text_and_usage():
    answer = GEMINI.read_answer(wire.chunk([{"text": "Hello "}, {"text": "world"}], "STOP", usage=(10, 4)))
    assert answer == ChatAnswer("IZI2acSKMoWl0-kPmYj2yQc", wire.MODEL, [Text("Hello "), Text("world")], "stop",
                                Usage(10, 4))


def test_answer_with_calls_agrees_with_google_genai():
    body = wire.chunk([{"text": "Checking."}, wire.function_call("get_weather", {"city": "Paris"}),
                       {"functionCall": {"id": "fc-7", "name": "get_time", "args": {}}}], "STOP")
    answer = GEMINI.read_answer(body)
    sdk = types.GenerateContentResponse._from_response(response=models._GenerateContentResponse_from_mldev(body),
                                                       kwargs={})
    calls = [part for part in answer.parts if isinstance(part, ToolCallPart)]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [(c.name, c.args) for c in sdk.function_calls]
    assert "".join(p.text for p in answer.parts if isinstance(p, Text)) == sdk.text
    assert answer.finish_reason == "tool_calls"
    assert calls[1].id == "gfc-fc-7" and calls[0].id.startswith("call_") and "_gts_" in calls[0].id


def test_answer_built_by_google_genai_types():
    response = types.GenerateContentResponse(
        response_id="r1", model_version="gemini-3-pro-preview",
        candidates=[types.Candidate(finish_reason=types.FinishReason.MAX_TOKENS, index=0, content=types.Content(
            role="model", parts=[types.Part(text="plan", thought=True, thought_signature=b"\x01\xfe\xff"),
                                 types.Part(text="Answer"),
                                 types.Part(function_call=types.FunctionCall(id="abc", name="f", args={"x": [1]}),
                                            thought_signature=b"\xfa\xfb\xfc")]))],
        usage_metadata=types.GenerateContentResponseUsageMetadata(
            prompt_token_count=30, candidates_token_count=7, thoughts_token_count=20, cached_content_token_count=12,
            total_token_count=57))
    answer = GEMINI.read_answer(answer_from_sdk(response))
    assert (answer.id, answer.model, answer.finish_reason) == ("r1", "gemini-3-pro-preview", "length")
    assert answer.usage == Usage(input_tokens=30, output_tokens=27, cache_read_tokens=12)
    reasoning, text, call = answer.parts
    assert decoded(reasoning.signature.removeprefix("gemini:")) == b"\x01\xfe\xff" and reasoning.text == "plan"
    assert text == Text("Answer")
    assert (call.name, json.loads(call.arguments)) == ("f", {"x": [1]}) and call.id.startswith("gfc-abc_gts_")


def test_a_blocked_prompt_is_a_content_filter_answer():
    body = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 8},
            "modelVersion": wire.MODEL, "responseId": "r"}
    assert GEMINI.read_answer(body) == ChatAnswer("r", wire.MODEL, [], "content_filter", Usage(8))


@pytest.mark.parametrize(("finish", "expected"), [
    ("SAFETY", "content_filter"), ("RECITATION", "content_filter"), ("SPII", "content_filter"),
    ("BLOCKLIST", "content_filter"), ("MALFORMED_FUNCTION_CALL", "error"), ("OTHER", "error")])
def test_finish_reasons(finish, expected):
    assert GEMINI.read_answer(wire.response([wire.candidate([], finish)])).finish_reason == expected


def test_thought_signature_survives_a_client_of_another_family():
    """Answer -> neutral (as a chat completions client keeps it: the id only) -> the next request."""
    answer = GEMINI.read_answer(wire.chunk([wire.function_call("get_weather", {"city": "Tokyo"}),
                                            {**wire.function_call("get_time", {}), "thoughtSignature": SIGNATURE}],
                                           "STOP"))
    calls = [ToolCallPart(part.id, part.name, part.arguments) for part in answer.parts]
    assert all(set(call.id) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
               for call in calls)  # what Anthropic's tool_use.id allows
    body = GEMINI.write_request(ChatRequest("m", [
        Message("user", [Text("weather?")]), Message("assistant", calls),
        Message("user", [ToolResultPart(calls[1].id, [Text("noon")]), ToolResultPart(calls[0].id, [Text("9C")])])]))
    model_parts = body["contents"][1]["parts"]
    assert [part["thoughtSignature"] for part in model_parts] == ["CikBcsjaU2ln", SIGNATURE]
    assert [part["functionResponse"]["name"] for part in body["contents"][2]["parts"]] == ["get_time", "get_weather"]


def test_gemini_call_ids_go_back_and_others_do_not():
    """Gemini 3 wants its call ids back on the call and its result; ids it did not make go back without one."""
    answer = GEMINI.read_answer(wire.chunk([{"functionCall": {"id": "a_b/\u00e9", "name": "f", "args": {}}},
                                            {"functionCall": {"id": "q1", "name": "g", "args": {}}}], "STOP"))
    odd, plain = answer.parts
    assert odd.id.startswith("gfx-") and plain.id == "gfc-q1"
    foreign = ToolCallPart("toolu_01A", "h", "{}")
    body = GEMINI.write_request(ChatRequest("m", [
        Message("assistant", [odd, plain, foreign]),
        Message("user", [ToolResultPart(plain.id, [Text("1")]), ToolResultPart(odd.id, [Text("2")]),
                         ToolResultPart(foreign.id, [Text("3")])])]))
    assert [part["functionCall"].get("id") for part in body["contents"][0]["parts"]] == ["a_b/\u00e9", "q1", None]
    assert [(part["functionResponse"]["name"], part["functionResponse"].get("id"))
            for part in body["contents"][1]["parts"]] == [("g", "q1"), ("f", "a_b/\u00e9"), ("h", None)]


def test_two_calls_with_one_gemini_id_are_untranslatable():
    with pytest.raises(Untranslatable, match="functionCall.id"):
        GEMINI.read_answer(wire.chunk([{"functionCall": {"id": "x", "name": "f"}},
                                       {"functionCall": {"id": "x", "name": "g"}}], "STOP"))


@given(gemini_id=st.one_of(st.none(), st.text(min_size=1)), signature=st.one_of(st.none(), st.binary(min_size=1)),
       url_safe=st.booleans())
def test_any_gemini_id_and_signature_survive_the_client_id(gemini_id, signature, url_safe):
    encode = base64.urlsafe_b64encode if url_safe else base64.b64encode
    sent = None if signature is None else encode(signature).decode()
    client_id = call_id(gemini_id, sent, set())
    assert client_id and set(client_id) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    back_id, back_signature = gemini_call(client_id)
    assert back_id == gemini_id
    assert (None if back_signature is None else base64.b64decode(back_signature, validate=True)) == signature


@pytest.mark.parametrize(("body", "field"), [
    (wire.chunk(wire.code_execution("print(1)", "1"), "STOP"), "part.executableCode"),
    (wire.chunk([{"inlineData": {"mimeType": "image/png", "data": PNG}}], "STOP"), "part.inlineData"),
    (wire.chunk([{"fileData": {"fileUri": "gs://b/f"}}], "STOP"), "part.fileData"),
    (wire.chunk([wire.server_tool_call("URL_CONTEXT", {"url": "x"})], "STOP"), "part.toolCall"),
    (wire.chunk([{"text": "x", "futurePart": 1}], "STOP"), "part.futurePart"),
    (wire.chunk([{"functionCall": {"name": "f", "partialArgs": [], "willContinue": True}}], "STOP"),
     "functionCall.partialArgs"),
    (wire.response([wire.candidate([{"text": "x"}], "STOP", groundingMetadata=wire.grounding())]),
     "candidates[0].groundingMetadata"),
    (wire.response([wire.candidate([{"text": "x"}], "STOP", urlContextMetadata=wire.url_context())]),
     "candidates[0].urlContextMetadata"),
    (wire.response([wire.candidate([{"text": "a"}], "STOP"), wire.candidate([{"text": "b"}], "STOP", 1)]),
     "candidates"),
    (wire.response([wire.candidate([{"text": "x"}], "CONTINUATION")]), "finishReason"),
    (wire.response([wire.candidate([{"text": "x"}])]), "finishReason"),
    ({"usageMetadata": {"promptTokenCount": 1}}, "candidates"),
    ({**wire.chunk([{"text": "x"}], "STOP"), "futureField": 1}, "response.futureField"),
    (wire.chunk([{"text": "x", "thoughtSignature": "not base64!"}], "STOP"), "thoughtSignature"),
], ids=["code execution", "inline data", "file data", "server tool", "unknown part field", "partial args",
        "grounding", "url context", "two candidates", "unknown finish", "no finish", "nothing", "unknown field",
        "bad signature"])
def test_untranslatable_answers(body, field):
    with pytest.raises(Untranslatable) as raised:
        GEMINI.read_answer(body)
    assert raised.value.field == field


def test_empty_grounding_metadata_is_no_tool_result():
    body = wire.response([wire.candidate([{"text": "x"}], "STOP", groundingMetadata={})])
    assert GEMINI.read_answer(body).parts == [Text("x")]


# -- stream_reader ---------------------------------------------------------------------------------------
def read_stream(pieces: list[bytes]) -> list:
    reader = GEMINI.stream_reader()
    assert reader.framing == "sse"
    events = [event for piece in pieces for event in reader.feed(piece)]
    return events + reader.finish()


def sse_body(chunks: list[dict]) -> bytes:
    return b"".join(wire.sse(chunks))


CALL_STREAM = [wire.chunk([{"text": "Let me "}], usage=(52, 2)), wire.chunk([{"text": "check \u00e9\u4e16"}],
                                                                          usage=(52, 4)),
               wire.chunk([wire.function_call("get_weather", {"city": "Tokyo"})], "STOP", usage=(52, 9))]


def test_stream_of_text_and_a_call():
    events = read_stream(wire.sse(CALL_STREAM))
    start, first, second, call_start, call_delta, end = events
    assert start == StreamStart("IZI2acSKMoWl0-kPmYj2yQc", wire.MODEL)
    assert [first, second] == [TextDelta("Let me "), TextDelta("check \u00e9\u4e16")]
    assert isinstance(call_start, ToolCallStart) and (call_start.index, call_start.name) == (0, "get_weather")
    assert call_delta == ToolCallDelta(0, '{"city": "Tokyo"}')
    assert end == StreamEnd("tool_calls", Usage(52, 9))


def test_stream_split_anywhere_gives_the_same_events():
    body = sse_body(CALL_STREAM)
    whole = comparable(read_stream([body]))
    for cut in range(1, len(body)):
        assert comparable(read_stream([body[:cut], body[cut:]])) == whole, cut
    assert comparable(read_stream([body[i:i + 1] for i in range(len(body))])) == whole


def comparable(events: list) -> list:
    """The events with generated call ids (new on every read) cut to the signature they carry."""
    return [replace(e, id=e.id.partition("_gts_")[2]) if isinstance(e, ToolCallStart) and e.id.startswith("call_")
            else e for e in events]


def test_stream_agrees_with_google_genai():
    body = sse_body(CALL_STREAM)
    response = httpx.Response(200, content=iter([body]))
    sdk = [types.GenerateContentResponse._from_response(response=models._GenerateContentResponse_from_mldev(c),
                                                        kwargs={})
           for c in _api_client.HttpResponse({}, response).segments()]
    events = read_stream([body])
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "".join(r.text or "" for r in sdk)
    calls = [(e.name, json.loads(d.arguments)) for e, d in zip(events, events[1:]) if isinstance(e, ToolCallStart)]
    assert calls == [(c.name, c.args) for r in sdk for c in r.function_calls or ()]


def assembled(events: list) -> list:
    """Stream events put together as an answer's parts (text and reasoning runs joined)."""
    parts: list = []
    for event in events:
        if isinstance(event, TextDelta):
            if parts and isinstance(parts[-1], Text):
                parts[-1] = Text(parts[-1].text + event.text)
            else:
                parts.append(Text(event.text))
        elif isinstance(event, ReasoningDelta):
            parts.append(Reasoning(event.text, event.signature))
        elif isinstance(event, ToolCallStart):
            parts.append(ToolCallPart(event.id.partition("_gts_")[2], event.name, ""))
        elif isinstance(event, ToolCallDelta):
            parts[-1].arguments += event.arguments
    return parts


def test_stream_of_sdk_built_chunks_matches_the_whole_answer():
    """The same content streamed (chunks google-genai's types built) or whole gives the same parts, finish
    and usage."""
    def response(parts, finish=None, output=0):
        return types.GenerateContentResponse(
            response_id="r9", model_version="gemini-3-flash",
            candidates=[types.Candidate(content=types.Content(role="model", parts=parts), finish_reason=finish)],
            usage_metadata=types.GenerateContentResponseUsageMetadata(prompt_token_count=11,
                                                                      candidates_token_count=output))
    thought = types.Part(text="first, the city", thought=True, thought_signature=b"\x0f\xf0")
    call = types.Part(function_call=types.FunctionCall(id="k1", name="get_weather", args={"city": "Oslo"}),
                      thought_signature=b"\xff\xfe\xfd")
    chunks = [response([thought], output=2), response([types.Part(text="Look"), types.Part(text="ing.")], output=4),
              response([call], types.FinishReason.STOP, output=9)]
    events = read_stream(wire.sse([answer_from_sdk(c) for c in chunks]))
    whole = GEMINI.read_answer(answer_from_sdk(response([thought, types.Part(text="Looking."), call],
                                                        types.FinishReason.STOP, output=9)))
    assert events[0] == StreamStart("r9", "gemini-3-flash")
    assert assembled(events) == [ToolCallPart(p.id.partition("_gts_")[2], p.name, p.arguments)
                                 if isinstance(p, ToolCallPart) else p for p in whole.parts]
    assert events[-1] == StreamEnd(whole.finish_reason, whole.usage) == StreamEnd("tool_calls", Usage(11, 9))
    assert [e.id for e in events if isinstance(e, ToolCallStart)] == [whole.parts[-1].id]  # Gemini's id: stable


def test_stream_usage_after_the_finish():
    """Vertex AI may give usage only on a chunk after the one that finishes: the end waits for it (or for the
    end of the body)."""
    last = wire.chunk([{"text": "."}], "STOP")
    del last["usageMetadata"]
    usage_only = {"usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3, "thoughtsTokenCount": 2},
                  "modelVersion": wire.MODEL, "responseId": "r"}
    reader = GEMINI.stream_reader()
    assert reader.feed(sse_body([last])) == [StreamStart("IZI2acSKMoWl0-kPmYj2yQc", wire.MODEL), TextDelta(".")]
    assert reader.feed(sse_body([usage_only])) == [StreamEnd("stop", Usage(5, 5))]
    assert reader.feed(sse_body([usage_only])) == [] and reader.finish() == []
    assert read_stream(wire.sse([last]))[-1] == StreamEnd("stop", Usage())


def test_stream_reasoning_and_signed_text():
    chunks = [wire.chunk([{"text": "hmm", "thought": True}]),
              wire.chunk([{"text": "Yes."}, {"text": "", "thoughtSignature": SIGNATURE}], "STOP")]
    events = read_stream(wire.sse(chunks))
    assert events[1:] == [ReasoningDelta("hmm"), TextDelta("Yes."), ReasoningDelta("", "gemini:" + SIGNATURE),
                          StreamEnd("stop", Usage(52, 5))]


def test_a_last_event_without_its_blank_line_is_read_at_the_end():
    body = sse_body([wire.chunk([{"text": "done"}], "STOP")]).rstrip(b"\r\n")
    reader = GEMINI.stream_reader()
    assert reader.feed(body) == []
    assert reader.finish()[1:] == [TextDelta("done"), StreamEnd("stop", Usage(52, 5))]


def test_stream_errors():
    error = wire.error(429, "Resource has been exhausted", "RESOURCE_EXHAUSTED")
    events = read_stream(wire.sse([wire.chunk([{"text": "a"}]), error]))
    assert events[-1] == StreamError("RESOURCE_EXHAUSTED: Resource has been exhausted")
    assert not any(isinstance(e, StreamEnd) for e in events)
    assert read_stream(wire.sse([wire.chunk([{"text": "a"}])]))[-1] == \
        StreamError("the Gemini stream ended before its finishReason")
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3},
               "responseId": "r", "modelVersion": wire.MODEL}
    assert read_stream(wire.sse([blocked])) == [StreamStart("r", wire.MODEL), StreamEnd("content_filter", Usage(3))]


@pytest.mark.parametrize("chunks", [
    [wire.chunk(wire.code_execution("1", "1"))],
    [wire.chunk([{"text": "a"}], "STOP"), wire.chunk([{"text": "more"}])],
], ids=["code execution", "content after the finish"])
def test_untranslatable_streams(chunks):
    with pytest.raises(Untranslatable):
        read_stream(wire.sse(chunks))


def test_a_stream_that_is_not_sse_is_untranslatable():
    with pytest.raises(Untranslatable):
        read_stream([b"[{\"candidates\": []}]\n\n"])


# -- read_error ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "body", "kind", "message"), [
    (400, json.dumps(wire.error(400, "API key not valid.", "INVALID_ARGUMENT")), "invalid_request",
     "API key not valid."),
    (429, json.dumps([wire.error(429, "Quota exceeded", "RESOURCE_EXHAUSTED")]), "rate_limit", "Quota exceeded"),
    (403, json.dumps(wire.error(403, "denied", "PERMISSION_DENIED"), indent=2), "permission", "denied"),
    (503, "upstream connect error", "overloaded", "upstream connect error"),
    (500, "", "api_error", "HTTP 500"),
])
def test_read_error(status, body, kind, message):
    error = GEMINI.read_error(status, body.encode())
    assert (error.status, error.kind, error.message) == (status, kind, message)

