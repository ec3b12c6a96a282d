"""Project instruction files (``CLAUDE.md``, ``AGENTS.md``...) that coding agents put in the conversation.

Anyone who can write to a repository wrote them, so they are what a file read is: results of the pseudo-tool
``project_instructions``, untrusted until an operator trusts them (a ``mark_as_trusted`` result policy on that
tool), never the user's own instructions. Claude Code's format is read in ``anthropic_reminders``; Codex sends
each file as a user message part of its own, ``# AGENTS.md instructions for <folder>`` then the file between
``<INSTRUCTIONS>`` tags (before that, the files between ``<user_instructions>`` tags).
"""
from __future__ import annotations

import re
from typing import Any

from ..exchange import Tool

#: The pseudo-tool whose results are the project instruction files a coding agent puts in the conversation.
INSTRUCTIONS_TOOL = "project_instructions"
_CODEX = re.compile(r"\A\s*(?:# AGENTS\.md instructions for |<user_instructions>)")


def instructions_tool() -> Tool:
    """The pseudo-tool declared for discovery when a request carries project instructions."""
    return Tool(INSTRUCTIONS_TOOL, "Project instruction files (CLAUDE.md, AGENTS.md...) a coding agent put in the "
                                   "conversation: trust them with a mark_as_trusted result policy on this tool.")


def codex_instructions(content: Any, kinds: tuple[str, ...]) -> list[tuple[int | None, str]]:
    """The project instruction files in a Codex user message's content, ``(part position, text)`` each; the
    position is None when the content is one string."""
    if isinstance(content, str):
        return [(None, content)] if _CODEX.match(content) else []
    if not isinstance(content, list):
        return []
    return [(position, part["text"]) for position, part in enumerate(content)
            if isinstance(part, dict) and part.get("type") in kinds and isinstance(part.get("text"), str)
            and _CODEX.match(part["text"])]
