"""The Gemini generateContent upstream codec (issue 26): the Model Router's requests to Gemini models, on AI
Studio or Vertex AI (the gemini provider maps the path to the real URL), and their answers read back.

Parts: ``gemini_generate_request`` (the body), ``gemini_generate_parts`` (an answer or chunk read),
``gemini_generate_stream`` (``alt=sse``), ``gemini_generate_errors``, ``gemini_generate_ids`` (Gemini's call ids
and thought signatures carried in the ids the client keeps).
"""
from __future__ import annotations

from typing import Any

from .gemini_generate_errors import read_error
from .gemini_generate_parts import blocked, candidate, candidate_parts, check_response, finish_reason, usage
from .gemini_generate_request import write_request
from .gemini_generate_stream import GeminiStreamReader
from .neutral import ChatAnswer, ChatRequest, ToolCallPart, Untranslatable, UpstreamError

#: What a generateContent body leaves out of a neutral request, and why that is safe.
DROPPED_FIELDS = {
    # Refusing would fail every client that sends the flag by habit; every front renders several calls validly
    # and each call still goes through the front's own decisions.
    "parallel_tool_calls": "Gemini has no switch against several calls in one turn",
    "include_usage": "Gemini always reports usage, streamed or not",
    "response_format.name": "Gemini's response schema has no name; the model never reads it",
    "response_format.strict": "Gemini always constrains the output to responseJsonSchema (as strict: true asks)",
    "stream": "in the path (streamGenerateContent?alt=sse)",
    # Gemini checks a thought by its signature; another provider's reasoning, or a Gemini 2 thought summary
    # without a signature, is nothing Gemini reads back (see gemini_generate_request._assistant_parts).
    "messages[].parts[Reasoning without a gemini: signature]": "only Gemini's own signed thoughts go back",
}


class GeminiGenerate:
    name = "gemini_generate"

    def write_request(self, request: ChatRequest) -> dict[str, Any]:
        return write_request(request)

    def path(self, model: str, stream: bool) -> tuple[str, str]:
        """The AI Studio path the gemini provider routes as a chat (in Vertex AI mode it rewrites it to the
        project's ``publishers/google/models`` URL, ``v1beta`` becoming ``v1beta1``)."""
        model = model.removeprefix("models/")
        if not model or "/" in model or ":" in model or "?" in model or "#" in model:
            raise Untranslatable("model", f"{model!r} is not a Gemini model id")
        if stream:
            return f"v1beta/models/{model}:streamGenerateContent", "alt=sse"
        return f"v1beta/models/{model}:generateContent", ""

    def read_answer(self, body: dict[str, Any]) -> ChatAnswer:
        check_response(body)
        answer_id, model = str(body.get("responseId") or ""), str(body.get("modelVersion") or "")
        found = candidate(body)
        if found is None:
            if not blocked(body):
                raise Untranslatable("candidates", "an answer without a candidate and no block reason")
            return ChatAnswer(answer_id, model, [], "content_filter", usage(body))
        parts = candidate_parts(found, set())
        reason = finish_reason(found, any(isinstance(part, ToolCallPart) for part in parts))
        if reason is None:
            raise Untranslatable("finishReason", "missing from a whole answer")
        return ChatAnswer(answer_id, model, parts, reason, usage(body))

    def stream_reader(self) -> GeminiStreamReader:
        return GeminiStreamReader()

    def read_error(self, status: int, body: bytes) -> UpstreamError:
        return read_error(status, body)


GEMINI = GeminiGenerate()
