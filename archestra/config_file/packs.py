"""The hook point for policy packs (issue 33, branch fc-packs): ``packs:`` at the top of the file (for every
profile) and in a profile name packs whose ``tools`` have the profile ``tools`` shape.

:func:`expand_packs` is called once, by ``file_format.load_text``, on every state read from a file, after it was
validated and before ``plan``, ``apply`` and the policy tests see it. It returns the state to apply: the packs
code turns the named packs into template or profile policies here (and records problems on ``source`` with
``source.error(path, message)``, so that they name the file, line and field). Until packs are installed, the
names are kept in the state (``state["packs"]``, ``profile["packs"]``) and change nothing.
"""
from __future__ import annotations

from typing import Any

from .source import Source


def expand_packs(state: dict[str, Any], source: Source) -> dict[str, Any]:
    return state
