"""Tool output that Claude Code reports in conversation text instead of ``tool_result`` blocks.

For an ``@file`` mention (and a directory, image or PDF) Claude Code (2.1.x) runs the tool itself and sends
two meta messages, their text wrapped in ``<system-reminder>``: ``Called the Read tool with the following
input: {"file_path": ...}`` and ``Result of calling the Read tool:\\n<the file, numbered>`` (a directory:
the same with ``Bash``). An image or PDF result has no marker: the blocks that follow the "Called" report are
the result. A file changed on disk comes back as ``Note: <file> changed on disk since you last read it ...
Here are the relevant changes``; an ``@server:resource`` mention as a text block "Full contents of
resource:" followed by a block with the resource (what Claude Code's ``ReadMcpResourceTool`` returns). All of
these are results of the tool they name (untrusted unless a policy trusts that tool's results), never the
user's instructions. They are looked for in ``user`` and ``system`` messages (and the system prompt); the
"Called" report itself is the client's own text.

Project instruction files (``CLAUDE.md``, ``AGENTS.md``, the user's and the managed ones) come in a reminder of
their own, ``Codebase and user instructions are shown below. ...`` then ``Contents of <path> (<kind>):`` per
file, at the start of the conversation (before 2.1: the ``# claudeMd`` section of the ``As you answer the
user's questions`` reminder); one found beside a file read later comes as ``Contents of <path>:``.
Each such reminder is a result of the pseudo-tool ``project_instructions``: files anyone who can write to a
repository wrote, untrusted like any file read until an operator trusts them (a ``mark_as_trusted`` result
policy on that tool). It is looked for before the other markers, at the start of the reminder only, so that
the text of a file cannot pass for another tool's report.
"""
from __future__ import annotations

import re
from typing import Any

from .instructions import INSTRUCTIONS_TOOL, instructions_tool  # noqa: F401  (the pseudo-tool, shared by families)

_RESULT = re.compile(r"Result of calling the (\S+) tool:")
_CALLED = re.compile(r"Called the (\S+) tool with the following input:")
_CHANGED = re.compile(r"changed on disk since you last read it")
_RESOURCE = "Full contents of resource:"
_INSTRUCTIONS = re.compile(r"\A\s*<system-reminder>\s*(?:Codebase and user instructions are shown below|"
                           r"Contents of [^\n]+:\n|"
                           # Claude Code before 2.1: the files are the ``claudeMd`` section of the context reminder
                           r"As you answer the user's questions, you can use the following context:\n"
                           r"(?:.*\n)*?# claudeMd\n)")
#: Claude Code's file-reading tool: what a changed-file note reports the output of.
FILE_TOOL = "Read"
#: Claude Code's tool for MCP resources: what an ``@server:resource`` mention reports the output of.
RESOURCE_TOOL = "ReadMcpResourceTool"


class Reminders:
    """Reads the pieces (string contents, blocks) of a conversation's user and system messages in order."""

    def __init__(self) -> None:
        self._pending: str | None = None  # a reported call whose result has no marker of its own
        self._next: str | None = None  # the next piece, whatever it is, is this tool's output

    def reset(self) -> None:
        """An assistant turn: a reported call never reaches past it."""
        self._pending = self._next = None

    def result_of(self, piece: Any) -> str | None:
        """The tool whose output ``piece`` (a string or a content block) is, or None for ordinary content."""
        if self._next is not None:
            name, self._next = self._next, None
            return name
        text = piece if isinstance(piece, str) else (
            piece.get("text") if isinstance(piece, dict) and piece.get("type") == "text" else None)
        if not isinstance(text, str):
            return self._pending
        if _INSTRUCTIONS.match(text):
            self._pending = None
            return INSTRUCTIONS_TOOL
        if found := _RESULT.search(text):
            self._pending = None
            return found.group(1)
        if found := _CALLED.search(text):
            self._pending = found.group(1)
            return None
        self._pending = None
        if text.strip() == _RESOURCE:
            self._next = RESOURCE_TOOL
            return None
        return FILE_TOOL if _CHANGED.search(text) else None

