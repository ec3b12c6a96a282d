"""Google Gemini: AI Studio, and Vertex AI when enabled (provider-wire-formats.md section 3).

Google's JSON parser takes both lowerCamel and snake_case field names, and the SDKs send both, so every
field is read under either spelling and written back under the spelling the client used.
"""
from __future__ import annotations

import json
import re
from typing import Any, Mapping

from ..exchange import ClientInfo, Exchange, Message, ProfileInfo, Response, Tool, ToolResult
from ..proxy_error import ProxyError
from ..routing import Route
from ..upstream import join_url
from .base import Provider, proves_profile
from .content import parts_text, set_parts_text
from .family import Family
from .gemini_answer import answer_groups
from .gemini_format import (FAMILY, TABLE, ambiguous_field, camel, field, fields, function_calls, key_of,
                            refuse_candidate, response_view)
from .gemini_stream import GeminiStreamRelay
from .gemini_tools import (computer_members, field_result, keep_server_tools, server_tools, stored_reads,
                           write_result)
from .key_formats import GEMINI, without_client_keys
from .shapes import Reading, unseen_reason
from .vertex import vertex_headers
from .wire import CallNames

PATH = re.compile(r"(?P<version>v1|v1beta|v1beta1|v1alpha)/(?:projects/[^/]+/locations/[^/]+/)?"
                  r"(?:publishers/google/)?models/(?P<model>[^/:]+):(?P<action>[A-Za-z]+)")
GENERATE = {"generateContent": False, "streamGenerateContent": True}
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           405: "INVALID_ARGUMENT", 413: "INVALID_ARGUMENT", 415: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED",
           500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


class GenerateContent(Family):
    """``models/{model}:generateContent`` / ``:streamGenerateContent``: ``contents`` of parts, function calls."""

    def __init__(self, provider: str = "gemini") -> None:
        super().__init__(provider)

    def completion_request(self, model: str, system: str, prompt: str, route: Route) -> tuple[Route, dict[str, Any]]:
        version = PATH.fullmatch(route.upstream_path)["version"]  # type: ignore[index]
        body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        return Route("chat", f"{version}/models/{model}:generateContent", stream=False, model=model,
                     action="generateContent", family=self), body

    def error_body(self, error: ProxyError) -> dict[str, Any]:
        status = _STATUS.get(error.status, "UNAVAILABLE" if error.status >= 500 else "INVALID_ARGUMENT")
        return {"error": {"code": error.status, "message": error.message, "status": status}}

    # -- request --------------------------------------------------------------------------------
    def validate_request(self, body: Any) -> None:
        super().validate_request(body)
        contents = body.get("contents")
        if not isinstance(contents, list) or not all(isinstance(c, dict) for c in contents):
            raise ProxyError(400, "Invalid JSON payload: 'contents' must be an array of Content objects.")
        for i, content in enumerate(contents):
            if not isinstance(content.get("parts", []), list):
                raise ProxyError(400, f"Invalid JSON payload: 'contents[{i}].parts' must be an array.")
        # Google reads either spelling of a field; with both present the proxy could read one and Google the other.
        twice = ambiguous_field(body)
        if twice:
            raise ProxyError(400, f"Invalid JSON payload: the field '{twice}' is given under both of its spellings.")

    def parse_request(self, body: dict[str, Any], route: Route, profile: ProfileInfo,
                      client: ClientInfo) -> Exchange:
        messages: list[Message] = []
        system = field(body, "systemInstruction")
        if isinstance(system, dict):
            text = parts_text(system.get("parts"))
            messages.append(Message("system", text, _ref="system", _original=text))
        names = CallNames()
        for content in body["contents"]:
            for call in function_calls(content.get("parts")):
                names.add(call.id, call.name)
        for index, content in enumerate(body["contents"]):
            parts = content.get("parts") or []
            results = []
            for position, part in enumerate(parts):
                # every field of a part is read: a part carrying two results is two results
                for name, value in fields(part) if isinstance(part, dict) else ():
                    if TABLE.in_request("part", name) is not Reading.RESULT:
                        continue
                    result = (_function_result(value, names, (position, name)) if name == "functionResponse"
                              and isinstance(value, dict) else field_result(name, value, (position, name)))
                    if result is not None:
                        results.append(result)
            role = "assistant" if content.get("role") == "model" else content.get("role") or "user"
            text = parts_text(parts)
            messages.append(Message(role, text, function_calls(parts), results, _ref=index, _original=text))
        reads = stored_reads(body.get("tools"))
        if reads:  # what stored documents and MCP tool listings bring: results, untrusted unless trusted
            messages.append(Message("tool", None, [], reads, _ref=_TOOLS))
        tools = []
        for tool in body.get("tools") or ():
            for declaration in field(tool, "functionDeclarations") or ():
                if isinstance(declaration, dict) and declaration.get("name"):
                    schema = field(declaration, "parametersJsonSchema") or declaration.get("parameters")
                    tools.append(Tool(str(declaration["name"]), declaration.get("description"), schema))
        tools += server_tools(body.get("tools")) + computer_members(body.get("tools"))
        return Exchange(self.provider, profile, route.model or "", stream=bool(route.stream), messages=messages,
                        tools=tools, client=client, unseen_context=_unseen_context(body))

    def write_request(self, body: dict[str, Any], exchange: Exchange) -> None:
        contents, system_texts, original_system = [], [], None
        for message in exchange.messages:
            if message._ref == _TOOLS:
                continue  # results of the request's tools: nothing of them is in the contents
            if message.role == "system":
                if message._ref == "system":
                    original_system = message
                else:
                    system_texts.append(message.text or "")
                continue
            if message._ref is None:
                role = "model" if message.role == "assistant" else "user"
                contents.append({"role": role, "parts": [{"text": message.text or ""}]})
                continue
            raw = body["contents"][message._ref]
            if message.text is not None and message.text != message._original:
                raw["parts"] = set_parts_text(raw.get("parts") or [], message.text)
            for result in message.tool_results:
                if result.edited:
                    position, name = result._ref
                    write_result(raw["parts"][position], name, result)
            contents.append(raw)
        body["contents"] = contents
        self._write_system(body, original_system, system_texts)
        if isinstance(body.get("tools"), list):
            keep = {tool.name for tool in exchange.tools if not tool.server}
            tools = []
            for tool in keep_server_tools(body["tools"], exchange.tools):
                name = key_of(tool, "functionDeclarations") if isinstance(tool, dict) else ""
                if isinstance(tool, dict) and name in tool:
                    declarations = [d for d in tool[name] or () if isinstance(d, dict) and d.get("name") in keep]
                    tool = {**tool, name: declarations} if declarations else {k: v for k, v in tool.items()
                                                                            if k != name}
                    if not tool:
                        continue
                tools.append(tool)
            body["tools"] = tools

    @staticmethod
    def _write_system(body: dict[str, Any], original: Message | None, added: list[str]) -> None:
        name = key_of(body, "systemInstruction")
        if original is None and name in body:
            del body[name]
        if original is None and not added:
            return
        instruction = body.get(name) or {"parts": []}
        parts = instruction.get("parts") or []
        if original is not None and original.text != original._original:
            parts = set_parts_text(parts, original.text or "")
        body[name] = {**instruction, "parts": [*({"text": t} for t in added), *parts]}

    # -- response -------------------------------------------------------------------------------
    def parse_response(self, data: Any, exchange: Exchange) -> Response:
        return response_view(data)

    def tool_call_groups(self, data: Any) -> list[tuple[Any, ...]]:
        # Code execution, server tool responses, grounding: what the model read before calling.
        return answer_groups(data)  # type: ignore[return-value]

    def refuse_response(self, data: dict[str, Any], key: Any, text: str) -> None:
        refuse_candidate(data["candidates"][key], text)

    def stream_relay(self, exchange: Exchange, decide: Any) -> GeminiStreamRelay:
        from flask import request

        return GeminiStreamRelay(exchange, decide, sse=request.args.get("alt") == "sse")


class Gemini(Provider):
    """Google AI Studio at its base URL, or Vertex AI (the proxy's project, location and token) when enabled."""

    name = "gemini"
    family = GenerateContent()
    key_format = GEMINI
    key_header = ("x-goog-api-key", "")
    tracing_name = "gcp.gemini"

    def route(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        match = PATH.fullmatch(path)
        if match is None:
            return None
        action = match["action"]
        if action in GENERATE:
            stream = GENERATE[action]
            return Route("chat", path, stream=stream, model=match["model"], action=action, family=self.family)
        if action in ("countTokens", "embedContent", "batchEmbedContents") and method == "POST":
            return Route("passthrough", path, stream=False, model=match["model"], action=action, family=self.family)
        return None

    def check_access(self, settings: Any, route: Route, profile: Any, caller: Any, headers: Any) -> None:
        """In Vertex AI mode the proxy calls Google with its own credentials: only for callers that proved the
        profile (its access token or one of its virtual keys), as for every cloud credential it holds."""
        if settings.gemini_vertex_ai_enabled and not proves_profile(profile, caller) and not settings.cloud_auth_open:
            raise ProxyError(401, "This proxy calls Vertex AI with its own Google credentials only for callers with "
                                  "the profile's access token or one of its virtual keys: send either in "
                                  "X-Archestra-Token.", kind="authentication_error", code="profile_token_required")

    def enabled(self, settings: Any) -> bool:
        return settings.gemini_vertex_ai_enabled or settings.base_url(self.name) is not None

    def upstream_request(self, settings: Any, route: Route, exchange: Exchange | None,
                         headers: dict[str, str], query: str) -> tuple[str, dict[str, str], str]:
        model = exchange.model if exchange is not None else route.model
        version = PATH.fullmatch(route.upstream_path)["version"]  # type: ignore[index]
        if not settings.gemini_vertex_ai_enabled:
            path = f"{version}/models/{model}:{route.action}"
            return join_url(settings.base_url(self.name), path), headers, query
        # Vertex AI: the proxy's own project, location and OAuth2 token; the client's key goes nowhere.
        version = "v1" if version == "v1" else "v1beta1"
        path = (f"{version}/projects/{settings.gemini_vertex_ai_project}/locations/"
                f"{settings.gemini_vertex_ai_location}/publishers/google/models/{model}:{route.action}")
        headers, query = without_client_keys(headers, query)
        headers.update(vertex_headers(settings.gemini_vertex_ai_credentials_file))
        return join_url(settings.vertex_base_url(), path), headers, query


def _function_result(response: dict[str, Any], names: CallNames, position: int) -> ToolResult:
    """A client's function result; its document is the whole ``response`` object (and any ``parts``). A
    response whose id belongs to a call of another tool (or of two tools) is tied to no tool."""
    name, call_id = response.get("name"), response.get("id")
    if names.knows(call_id) and names.name(call_id) != name:
        name = None
    document = response.get("response", {})
    parts = camel(response.get("parts"))
    if parts:
        document = ({**document, "parts": parts} if isinstance(document, dict) and "parts" not in document
                    else {"response": document, "parts": parts})
    text = json.dumps(document, ensure_ascii=False)
    return ToolResult(call_id if isinstance(call_id, str) else None, name if isinstance(name, str) else None, text,
                      document=document, _ref=position, _original=text)


_TOOLS = "tools"


def _unseen_context(body: dict[str, Any]) -> list[str]:
    """Everything of the request the proxy cannot read, by the family's table: references to context stored
    upstream (cached content, files, URLs at any depth), fields it does not know."""
    unseen = []

    def read(where: str, obj: Any, label: str) -> None:
        for name, value in fields(obj) if isinstance(obj, dict) else ():
            reading = TABLE.in_request(where, name)
            # a result that is not an object is not one the proxy could judge
            if reading is Reading.UNSEEN or (where == "part" and reading is Reading.RESULT
                                             and not isinstance(value, dict)):
                shown = value if isinstance(value, str) else (field(value, "fileUri") if isinstance(value, dict)
                                                              else None)
                unseen.append(f"{label}: {unseen_reason(FAMILY, where, name)}" + (f" ({shown})" if shown else ""))

    read("request", body, "request")
    read("generation", field(body, "generationConfig"), "generationConfig")
    system = field(body, "systemInstruction")
    for position, part in enumerate((system.get("parts") if isinstance(system, dict) else None) or ()):
        # the system instruction is read as text: any other data is context the proxy does not read
        for name, _ in fields(part) if isinstance(part, dict) else [("part", part)]:
            if TABLE.in_request("part", name) not in (Reading.INERT, Reading.OPAQUE):
                unseen.append(f"systemInstruction part {position}: {unseen_reason(FAMILY, 'part', name)}")
    for index, content in enumerate(body["contents"]):
        read("content", content, f"contents[{index}]")
        for position, part in enumerate(content.get("parts") or ()):
            where = f"contents[{index}].parts[{position}]"
            if not isinstance(part, dict):
                unseen.append(f"{where}: {unseen_reason(FAMILY, 'part', part)}")
                continue
            read("part", part, where)
            response = field(part, "functionResponse")
            read("function response", response, f"{where}.functionResponse")
            for piece in (response.get("parts") if isinstance(response, dict) else None) or ():
                read("response part", piece if isinstance(piece, dict) else {"?": piece}, f"{where}.functionResponse")
    for position, tool in enumerate(body.get("tools") or ()):
        read("tool", tool if isinstance(tool, dict) else {"?": tool}, f"tools[{position}]")
    return unseen
