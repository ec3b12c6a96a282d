"""Relays an OpenAI-style chat-completion SSE stream: text passes at once, tool calls wait for a decision.

Each choice is followed on its own. The parts of a chunk that carry tool-call material (``tool_calls`` and
legacy ``function_call`` fragments, and the choice's finish) are held until the choice finishes (or the
stream ends); the rest of the chunk (other choices, text in the same delta) passes at once. A chunk that is
wholly held or wholly passed keeps its bytes; one that mixes both is split into one chunk per part.

The calls are decided on what an accumulating client (the SDKs, LangChain) builds: fragments concatenated
per call, names included. Allowed, the held parts are replayed; refused, they are replaced by one chunk with
the refusal text and ``finish_reason: "stop"``, and the choice's later parts are dropped. So that every
client builds the calls that were decided, choices and calls are numbered densely in order of appearance
(a stream that numbers them otherwise is renumbered), a new ``id`` with a new name on an index already used
starts a new call (Ollama reuses index 0 for parallel calls), and a stream with more choices than the
request asked for is refused. Fragments that extend a call already replayed are decided with the whole call;
a fragment for a call after the stream moved on to another call cuts the stream (the openai SDK hands a call
to the application, ``arguments.done``, as soon as the next one starts).
What the provider's own search and tools read (a delta's ``annotations`` and ``executed_tools``, a chunk's
``citations`` and ``search_results``: chat_search.py) is judged before the choice's calls are decided. A
choice may carry the message so far beside its delta (Perplexity): only its fields read as text pass.

Most of a stream is text: a first choice with only text is passed without the general reading (``_text_only``),
and a chunk that is the last such chunk's bytes with another JSON string as its text is not read whole at all
(``_templated``). Both do to the relay's state exactly what the general reading would (tests/test_fast_reading.py).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from ..exchange import Exchange, ToolCall, ToolResult
from ..proxy_error import ProxyError
from ..streaming.event_template import EventTemplate, one_event
from ..streaming.sse import SSEEvent, encode_event
from ..strict_json import loads_strict
from .chat_context import empty
from .chat_search import message_results, response_results
from .chat_usage import usage_of
from .openai_calls import CALL_FIELDS, TABLE
from .openai_fragments import StreamedCall
from .relay import StreamRelay
from .shapes import Reading, refused_reason
from .wire import compact_json

Decide = Callable[[list[ToolCall], list[ToolResult]], "str | None"]
#: A text-only chunk cut at its text (``_template_of``), its model, and the bytes before and after the text as the
#: client gets them.
Template = tuple[EventTemplate, Any, bytes, bytes]
USAGE_NULL = b',"usage":null'
#: A choice that is only text (most of a stream): these keys, ``index`` 0 and nothing waiting. Read by
#: ``_text_only`` as ``_plan`` would read it (tests/test_fast_reading.py holds the two to the same bytes).
_TEXT_CHOICE_KEYS = frozenset({"index", "delta", "logprobs", "finish_reason"})
_TEXT_DELTA_KEYS = frozenset(key for key in ("content", "role")
                             if TABLE.in_answer("delta", key) in (Reading.INERT, Reading.OPAQUE))


def _usage_only(raw: bytes) -> bool:
    """The usage chunk ``include_usage`` adds: no choices, only the usage."""
    if b'"choices":[]' not in raw and b'"choices": []' not in raw:
        return False
    data = raw.partition(b"data:")[2].strip()
    try:
        chunk = loads_strict(data)
    except ValueError:
        return False
    return isinstance(chunk, dict) and chunk.get("choices") == [] and chunk.get("usage") is not None


class _Choice:
    """What the relay knows of one choice: its calls, and the parts it holds until they are decided."""

    def __init__(self, out_index: int) -> None:
        self.out_index = out_index
        self.calls: list[StreamedCall] = []
        self.slots: dict[Any, int] = {}  # a fragment's index -> position in ``calls``
        self.legacy: StreamedCall | None = None  # the legacy ``function_call``
        self.held: list[bytes] = []
        self.holding = False
        self.last: dict[str, Any] = {}  # the last held chunk (one choice), the refusal's envelope
        self.role_sent = self.role_held = self.refused = False
        self.found: list[ToolResult] = []  # what the provider's search and tools read, not yet judged
        self.current: int | None = None  # the call the last fragment went to
        self.left: set[int] = set()  # calls the stream moved on from: clients take them as done


class OpenAIStreamRelay(StreamRelay):
    def __init__(self, exchange: Exchange, decide: Decide, error_body: Callable[[ProxyError], dict],
                 choices: int = 1, strip_usage: bool = False):
        super().__init__(exchange)
        self._strip_usage = strip_usage  # the proxy added include_usage: the client gets the stream it asked for
        self._decide = decide
        self._error_body = error_body
        self._max_choices = max(choices, 1)
        self._choices: dict[int, _Choice] = {}
        self._searched: list[ToolResult] = []  # the last chunk-level citations (repeated as they grow)
        #: The last text-only chunk's bytes around its text, and its model: a chunk that is these bytes around
        #: another JSON string is the same chunk with other text (``_templated``).
        self._template: Template | None = None

    # -- StreamRelay ---------------------------------------------------------------------------
    def last_template(self) -> Template | None:
        return self._template if self._template_applies() else None

    def take_like_last(self, template: Template, chunk: bytes) -> bytes | None:
        # The last text-only chunk with other text: not decoded as SSE either.
        cut, model, client_head, client_tail = template
        values = cut.match(chunk)
        if values is None:
            return None
        self.text.append(values[0])
        if model:
            self.response.model = model
        if not self._strip_usage:
            return chunk
        # What ``_out`` makes of it: the envelope without ``"usage":null``, made once with the template (the text,
        # one JSON string's body, holds no bare quote, so no part of what is removed; and the chunk is no
        # usage-only chunk: its choices are the template's one text choice).
        return client_head + chunk[len(cut.head):len(chunk) - len(cut.tail)] + client_tail

    def feed(self, event: SSEEvent) -> Iterable[bytes]:
        return self._out(self._relay(event))

    def _out(self, out: Iterable[bytes]) -> Iterable[bytes]:
        if not self._strip_usage:
            return out
        # Without include_usage the chunks carry no ``usage`` key, and no usage-only chunk comes last.
        return [part.replace(USAGE_NULL, b"") for part in out if not _usage_only(part)]

    def _relay(self, event: SSEEvent) -> Iterable[bytes]:
        if event.is_done:
            self.ended = True
            return [*self._release_all(), event.raw]
        text = self._templated(event.raw)
        if text is not None:
            self.text.append(text)
            return [event.raw]
        chunk = self._json(event)
        choices = chunk.get("choices") if chunk is not None else None
        if choices is not None and not isinstance(choices, list):
            raise ValueError("choices is not an array")  # clients reading choices[0] would find one unseen
        if chunk is None or not choices:
            return [event.raw]
        single = len(choices) == 1
        if single and self._text_only(choices[0]):
            self._template = _template_of(event.raw, chunk, self._strip_usage)
            return [event.raw]
        seen = [_index(c.get("index"), 0) for c in choices if isinstance(c, dict)]
        if len(set(seen)) < len(seen):
            # Clients apply the parts one after the other; deciding them as one would not be what they build.
            raise ValueError("a chunk naming one choice twice")
        plans = [self._plan(chunk, choice, single) for choice in choices]
        if len(plans) == 1 and plans[0][1]:
            state, _, now, held = plans[0]
            if held is not None:
                return self._place(state, "hold", event.raw, chunk)
            return self._place(state, "pass", event.raw, chunk) if now is not None else []
        out: list[bytes] = []
        for state, _, now, held in plans:
            if now is not None:
                out += self._place(state, "pass", encode_event(compact_json(now)), now)
            if held is not None:
                out += self._place(state, "hold", encode_event(compact_json(held)), held)
        return out

    def finish(self) -> Iterable[bytes]:
        out = list(self._release_all())
        self.sync_view()
        return out

    def error_bytes(self, message: str) -> bytes:
        # The openai SDK raises APIError on any data object with an "error" key, whatever the provider.
        error = {"message": message, "type": "upstream_error", "param": None, "code": None}
        return encode_event(compact_json({"error": error}))

    # -- reading a chunk ---------------------------------------------------------------------------
    def _json(self, event: SSEEvent) -> dict[str, Any] | None:
        if event.data is None or not event.data.strip():
            return None
        # ValueError (not JSON, or JSON that parsers read differently): the stream ends with an error event,
        # and nothing undecided passes.
        chunk = loads_strict(event.data)
        if not isinstance(chunk, dict):
            raise ValueError("a stream chunk that is not a JSON object")
        if isinstance(chunk.get("model"), str) and chunk["model"]:
            # Azure's prompt-filter and annotation chunks name no model (``""``): the answer's model stays.
            self.response.model = chunk["model"]
        usage = usage_of(chunk.get("usage"))
        if usage is not None:
            self.response.usage = usage
        self._searched = response_results(chunk) or self._searched
        return chunk

    def _text_only(self, choice: Any) -> bool:
        """A first choice carrying text and nothing else, after its first chunk: taken in (its text) and
        passed as it came, without ``_plan``'s general reading. False: ``_plan`` reads it."""
        if type(choice) is not dict or not _TEXT_CHOICE_KEYS.issuperset(choice) or choice.get("index") != 0 \
                or type(choice.get("index")) is not int or choice.get("logprobs") is not None \
                or choice.get("finish_reason") is not None:
            return False
        delta, state = choice.get("delta"), self._choices.get(0)
        if type(delta) is not dict or not _TEXT_DELTA_KEYS.issuperset(delta) or type(delta.get("content")) is not str \
                or state is None or state.out_index != 0 or state.refused or ("role" in delta and not state.role_sent):
            return False
        self.text.append(delta["content"])
        return True

    def _templated(self, raw: bytes) -> str | None:
        """The text of a chunk that is the last text-only chunk with other text (the same bytes around another
        JSON string); None: the chunk is read in full. What reading it in full would do to the relay's state is
        done here too: the text taken in, the model set again."""
        if not self._template_applies():
            return None
        template, model, _, _ = self._template  # type: ignore[misc]
        values = template.match(raw)
        if values is None:
            return None
        if model:
            self.response.model = model
        return values[0]

    def _template_applies(self) -> bool:
        state = self._choices.get(0)
        return self._template is not None and state is not None and not state.refused

    def _state(self, index: int) -> _Choice:
        state = self._choices.get(index)
        if state is None:
            if len(self._choices) >= self._max_choices:
                raise ValueError("the stream has more choices than the request asked for")
            state = self._choices[index] = _Choice(len(self._choices))
        return state

    def _plan(self, chunk: dict[str, Any], choice: Any, single: bool
              ) -> tuple[_Choice, bool, dict | None, dict | None]:
        """How one choice of a chunk goes out: ``(state, as is, passed part, held part)``.

        ``as is``: the chunk's own bytes may go out (the part that is not None says whether they pass or
        are held; ``single`` chunks only); otherwise each part is a rebuilt one-choice chunk. Both parts
        None: nothing goes out.
        """
        if not isinstance(choice, dict):
            raise ValueError("a stream choice that is not a JSON object")
        state = self._state(_index(choice.get("index"), 0))
        if state.refused:
            return state, True, None, None  # the client was told this choice ended with the refusal
        delta = choice.get("delta")
        if delta is None:
            delta = {}
        if not isinstance(delta, dict):
            raise ValueError("a stream delta that is not a JSON object")
        _read_delta(delta)
        _read_message(choice.get("message"))
        renumbered = self._accumulate(state, delta)
        state.found += message_results(delta) + message_results(choice.get("message"))
        if state.out_index == 0 and isinstance(delta.get("content"), str):
            self.text.append(delta["content"])
        if choice.get("finish_reason") and state.out_index == 0:
            self.response.finish_reason = choice["finish_reason"]
        usage = usage_of(choice.get("usage")) if state.out_index == 0 else None
        if usage is not None:  # Kimi (Moonshot) puts a stream's usage in its last choice
            self.response.usage = usage
        # Only call material, and the finish of a choice whose calls wait, wait for the decision.
        held = any(delta.get(field) not in (None, []) for field in CALL_FIELDS) \
            or (state.holding and bool(choice.get("finish_reason")))
        as_is = single and renumbered is None and choice.get("index") == state.out_index
        if as_is and not held:
            return state, True, chunk, None  # the common case: text passing as it came
        if renumbered is not None:
            delta = {**delta, "tool_calls": renumbered}
        choice = {**choice, "index": state.out_index, "delta": delta}
        if not held:
            return state, as_is, _one(chunk, choice), None
        passing = {key: value for key, value in delta.items() if key not in CALL_FIELDS}
        if not any(value not in (None, "", [], {}) for key, value in passing.items() if key != "role"):
            return state, as_is, None, _one(chunk, choice)
        # Text (or reasoning, audio, refusal) in the same delta as call material passes at once.
        calls = {key: delta[key] for key in CALL_FIELDS if key in delta}
        now = _one(chunk, {**choice, "delta": passing, "finish_reason": None})
        later = None
        if calls or choice.get("finish_reason"):
            later = _one(chunk, {**{k: v for k, v in choice.items() if k != "logprobs"}, "delta": calls})
        return state, False, now, later

    def _accumulate(self, state: _Choice, delta: dict[str, Any]) -> list[Any] | None:
        """Add a delta's call fragments to the choice's calls; the fragments renumbered when a client would
        otherwise merge calls differently (None when they keep their numbers)."""
        legacy = delta.get("function_call")
        if legacy is not None:
            state.legacy = state.legacy or StreamedCall(None)
            state.legacy.add({"function": legacy} if isinstance(legacy, dict) else {})
            state.holding = True
        fragments = delta.get("tool_calls")
        if fragments in (None, []):
            return None
        if not isinstance(fragments, list):
            raise ValueError("tool_calls is not an array")
        state.holding = True
        renumbered, changed = [], False
        for fragment in fragments:
            if not isinstance(fragment, dict):
                renumbered.append(fragment)
                continue
            position = self._position(state, fragment)
            if position in state.left:
                # The openai SDK hands a call to the application (``arguments.done``) as soon as the stream moves
                # on to another call: a later fragment would change a call the application already has.
                raise ValueError("a tool call's fragment after the stream moved on to another call")
            if state.current is not None and position != state.current:
                state.left.add(state.current)
            state.current = position
            state.calls[position].add(fragment)
            if "index" in fragment and fragment["index"] != position:
                fragment, changed = {**fragment, "index": position}, True
            renumbered.append(fragment)
        return renumbered if changed else None

    @staticmethod
    def _position(state: _Choice, fragment: dict[str, Any]) -> int:
        slot = _index(fragment.get("index"), None) if "index" in fragment else None
        position = state.slots.get(slot) if slot is not None else None
        call_id = fragment.get("id")
        if position is not None and call_id and state.calls[position].id and call_id != state.calls[position].id \
                and _names_a_tool(fragment):
            position = None  # a whole new call on an index already used (Ollama)
        if position is None:
            state.calls.append(StreamedCall(call_id if isinstance(call_id, str) else None))
            position = len(state.calls) - 1
            if slot is not None:
                state.slots[slot] = position
        call = state.calls[position]
        if not call.id and isinstance(call_id, str):
            call.id = call_id  # ids may arrive after the first fragment
        return position

    # -- holding and deciding ---------------------------------------------------------------------
    def _place(self, state: _Choice, how: str, raw: bytes, chunk: dict[str, Any]) -> list[bytes]:
        if state.refused:
            return []  # the client was told this choice ended with the refusal
        choice = chunk["choices"][0]
        if how == "pass":
            state.role_sent = state.role_sent or bool((choice.get("delta") or {}).get("role"))
            return [raw]
        state.held.append(raw)
        state.last = chunk
        state.role_held = state.role_held or bool((choice.get("delta") or {}).get("role"))
        return self._settle(state) if choice.get("finish_reason") else []

    def _settle(self, state: _Choice) -> list[bytes]:
        held, state.held, state.holding = state.held, [], False
        fresh = [call for call in [*state.calls, state.legacy] if call is not None and call.fresh]
        calls = [tool_call for call in fresh for tool_call in call.calls()]
        for call in fresh:
            call.fresh = False
        results = [*self._searched, *state.found] if calls else []
        if calls:
            state.found = []
        refusal = self._decide(calls, results) if calls else None
        if refusal is None:
            self.response.tool_calls += calls
            state.role_sent = state.role_sent or state.role_held
            return held
        state.refused = True
        if state.out_index == 0:
            self.text.append(refusal)
            self.response.finish_reason = "stop"
        delta: dict[str, Any] = {"content": refusal}
        if not state.role_sent:
            delta = {"role": "assistant", **delta}
            state.role_sent = True
        choice = {"index": state.out_index, "delta": delta, "logprobs": None, "finish_reason": "stop"}
        return [encode_event(compact_json({**state.last, "choices": [choice]}))]

    def _release_all(self) -> list[bytes]:
        out: list[bytes] = []
        for state in self._choices.values():
            if (state.holding or state.held) and not state.refused:
                out += self._settle(state)
        return out


def _template_of(raw: bytes, chunk: dict[str, Any], strip_usage: bool) -> Template | None:
    """A text-only chunk cut at its text, when the rest says nothing but the envelope (the key ``content`` once, no
    usage, nothing the provider's search read) and the event is one ``data:`` line (as one chunk of its own is
    decoded: ``feed_bytes``); None otherwise. With it, the model, and the bytes before and after the text that the
    client gets."""
    if chunk.get("usage") is not None or response_results(chunk) or not one_event(raw):
        return None
    template = EventTemplate.of(raw, strings=("content",))
    if template is None:
        return None
    model = chunk.get("model")
    client_head, client_tail = template.head, template.tail
    if strip_usage:
        client_head, client_tail = client_head.replace(USAGE_NULL, b""), client_tail.replace(USAGE_NULL, b"")
    return template, model if isinstance(model, str) and model else None, client_head, client_tail


def _read_delta(delta: dict[str, Any]) -> None:
    """Cut the stream at a delta field or content part the table does not hold, before it could pass."""
    for key, value in delta.items():
        if not empty(value) and TABLE.in_answer("delta", key) is Reading.REFUSED:
            raise ValueError(refused_reason(TABLE.family, "stream delta field", key))
    content = delta.get("content")
    if content is not None and not isinstance(content, (str, list)):
        raise ValueError("a stream delta content that is neither text nor parts")
    for part in content if isinstance(content, list) else ():
        kind = part.get("type") if isinstance(part, dict) else None
        if TABLE.in_answer("content", kind) is Reading.REFUSED:
            raise ValueError(refused_reason(TABLE.family, "content part", kind))


def _read_message(message: Any) -> None:
    """Cut the stream at a choice's message (beside its delta) holding anything but text and results: calls
    there would reach a client that reads the message, undecided."""
    if message is None:
        return
    if not isinstance(message, dict):
        raise ValueError("a stream choice's message that is not a JSON object")
    for key, value in message.items():
        if not empty(value) and TABLE.in_answer("field", key) not in (Reading.INERT, Reading.OPAQUE, Reading.RESULT):
            raise ValueError(refused_reason(TABLE.family, "stream message field", key))
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise ValueError("a stream message content that is not text")


def _one(chunk: dict[str, Any], choice: dict[str, Any]) -> dict[str, Any]:
    return {**chunk, "choices": [choice]}


def _index(value: Any, default: int | None) -> Any:
    """A choice or fragment index as the SDKs read it; anything but a whole number is refused."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"an index that is not a number: {value!r}")
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except ValueError:
        number = None
    if number is None:
        raise ValueError(f"an index that is not a whole number: {value!r}")
    return number


def _names_a_tool(fragment: dict[str, Any]) -> bool:
    return any(isinstance(part, dict) and part.get("name") for part in (fragment.get("function"),
                                                                         fragment.get("custom")))
