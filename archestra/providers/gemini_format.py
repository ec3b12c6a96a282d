"""Gemini's JSON, read and written under either field spelling (lowerCamel or snake_case)."""
from __future__ import annotations

import json
import re
from typing import Any

from ..exchange import Response, ToolCall, Usage
from .content import parts_text, set_parts_text  # noqa: F401  (re-exported for gemini.py)
from .shapes import FamilyTable, Reading

FAMILY = "Gemini generateContent"


def snake(name: str) -> str:
    """``name`` in snake_case (Google's JSON parser takes either spelling of every field)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` under its lowerCamel or snake_case spelling."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(name)
    return value if value is not None else obj.get(snake(name))


def key_of(obj: dict[str, Any], name: str) -> str:
    """The spelling of ``name`` the client used (lowerCamel when absent)."""
    return snake(name) if snake(name) in obj and name not in obj else name


#: Fields whose values are free-form JSON (arguments, results, schemas, labels), not Google's own messages.
_FREE_FORM = {"args", "response", "parameters", "parameters_json_schema", "response_json_schema", "response_schema",
              "part_metadata", "labels", "additional_properties"}


def ambiguous_field(value: Any) -> str | None:
    """The first field of Google's messages that ``value`` gives under both spellings (``fooBar`` and
    ``foo_bar``): which one Google reads is not something the proxy may guess."""
    pending = [value]
    while pending:  # a loop, not recursion: bodies may nest as deep as the JSON parser allows
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        for key, inner in item.items():
            if key != snake(key) and snake(key) in item:
                return key
            if snake(key) not in _FREE_FORM:
                pending.append(inner)
    return None


def camel(value: Any, depth: int = 0) -> Any:
    """``value`` with the fields of Google's messages in lowerCamel (free-form values left as they are), so that
    a policy condition's key path does not depend on the spelling a client chose. Google's messages are
    shallow: below 32 levels the value is left as it is."""
    if depth > 32:
        return value
    if isinstance(value, list):
        return [camel(item, depth + 1) for item in value]
    if not isinstance(value, dict):
        return value
    return {camel_name(key): item if snake(key) in _FREE_FORM else camel(item, depth + 1)
            for key, item in value.items()}


# -- the declared table -------------------------------------------------------------------------------
_I, _C, _R, _S, _U, _O, _X = (Reading.INERT, Reading.CALL, Reading.RESULT, Reading.SERVER_TOOL, Reading.UNSEEN,
                              Reading.OPAQUE, Reading.REFUSED)
#: A Part is "one of" its data fields plus metadata, but nothing stops a body giving several: each field of a
#: part is read by its own row, never the first one only.
_PART_METADATA = {"thought": _O, "thoughtSignature": _O, "videoMetadata": _O, "mediaResolution": _O,
                  "mediaProcessing": _O, "speechMetadata": _O, "documentMetadata": _O, "spreadsheetMetadata": _O,
                  "audioMetadata": _O, "audioTranscription": _I}
_REQUEST = {
    **{f"request:{k}": v for k, v in {
        "contents": _I, "systemInstruction": _I, "tools": _I, "toolConfig": _O, "generationConfig": _O,
        "safetySettings": _O, "labels": _O, "model": _O, "serviceTier": _O, "store": _O, "modelArmorConfig": _O,
        "outputConfig": _O, "cachedContent": _U, "continuationToken": _U}.items()},
    "content:parts": _I, "content:role": _O,
    **{f"part:{k}": v for k, v in {
        "text": _I, "inlineData": _I, "fileData": _U, "functionCall": _C, "functionResponse": _R,
        "executableCode": _S, "codeExecutionResult": _R, "toolCall": _S, "toolResponse": _R, "partMetadata": _U,
        **_PART_METADATA}.items()},
    # The parts of a function's response (FunctionResponsePart): media the tool returned.
    **{f"response part:{k}": v for k, v in {
        "inlineData": _I, "fileData": _U, "mediaProcessing": _O, "mediaResolution": _O, "videoMetadata": _O,
        "documentMetadata": _O, "spreadsheetMetadata": _O, "audioMetadata": _O}.items()},
    **{f"function response:{k}": v for k, v in {
        "id": _O, "name": _O, "response": _R, "parts": _R, "willContinue": _O, "scheduling": _O}.items()},
    # generationConfig: how to answer, not context; schemas are the client's own text.
    **{f"generation:{k}": v for k, v in {
        "responseSchema": _I, "responseJsonSchema": _I, "responseFormat": _O, "responseMimeType": _O,
        "responseModalities": _O, "responseLogprobs": _O, "logprobs": _O, "candidateCount": _O,
        "maxOutputTokens": _O, "temperature": _O, "topP": _O, "topK": _O, "seed": _O, "stopSequences": _O,
        "presencePenalty": _O, "frequencyPenalty": _O, "thinkingConfig": _O, "speechConfig": _O,
        "audioTimestamp": _O, "audioTranscriptionConfig": _O, "mediaResolution": _O, "routingConfig": _O,
        "modelSelectionConfig": _O, "modelConfig": _O, "enableAffectiveDialog": _O,
        "enableEnhancedCivicAnswers": _O, "translationConfig": _O, "imageConfig": _O,
        "continuationToken": _U}.items()},
    **{f"tool:{k}": v for k, v in {
        "functionDeclarations": _C, "computerUse": _C, "googleSearch": _S, "googleSearchRetrieval": _S,
        "urlContext": _S, "codeExecution": _S, "googleMaps": _S, "enterpriseWebSearch": _S,
        "parallelAiSearch": _S, "exaAiSearch": _S, "fileSearch": _S, "retrieval": _S, "mcpServers": _S}.items()},
}
_ANSWER = {
    **{f"response:{k}": v for k, v in {
        "candidates": _I, "usageMetadata": _O, "modelVersion": _O, "responseId": _O, "createTime": _O,
        "promptFeedback": _O, "modelStatus": _O, "error": _O}.items()},
    **{f"candidate:{k}": v for k, v in {
        "content": _I, "index": _O, "finishReason": _O, "finishMessage": _I, "tokenCount": _O, "avgLogprobs": _O,
        "logprobsResult": _O, "safetyRatings": _O, "citationMetadata": _O, "continuationToken": _O,
        "groundingMetadata": _R, "urlContextMetadata": _R}.items()},
    "content:parts": _I, "content:role": _O,
    **{f"part:{k}": v for k, v in {
        "text": _I, "inlineData": _I, "functionCall": _C, "executableCode": _C, "toolCall": _S,
        "codeExecutionResult": _R, "toolResponse": _R, "fileData": _X, "functionResponse": _X, "partMetadata": _O,
        **_PART_METADATA}.items()},
    # Inside the calls: a field nobody declared could change what the client runs.
    **{f"function call:{k}": v for k, v in {
        "id": _O, "name": _I, "args": _I, "partialArgs": _I, "willContinue": _O}.items()},
    **{f"partial arg:{k}": v for k, v in {
        "jsonPath": _I, "stringValue": _I, "numberValue": _I, "boolValue": _I, "nullValue": _I,
        "willContinue": _O}.items()},
    **{f"code:{k}": v for k, v in {"id": _O, "code": _I, "language": _I}.items()},
    **{f"tool call:{k}": v for k, v in {"id": _O, "toolType": _I, "args": _I}.items()},
}
_NOTES = {
    "request:contents": "read part by part", "request:systemInstruction": "read part by part (text only: any "
    "other data field is unseen context)", "request:tools": "read entry by entry",
    "request:cachedContent": "context cached upstream", "request:continuationToken": "an answer generated upstream",
    "part:fileData": "a file or URL Google reads (at any depth: function responses' parts too)",
    "part:partMetadata": "free-form metadata the proxy does not read as content",
    "part:executableCode": "in a request: the model's code execution, replayed; in an answer: a call, "
    "decided as `code_execution` (a client may run it), with the results before it",
    "part:toolCall": "a server-side tool invocation, named from its toolType; decided in an answer",
    "part:toolResponse": "a server-side tool's result, named from its toolType",
    "part:codeExecutionResult": "the result of `code_execution`",
    "part:functionResponse": "in an answer: never the model's to give",
    "tool:computerUse": "a toolset the client runs: its predefined functions are its members",
    "tool:fileSearch": "also a result of `file_search` in the request (stored documents the proxy cannot read)",
    "tool:retrieval": "also a result of `retrieval` in the request (stored documents the proxy cannot read)",
    "tool:mcpServers": "also a result `mcp:<server>` in the request (the tool listing Google fetches)",
    "candidate:groundingMetadata": "a result of the search or retrieval tool whose sources it cites",
    "candidate:urlContextMetadata": "a result of `url_context`",
    "response:error": "the SDKs raise it as an error",
    "generation:continuationToken": "an answer generated upstream",
}
TABLE = FamilyTable(FAMILY, _REQUEST, _ANSWER, notes=_NOTES)
TABLES = [TABLE]


def camel_name(key: str) -> str:
    """``key`` in lowerCamel (the table's spelling; Google reads either)."""
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key)


def fields(obj: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every field of ``obj`` given a value, by its lowerCamel name (a null field is no field, for Google too)."""
    return [(camel_name(key), value) for key, value in obj.items() if value is not None]


def function_calls(parts: Any) -> list[ToolCall]:
    return CallAssembler().add(parts)


class CallAssembler:
    """Function calls as a client assembles them: a call whose part says ``willContinue`` goes on in the next
    ``functionCall`` part (of this chunk or a later one), whose ``partialArgs`` (Vertex streamed arguments)
    add to its arguments: the decision sees the arguments whole."""

    def __init__(self) -> None:
        self._open: ToolCall | None = None

    @property
    def continuing(self) -> bool:
        """A call said ``willContinue``: its arguments are not complete yet."""
        return self._open is not None

    def add(self, parts: Any) -> list[ToolCall]:
        """The new calls among ``parts`` (continued ones are completed in place)."""
        new = []
        for part in parts or ():
            raw = field(part, "functionCall")
            if not isinstance(raw, dict):
                continue
            name = str(raw.get("name") or "")
            if self._open is None or (name and name != self._open.name) or raw.get("args"):
                # A part naming another function, or carrying whole arguments, is another call as every client
                # reads it: only argument pieces continue a call.
                self._open = ToolCall(raw.get("id"), name, {})
                new.append(self._open)
            _extend(self._open, raw)
            if not field(raw, "willContinue"):
                self._open = None
        return new


def _extend(call: ToolCall, raw: dict[str, Any]) -> None:
    arguments = call.arguments if isinstance(call.arguments, dict) else {}
    if isinstance(raw.get("args"), dict):
        arguments.update(raw["args"])
    for partial in field(raw, "partialArgs") or ():
        if isinstance(partial, dict):
            _set_partial(arguments, partial)
    call.arguments, call.raw_arguments = arguments, json.dumps(arguments)


_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def _set_partial(arguments: dict[str, Any], partial: dict[str, Any]) -> None:
    """One streamed argument piece at its JSON path (``$.a.b[0]``); string pieces of one path are joined."""
    path = str(field(partial, "jsonPath") or "")
    keys: list[Any] = []
    position = 1 if path.startswith("$") else len(path) + 1
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None:
            break
        name, index, quoted, double = match.groups()
        keys.append(int(index) if index is not None else next(k for k in (name, quoted, double) if k is not None))
        position = match.end()
    if not keys or position != len(path):
        keys = [path]  # a path this reader does not follow: the piece stays visible under it
    value = next((field(partial, k) for k in ("stringValue", "numberValue", "boolValue")
                  if field(partial, k) is not None), None)
    target: Any = arguments
    for key, following in zip(keys, keys[1:]):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(target, list) and isinstance(key, int):
            target.extend(None for _ in range(key + 1 - len(target)))
            target[key] = target[key] if isinstance(target[key], (dict, list)) else empty
        elif isinstance(target, dict):
            target[key] = target.get(key) if isinstance(target.get(key), (dict, list)) else empty
        else:
            return
        target = target[key]
    last = keys[-1]
    if isinstance(target, list) and isinstance(last, int):
        target.extend(None for _ in range(last + 1 - len(target)))
    elif not isinstance(target, dict):
        return
    current = target.get(last) if isinstance(target, dict) else target[last]
    target[last] = current + value if isinstance(current, str) and isinstance(value, str) else value


def response_view(data: dict[str, Any]) -> Response:
    candidates = data.get("candidates") or []
    first = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    parts = (field(first, "content") or {}).get("parts")
    usage = field(data, "usageMetadata") or {}
    output = field(usage, "candidatesTokenCount")
    thoughts = field(usage, "thoughtsTokenCount")
    if output is not None and thoughts:
        output += thoughts
    return Response(text=parts_text(parts) or "", tool_calls=function_calls(parts),
                    finish_reason=field(first, "finishReason"),
                    usage=Usage(field(usage, "promptTokenCount"), output), model=field(data, "modelVersion"))


def refuse_candidate(candidate: dict[str, Any], text: str) -> None:
    candidate[key_of(candidate, "content")] = {"role": "model", "parts": [{"text": text}]}
    candidate[key_of(candidate, "finishReason")] = "STOP"
    candidate.pop("finishMessage", None)
    candidate.pop("finish_message", None)
