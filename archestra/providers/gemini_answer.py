"""A Gemini answer read through the family's declared table (``gemini_format.TABLE``), candidate by candidate
and part by part, the way a client reads it: what it would run is decided, what the proxy does not understand
is refused.

Every field of every part is read by its own row (a part carrying a ``functionCall`` and an ``executableCode``
is two calls). The calls of a candidate are decided in groups, in the order of its parts:

* a call the provider already ran or the client may run as code (``executableCode``: ``code_execution``; a
  server-side ``toolCall``, named from its ``toolType``) is decided with the results that came before it;
* the client's ``functionCall`` calls are decided last, with every result of the candidate (result parts,
  grounding and URL context metadata, which may arrive after the call in a stream).

A part, candidate or response field the table does not hold is a call refused whatever the policies (a
non-streamed answer), or ends the stream with an error (``strict``: a stream already under way).
"""
from __future__ import annotations

from typing import Any

from ..exchange import ToolCall, ToolResult
from ..streaming import StreamFormatError
from .gemini_format import FAMILY, TABLE, CallAssembler, camel, field, fields, snake
from .gemini_tools import COMPUTER_FUNCTIONS, COMPUTER_USE, field_result, metadata_results, tool_type_name
from .shapes import Reading, refused_reason

CALL_FIELDS = ("functionCall", "executableCode", "toolCall")
_CALL_OBJECTS = {"functionCall": "function call", "executableCode": "code", "toolCall": "tool call"}

Group = tuple[list[ToolCall], list[ToolResult]]


def is_call_part(part: Any) -> bool:
    """A part that carries a call (under either spelling)."""
    return isinstance(part, dict) and any(field(part, name) is not None for name in CALL_FIELDS)


class Unreadable(StreamFormatError):
    """An answer holds something the declared table does not: a stream is cut."""


def check_response(data: dict[str, Any]) -> None:
    """Raise :class:`Unreadable` when the response object has a field the table does not hold (the answer can
    then not be refused candidate by candidate)."""
    for where, kind in _undeclared("response", data):
        raise Unreadable(refused_reason(FAMILY, where, kind))


def _undeclared(where: str, obj: dict[str, Any]) -> list[tuple[str, str]]:
    found = [(where, key) for key in obj if key != snake(key) and snake(key) in obj]  # which one would Google read?
    found += [(where, name) for name, _ in fields(obj) if TABLE.in_answer(where, name) is Reading.REFUSED]
    return found


class CandidateReader:
    """One candidate of an answer, fed its chunks in order (one chunk for a non-streamed answer)."""

    def __init__(self, strict: bool) -> None:
        self._strict = strict
        self._assembler = CallAssembler()
        self._groups: list[Group] = []      # server-run calls, each with the results before it
        self._calls: list[ToolCall] = []    # client calls, decided last with every result
        self._pending: list[ToolResult] = []
        self._metadata: list[ToolResult] = []

    @property
    def has_calls(self) -> bool:
        return bool(self._groups or self._calls)

    @property
    def continuing(self) -> bool:
        """A function call said ``willContinue``: its arguments are not complete yet."""
        return self._assembler.continuing

    def add(self, candidate: Any) -> None:
        if not isinstance(candidate, dict):
            self._refuse("candidate", type(candidate).__name__)
            return
        for where, kind in _undeclared("candidate", candidate):
            self._refuse(where, kind)
        content = field(candidate, "content")
        if content is not None:
            self._content(content)
        metadata = metadata_results(candidate)
        if metadata:  # grounding metadata is repeated (cumulatively) on later chunks: the last one counts
            self._metadata = metadata

    def groups(self) -> list[Group]:
        """The decisions this candidate needs, in order."""
        return [*self._groups, *([(self._calls, self._pending + self._metadata)] if self._calls else [])]

    def _content(self, content: Any) -> None:
        if not isinstance(content, dict):
            self._refuse("candidate", "content")
            return
        for where, kind in _undeclared("content", content):
            self._refuse(where, kind)
        parts = content.get("parts")
        if parts is not None and not isinstance(parts, list):
            self._refuse("content", "parts")
            return
        for part in parts or ():
            self._part(part)

    def _part(self, part: Any) -> None:
        if not isinstance(part, dict):
            self._refuse("part", type(part).__name__)
            return
        for where, kind in _undeclared("part", part):
            self._refuse(where, kind)
        for name, value in fields(part):
            if name in CALL_FIELDS and not isinstance(value, dict):
                self._refuse("part", name)
                continue
            if name in CALL_FIELDS:
                self._inside(name, value)
            if name == "functionCall":
                self._calls += [_in_toolset(call) for call in self._assembler.add([{name: value}])]
            elif name in ("executableCode", "toolCall"):
                self._groups.append(([server_call(name, value)], self._pending))
                self._pending = []
            elif TABLE.in_answer("part", name) is Reading.RESULT:
                result = field_result(name, value)
                if result is None:
                    self._refuse("part", name)
                else:
                    self._pending.append(result)

    def _inside(self, name: str, value: dict[str, Any]) -> None:
        """The fields of a call object (and of its streamed argument pieces) are declared too."""
        for where, kind in _undeclared(_CALL_OBJECTS[name], value):
            self._refuse(where, kind)
        pieces = field(value, "partialArgs") if name == "functionCall" else None
        for piece in pieces if isinstance(pieces, list) else ([pieces] if pieces is not None else []):
            for where, kind in (_undeclared("partial arg", piece) if isinstance(piece, dict)
                                else [("partial arg", type(piece).__name__)]):
                self._refuse(where, kind)

    def _refuse(self, where: str, kind: str) -> None:
        reason = refused_reason(FAMILY, where, kind)
        if self._strict:
            raise Unreadable(reason)
        self._calls.append(ToolCall(None, f"{where} {kind}", {}, refuse=reason))


def server_call(name: str, value: Any) -> ToolCall:
    """The call an ``executableCode`` or ``toolCall`` part stands for (its whole object is the arguments).
    Code to execute is a call of ``code_execution`` that is not marked provider-run: a client may run it, so
    it is refused as an undeclared tool's call when the request did not declare code execution."""
    value = camel(value) if isinstance(value, dict) else {"value": value}
    if name == "executableCode":
        return ToolCall(value.get("id"), "code_execution", value)
    return ToolCall(value.get("id"), tool_type_name(value), value.get("args") or {}, server=True)


def _in_toolset(call: ToolCall) -> ToolCall:
    if call.name in COMPUTER_FUNCTIONS:
        call.toolset = COMPUTER_USE
    return call


def answer_groups(data: dict[str, Any]) -> list[tuple[int, list[ToolCall], list[ToolResult]]]:
    """The decisions a non-streamed answer needs: ``(candidate position, calls, results)``, in order."""
    check_response(data)
    candidates = data.get("candidates")
    if candidates is not None and not isinstance(candidates, list):
        raise ValueError("candidates that are not a list")
    groups = []
    for position, candidate in enumerate(candidates or ()):
        reader = CandidateReader(strict=False)
        reader.add(candidate)
        groups += [(position, calls, results) for calls, results in reader.groups()]
    return groups
