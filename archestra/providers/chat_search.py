"""What the chat completions servers search and run themselves (provider-wire-formats.md section 10): declared
in a request as server tools, decided before it leaves; found in an answer as results, judged before the
answer's calls are decided (they are in the model's context when it calls).

Declared (request): OpenAI's ``web_search_options``, OpenRouter's ``plugins`` (``{"id": "web"}``: its web
search) and ``:online`` model suffix, xAI's Live Search ``search_parameters``. Found (answer): ``annotations``
of a message or delta (``url_citation``: pages a web search read; OpenAI, OpenRouter), Groq's ``executed_tools``
(search, browser and code results of its compound models), and the response-level ``citations`` and
``search_results`` of Perplexity and xAI.
"""
from __future__ import annotations

from typing import Any

from ..exchange import Tool, ToolResult
from .wire import compact_json

#: The provider's web search, whichever field turns it on (a policy on ``web_search`` covers them all).
WEB_SEARCH = "web_search"
#: OpenRouter's model suffix that turns its web search on (``openai/gpt-4o:online``).
ONLINE = ":online"
#: The OpenRouter plugin that is its web search; other plugins are server tools named ``openrouter:<id>``.
WEB_PLUGIN = "web"
#: Response-level fields (beside ``choices``) that carry what the provider's search read.
RESPONSE_RESULTS = ("citations", "search_results")
_RESPONSE_RESULT_KEYS = frozenset(RESPONSE_RESULTS)
#: Message (or delta) fields that carry provider-executed results.
MESSAGE_RESULTS = ("annotations", "executed_tools")


def plugin_name(plugin: Any) -> str | None:
    """The server tool an OpenRouter ``plugins`` entry stands for, or None for an entry without an id."""
    name = plugin.get("id") if isinstance(plugin, dict) else None
    if not isinstance(name, str) or not name:
        return None
    return WEB_SEARCH if name == WEB_PLUGIN else f"openrouter:{name}"


def searching_model(model: Any, suffix: str | None) -> bool:
    """Whether the model name turns the provider's web search on (``suffix``: the provider's, if it has one)."""
    return bool(suffix) and isinstance(model, str) and model.endswith(suffix)  # type: ignore[arg-type]


def request_server_tools(body: dict[str, Any], suffix: str | None = None) -> list[Tool]:
    """The provider-run tools a request turns on by fields other than ``tools``."""
    tools = []
    options = body.get("web_search_options")
    if options is not None:
        tools.append(Tool(WEB_SEARCH, None, options if isinstance(options, dict) else {}, server=True))
    for plugin in body.get("plugins") or () if isinstance(body.get("plugins"), list) else ():
        name = plugin_name(plugin)
        if name is not None:
            tools.append(Tool(name, None, plugin, server=True))
    search = body.get("search_parameters")
    if search is not None and not (isinstance(search, dict) and search.get("mode") == "off"):
        tools.append(Tool(WEB_SEARCH, None, search if isinstance(search, dict) else {}, server=True))
    if searching_model(body.get("model"), suffix):
        tools.append(Tool(WEB_SEARCH, None, {"model": body["model"]}, server=True))
    return tools


def keep_server_tools(body: dict[str, Any], servers: set[str], suffix: str | None = None) -> None:
    """Take out of the native body the provider-run tools that were refused (``servers``: those kept)."""
    if WEB_SEARCH not in servers:
        body.pop("web_search_options", None)
        body.pop("search_parameters", None)
        if searching_model(body.get("model"), suffix):
            body["model"] = body["model"][:-len(suffix)]  # type: ignore[arg-type]
    plugins = body.get("plugins")
    if isinstance(plugins, list):
        body["plugins"] = [p for p in plugins if plugin_name(p) is None or plugin_name(p) in servers]
        if not body["plugins"]:
            del body["plugins"]


def _result(name: str, value: Any) -> ToolResult:
    text = value if isinstance(value, str) else compact_json(value)
    return ToolResult(None, name, text, document=None if isinstance(value, str) else value, server=True,
                      _original=text)


def citations(message: Any) -> list[ToolResult]:
    """The web pages an answer cites (``annotations``): results of the provider's web search."""
    annotations = message.get("annotations") if isinstance(message, dict) else None
    if not isinstance(annotations, list) or not annotations:
        return []
    return [_result(WEB_SEARCH, annotations)]


def executed_tools(message: Any) -> list[ToolResult]:
    """Groq's ``executed_tools``: each tool its compound models ran, named by its ``type`` (``search``,
    ``browser.search``, ``python``...), the whole entry (arguments, output, search results) its content."""
    entries = message.get("executed_tools") if isinstance(message, dict) else None
    if not isinstance(entries, list):
        return []
    return [_result(entry.get("type") if isinstance(entry, dict) and isinstance(entry.get("type"), str)
                    and entry["type"] else "executed_tool", entry) for entry in entries if entry]


def message_results(message: Any) -> list[ToolResult]:
    """What the provider's own tools brought into one answer message or stream delta."""
    return citations(message) + executed_tools(message)


def response_results(data: Any) -> list[ToolResult]:
    """Perplexity's and xAI's response-level ``citations`` (URLs) and ``search_results`` (pages with snippets):
    results of the provider's web search."""
    if not isinstance(data, dict) or _RESPONSE_RESULT_KEYS.isdisjoint(data):
        return []
    found = {key: data[key] for key in RESPONSE_RESULTS if isinstance(data.get(key), list) and data[key]}
    return [_result(WEB_SEARCH, found)] if found else []
