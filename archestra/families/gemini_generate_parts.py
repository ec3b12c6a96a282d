"""A Gemini GenerateContentResponse (whole answer or one stream chunk) read into neutral parts, finish and usage.

Only what is positively understood is read: a part, candidate or response field not listed here raises
:class:`Untranslatable` (code execution, media, grounding by a provider-side tool the router never enables...).
"""
from __future__ import annotations

import json
from typing import Any

from .gemini_generate_ids import call_id, reasoning_signature
from .neutral import FinishReason, Reasoning, Text, ToolCallPart, Untranslatable, Usage

#: Response fields that are metadata, not content.
_RESPONSE_FIELDS = {"candidates", "promptFeedback", "usageMetadata", "modelVersion", "responseId", "createTime",
                    "modelStatus"}
#: Candidate fields that are metadata (ratings, citations of what the text recites, log probabilities).
_CANDIDATE_FIELDS = {"content", "finishReason", "finishMessage", "index", "safetyRatings", "citationMetadata",
                     "tokenCount", "avgLogprobs", "logprobsResult"}
#: Results of Google-run tools (search, URL context) the router never enables: only an empty one is accepted.
_TOOL_RESULTS = {"groundingMetadata", "urlContextMetadata"}
_PART_FIELDS = {"text", "thought", "thoughtSignature", "functionCall"}
_PART_REASONS = {
    "executableCode": "code execution is a Google-run tool the router does not enable",
    "codeExecutionResult": "code execution is a Google-run tool the router does not enable",
    "inlineData": "media in an answer cannot be rendered in the client's format",
    "fileData": "media in an answer cannot be rendered in the client's format",
    "toolCall": "a server-side tool call the router does not enable",
    "toolResponse": "a server-side tool result the router does not enable",
    "functionResponse": "a function result is never the model's to give",
}

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop", "MAX_TOKENS": "length",
    **dict.fromkeys(("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
                     "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR"), "content_filter"),
    # The model failed: a malformed or unexpected call, an unsupported language, no reason given.
    **dict.fromkeys(("MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS",
                     "MISSING_THOUGHT_SIGNATURE", "MALFORMED_RESPONSE", "LANGUAGE", "OTHER", "IMAGE_OTHER",
                     "NO_IMAGE", "FINISH_REASON_UNSPECIFIED"), "error"),
}

AnswerPart = Text | ToolCallPart | Reasoning


def check_response(body: Any) -> None:
    """Every field of a response (or chunk) is one this reader knows."""
    if not isinstance(body, dict):
        raise Untranslatable("response", "not a JSON object")
    _known(body, _RESPONSE_FIELDS, "response")


def candidate(body: dict[str, Any]) -> dict[str, Any] | None:
    """The one candidate of a response (the router never asks for more), checked field by field; None when the
    response has none (the prompt was blocked, or a stream chunk carries usage only)."""
    candidates = body.get("candidates") or []
    if not isinstance(candidates, list) or len(candidates) > 1:
        raise Untranslatable("candidates", "the router asks for one candidate; the answer has several")
    if not candidates:
        return None
    found = candidates[0]
    if not isinstance(found, dict):
        raise Untranslatable("candidates[0]", "not a JSON object")
    for name in _TOOL_RESULTS:
        if found.get(name):
            raise Untranslatable(f"candidates[0].{name}", "a result of a Google-run tool the router does not enable")
    _known(found, _CANDIDATE_FIELDS | _TOOL_RESULTS, "candidates[0]")
    if found.get("index", 0) != 0:
        raise Untranslatable("candidates[0].index", "a candidate other than the first")
    return found


def blocked(body: dict[str, Any]) -> bool:
    """The prompt was blocked: no candidate, ``promptFeedback.blockReason`` (answered as content_filter)."""
    feedback = body.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


def candidate_parts(found: dict[str, Any], taken: set[str]) -> list[AnswerPart]:
    """The candidate's parts in order; ``taken``: the call ids already given in this answer."""
    content = found.get("content") or {}
    if not isinstance(content, dict):
        raise Untranslatable("content", "not a JSON object")
    _known(content, {"parts", "role"}, "content")
    if content.get("role", "model") != "model":
        raise Untranslatable("content.role", f"{content.get('role')!r} in an answer")
    parts = content.get("parts") or []
    if not isinstance(parts, list):
        raise Untranslatable("content.parts", "not a list")
    read: list[AnswerPart] = []
    for part in parts:
        read += _part(part, taken)
    return read


def finish_reason(found: dict[str, Any], parts_have_calls: bool) -> FinishReason | None:
    """The neutral finish reason; None while the candidate goes on (a stream chunk without one)."""
    raw = found.get("finishReason")
    if raw is None:
        return None
    if raw not in _FINISH:
        raise Untranslatable("finishReason", f"{raw!r} is not a reason this reader knows")
    reason = _FINISH[raw]
    # Gemini ends a turn of function calls with STOP; every other family says it stopped for tool calls.
    return "tool_calls" if reason == "stop" and parts_have_calls else reason


def usage(body: dict[str, Any]) -> Usage:
    """``usageMetadata`` in neutral terms: thoughts count as output (they are billed as output tokens);
    ``promptTokenCount`` includes the cached tokens, as OpenAI's ``prompt_tokens`` does."""
    meta = body.get("usageMetadata") or {}
    if not isinstance(meta, dict):
        raise Untranslatable("usageMetadata", "not a JSON object")
    prompt, tool_prompt = meta.get("promptTokenCount"), meta.get("toolUsePromptTokenCount")
    output, thoughts = meta.get("candidatesTokenCount"), meta.get("thoughtsTokenCount")
    return Usage(input_tokens=_sum(prompt, tool_prompt), output_tokens=_sum(output, thoughts),
                 cache_read_tokens=meta.get("cachedContentTokenCount"))


def _part(part: Any, taken: set[str]) -> list[AnswerPart]:
    if not isinstance(part, dict):
        raise Untranslatable("part", "not a JSON object")
    for name in part:
        if name not in _PART_FIELDS:
            raise Untranslatable(f"part.{name}", _PART_REASONS.get(name, "a part field this reader does not know"))
    signature = part.get("thoughtSignature")
    if "functionCall" in part:
        if "text" in part or part.get("thought"):
            raise Untranslatable("part", "a function call and text in one part")
        return [_call(part["functionCall"], signature, taken)]
    text = part.get("text", "")
    if not isinstance(text, str):
        raise Untranslatable("part.text", "not a string")
    if part.get("thought"):
        return [Reasoning(text, reasoning_signature(signature) if signature is not None else None)]
    read: list[AnswerPart] = [Text(text)] if text else []
    if signature is not None:
        # Gemini 3 may sign the last text part too: the signature goes on as reasoning after that text.
        read.append(Reasoning("", reasoning_signature(signature)))
    return read


def _call(raw: Any, signature: Any, taken: set[str]) -> ToolCallPart:
    if not isinstance(raw, dict):
        raise Untranslatable("functionCall", "not a JSON object")
    for name in raw:
        if name not in ("id", "name", "args"):
            raise Untranslatable(f"functionCall.{name}", "streamed arguments are never requested by the router"
                                 if name in ("partialArgs", "willContinue") else "a field this reader does not know")
    name, args = raw.get("name"), raw.get("args", {})
    if not isinstance(name, str) or not name:
        raise Untranslatable("functionCall.name", "missing")
    if not isinstance(args, dict):
        raise Untranslatable("functionCall.args", "not a JSON object")
    return ToolCallPart(call_id(raw.get("id"), signature, taken), name, json.dumps(args, ensure_ascii=False))


def _known(obj: dict[str, Any], known: set[str], where: str) -> None:
    for name in obj:
        if name not in known:
            raise Untranslatable(f"{where}.{name}", "a field this reader does not know")


def _sum(first: int | None, second: int | None) -> int | None:
    return None if first is None and second is None else (first or 0) + (second or 0)
