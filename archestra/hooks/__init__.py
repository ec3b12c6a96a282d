"""Security hooks: the one registry that built-in features and operators' hook files share."""
from __future__ import annotations


class Block(Exception):
    """Raised by a hook to refuse what its stage is deciding; ``reason`` is shown to the client."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


from .registry import HookRegistry  # noqa: E402
from .stages import STAGES, Stage  # noqa: E402

__all__ = ["Block", "HookRegistry", "STAGES", "Stage"]
