"""Gemini wire data (provider-wire-formats.md section 3): Google's serializer style, ``\\r\\n\\r\\n``
between SSE events, and the pretty-printed JSON array used without ``alt=sse``."""
from __future__ import annotations

import json

MODEL = "gemini-2.5-flash"


def google_json(value) -> str:
    """Google's style: '": "' after keys, bare ',' between members, < and > escaped."""
    text = json.dumps(value, separators=(",", ": "))
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def chunk(parts: list[dict], finish: str | None = None, usage: tuple[int, int] = (52, 5)) -> dict:
    candidate: dict = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
        if any("functionCall" in p for p in parts):
            candidate["finishMessage"] = "Model generated function call(s)."
    return {"candidates": [candidate],
            "usageMetadata": {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1],
                              "totalTokenCount": sum(usage),
                              "promptTokensDetails": [{"modality": "TEXT", "tokenCount": usage[0]}]},
            "modelVersion": MODEL, "responseId": "IZI2acSKMoWl0-kPmYj2yQc"}


def function_call(name: str, args: dict) -> dict:
    return {"functionCall": {"name": name, "args": args}, "thoughtSignature": "CikBcsjaU2ln"}


def sse(chunks: list[dict]) -> list[bytes]:
    return [f"data: {google_json(c)}\r\n\r\n".encode() for c in chunks]


def json_array(chunks: list[dict]) -> list[bytes]:
    pieces = []
    for i, c in enumerate(chunks):
        pretty = json.dumps(c, indent=2)
        pieces.append((b"[" if i == 0 else b",\r\n") + pretty.encode() + b"\n")
    pieces.append(b"]")
    return pieces


def error(code: int, message: str, status: str) -> dict:
    return {"error": {"code": code, "message": message, "status": status}}


def candidate(parts: list[dict], finish: str | None = None, index: int = 0, **extra) -> dict:
    """One candidate; proto3 JSON leaves out ``index`` 0 (as Google does) and zero-valued fields."""
    found: dict = {"content": {"parts": parts, "role": "model"}}
    if index:
        found["index"] = index
    if finish:
        found["finishReason"] = finish
    return {**found, **extra}


def response(candidates: list[dict], usage: tuple[int, int] = (52, 5)) -> dict:
    """A GenerateContentResponse with several candidates (``candidateCount``) or extra candidate fields."""
    return {"candidates": candidates,
            "usageMetadata": {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1],
                              "totalTokenCount": sum(usage)},
            "modelVersion": MODEL, "responseId": "qpc2afWVFJK4vr0Pq6WiyAU"}


def code_execution(code: str, output: str) -> list[dict]:
    """The two parts a code execution leaves in a model content."""
    return [{"executableCode": {"language": "PYTHON", "code": code}},
            {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": output}}]


def executable_code(code: str, language: str = "PYTHON") -> dict:
    """A part with code to execute (the model's code execution, or code a client may run)."""
    return {"executableCode": {"language": language, "code": code}}


def server_tool_call(tool_type: str, args: dict, call_id: str = "t1") -> dict:
    """A server-side tool invocation part (``includeServerSideToolInvocations``), e.g. ``URL_CONTEXT``."""
    return {"toolCall": {"id": call_id, "toolType": tool_type, "args": args}}


def grounding(uri: str = "https://evil.example/page", query: str = "weather paris") -> dict:
    """``groundingMetadata`` of an answer grounded with Google Search."""
    return {"webSearchQueries": [query],
            "searchEntryPoint": {"renderedContent": "<div>search</div>"},
            "groundingChunks": [{"web": {"uri": uri, "title": "evil.example"}}],
            "groundingSupports": [{"segment": {"endIndex": 10, "text": "It is sunny"},
                                   "groundingChunkIndices": [0]}]}


def url_context(url: str = "https://evil.example/page") -> dict:
    return {"urlMetadata": [{"retrievedUrl": url, "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_SUCCESS"}]}
