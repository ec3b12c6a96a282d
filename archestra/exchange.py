"""The provider-neutral view of one exchange: what every hook sees, whatever the provider.

Provider adapters build an :class:`Exchange` from the native request, hooks read and edit it, and the
adapter writes the edits back into the native format. Hooks never see provider JSON.

What a hook may edit (and what is written back):

* ``exchange.model``: the model asked of the upstream provider.
* ``Message.text`` of a message whose text the adapter could read; ``exchange.messages`` itself
  (remove messages, or insert new :class:`Message` objects with a role and text).
* ``ToolResult.content`` (e.g. to redact it), ``ToolResult.trusted``, ``ToolResult.labels`` (data labels the
  context then holds, see ``security/labels.py``).
* ``exchange.tools`` (remove declared tools before they reach the model).

Everything else is information.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

#: The built-in label of a context holding data no policy trusts (tool results, unseen context); trust policies
#: set and clear it, ``add_labels`` result policies add the others (``docs/labels-and-approval.md``).
UNTRUSTED = "untrusted"


@dataclass
class Tool:
    """A tool the agent declared in its request."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    #: A tool the provider runs itself (Anthropic web_search / MCP servers, Gemini googleSearch / urlContext,
    #: OpenAI hosted tools). Its calls happen upstream before the proxy sees the answer, so it is decided
    #: before the request leaves (see ``toolcalls.gate_server_tools``); ``parameters`` holds its configuration.
    server: bool = False


@dataclass
class ToolCall:
    """A tool call: made by the model in a response, or replayed in the conversation history.

    ``arguments`` is the parsed JSON arguments (usually a dict); when the model produced arguments that
    are not valid JSON it is the raw string.
    """

    id: str | None
    name: str
    arguments: Any
    raw_arguments: str | None = None
    #: The tool takes free-form text (OpenAI ``custom`` tools): ``arguments`` is that text, not JSON.
    freeform: bool = False
    #: A provider-executed tool: a call found in an answer (already run upstream), or, with ``id`` None, the
    #: declaration of a server tool being decided before the request goes upstream.
    server: bool = False
    #: The toolset the called tool is a member of (Anthropic browser / computer toolsets, a Responses
    #: ``namespace``...): a policy on the toolset applies to each of its members.
    toolset: str | None = None
    #: Set when the proxy does not understand the answer part this call stands for (not in its family's
    #: declared table, see ``providers/shapes.py``): the call is refused whatever the policies, with this reason.
    refuse: str | None = None

    @property
    def unreadable(self) -> bool:
        """Arguments that should be JSON but could not be read even leniently (conditions cannot see them)."""
        return isinstance(self.arguments, str) and not self.freeform


@dataclass
class ToolResult:
    """The result of a tool call that the client sends back to the model.

    ``trusted`` starts as ``None`` (undecided, which counts as untrusted); ``on_tool_result`` hooks set it.
    ``content`` is the result as text (JSON results stay JSON text). ``document`` is the whole result as
    policy conditions see it, whatever its block types (text, documents, search results, JSON, images'
    text); ``None`` means ``content`` parsed as JSON (or its text). ``name`` is ``None`` when the result
    cannot be tied to exactly one call (an unknown or duplicated call id): no tool's policy then applies.
    ``server`` marks the result of a provider-executed tool (web search, web fetch, MCP, code execution).
    ``labels`` are the data labels ``on_tool_result`` hooks gave it (``add_labels`` policies): they join the
    context's labels, decided again on every request like trust (never remembered as a verdict).
    """

    tool_call_id: str | None
    name: str | None
    content: str
    is_error: bool = False
    trusted: bool | None = None
    blocked_reason: str | None = None
    document: Any = None
    server: bool = False
    labels: set[str] = field(default_factory=set)
    _ref: Any = field(default=None, repr=False, compare=False)
    _original: str | None = field(default=None, repr=False, compare=False)

    @property
    def edited(self) -> bool:
        return self.content != self._original

    @property
    def original_content(self) -> str:
        """The content as the client or provider sent it, before any hook or policy replaced it."""
        return self._original if self._original is not None else self.content


@dataclass
class Message:
    """One conversation message. ``text`` is ``None`` when the message has no readable text part."""

    role: str
    text: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)
    _ref: Any = field(default=None, repr=False, compare=False)
    _original: str | None = field(default=None, repr=False, compare=False)

    @property
    def edited(self) -> bool:
        return self._ref is None or self.text != self._original


@dataclass
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass
class Response:
    """The model's answer, filled from the upstream response (or rebuilt from its stream)."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    #: The provider's id of the answer, where later requests can refer to it (Responses API).
    id: str | None = None


@dataclass(frozen=True)
class ProfileInfo:
    """The plain values of the profile the request came through (never an ORM object)."""

    id: str
    name: str
    consider_context_untrusted: bool = False
    token_hash: str | None = None  # set: requests must carry the profile's token (see profile_tokens.py)
    require_virtual_key: bool = False  # set: only callers with a virtual key of the profile (credentials.py)
    metadata_only: bool | None = None  # record no bodies; None follows ARCHESTRA_INTERACTION_METADATA_ONLY


@dataclass(frozen=True)
class ClientInfo:
    """Optional caller identifiers from ``X-Archestra-Session-Id`` / ``-User-Id`` / ``-Agent-Id``."""

    session_id: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    #: The virtual key (id and name) that authenticated the request, if one did (credentials.py).
    virtual_key_id: str | None = None
    virtual_key_name: str | None = None
    #: Who called (identity/callers.py): the person and the team the request counts for, if known.
    person_id: str | None = None
    person_email: str | None = None
    team_id: str | None = None
    team_name: str | None = None
    #: The provider subscription that pays for the request (``claude``, ``chatgpt``), if one does.
    subscription: str | None = None


@dataclass
class BlockedCall:
    """A tool call the proxy refused, and why."""

    tool: str
    arguments: Any
    reason: str


@dataclass
class Exchange:
    """One request/response exchange as hooks see it."""

    provider: str
    profile: ProfileInfo
    model: str
    stream: bool = False
    messages: list[Message] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    client: ClientInfo = field(default_factory=ClientInfo)
    response: Response | None = None
    blocked: list[BlockedCall] = field(default_factory=list)
    #: Context the model reads that the proxy cannot see (Gemini ``cachedContent``, a stored conversation):
    #: each entry says what; any entry makes the context untrusted.
    unseen_context: list[str] = field(default_factory=list)
    #: Names of tools the model called that the request did not declare (flagged; refused when untrusted).
    undeclared_calls: list[str] = field(default_factory=list)
    #: Monitor mode (the profile's or the global setting): calls that would have been blocked (they went through).
    would_block: list[BlockedCall] = field(default_factory=list)
    #: Monitor mode: results a policy would have blocked or sanitised (sent unchanged), ``{tool, tool_call_id,
    #: action, reason}`` each.
    would_block_results: list[dict[str, Any]] = field(default_factory=list)
    #: Monitor mode: refusals of the whole request or answer by an ``on_request`` / ``on_response`` hook (the
    #: operator's own included) that did not happen, ``{stage, reason}`` each.
    would_refuse: list[dict[str, Any]] = field(default_factory=list)
    #: Tool results found inside the answer itself (provider-executed tools), decided like the request's.
    answer_results: list[ToolResult] = field(default_factory=list)
    #: The answer's decisions in order, ``(results, calls)`` each: what policy replay re-decides when the
    #: stored answer cannot show it (a stream, or calls an enforced refusal took out of the answer).
    decided: list[tuple[list[ToolResult], list[ToolCall]]] = field(default_factory=list)
    #: Free space for hooks to share values across stages of the same exchange.
    state: dict[str, Any] = field(default_factory=dict)
    _original_model: str = field(default="", repr=False, compare=False)
    _original_tools: tuple[str, ...] = field(default=(), repr=False, compare=False)
    _original_messages: list[int] = field(default_factory=list, repr=False, compare=False)
    _completer: Callable[[str, str], str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.freeze_original()

    def freeze_original(self) -> None:
        """Remember the parsed state so that :meth:`edited` can tell what hooks changed."""
        self._original_model = self.model
        self._original_tools = tuple(tool.name for tool in self.tools)
        self._original_messages = [id(m) for m in self.messages]

    def complete(self, prompt: str, system: str = "") -> str:
        """Ask the request's own model a one-off question (same provider, same client key); its text answer.

        Not streamed, not passed through hooks. Raises on upstream failure (a hook that lets it propagate
        fails closed).
        """
        if self._completer is None:
            raise RuntimeError("this exchange has no upstream to ask")
        return self._completer(prompt, system)

    @property
    def tool_results(self) -> list[ToolResult]:
        """Every tool result in the conversation, in order."""
        return [result for message in self.messages for result in message.tool_results]

    @property
    def context_trusted(self) -> bool:
        """False once any tool result the model read (in the request or earlier in the same answer) is not
        marked trusted, when context the proxy cannot see is referenced, or when the profile distrusts every
        context."""
        if self.profile.consider_context_untrusted or self.unseen_context:
            return False
        return (all(result.trusted is True for result in self.tool_results)
                and all(result.trusted is True for result in self.answer_results))

    @property
    def context_labels(self) -> set[str]:
        """The labels the context holds: those of every tool result the model read (in the request, remembered
        from earlier in a chain, or earlier in the same answer), and :data:`UNTRUSTED` when the context is not
        trusted. Context the proxy cannot see may hold any label (``unseen_context``; see ``security/labels.py``)."""
        labels = {label for result in (*self.tool_results, *self.answer_results) for label in result.labels}
        if not self.context_trusted:
            labels.add(UNTRUSTED)
        return labels

    def edited(self) -> bool:
        """Whether a hook changed anything that must be written back into the native request."""
        return (
            self.model != self._original_model
            or tuple(tool.name for tool in self.tools) != self._original_tools
            or [id(m) for m in self.messages] != self._original_messages
            or any(m.edited for m in self.messages)
            or any(r.edited for r in self.tool_results)
        )
