"""The ordered hook registry and the fail-closed runner."""
from __future__ import annotations

import logging
import traceback
from typing import Any, Callable

from . import Block
from .stages import STAGES

log = logging.getLogger("archestra.hooks")

HookFn = Callable[..., object]


class HookRegistry:
    """Built-in hooks first, then operators' files, each stage in registration order."""

    def __init__(self) -> None:
        self._hooks: dict[str, list[tuple[str, HookFn]]] = {name: [] for name in STAGES}

    def register(self, stage: str, func: HookFn, label: str | None = None) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown hook stage {stage!r}")
        self._hooks[stage].append((label or getattr(func, "__qualname__", repr(func)), func))

    def labels(self) -> list[str]:
        """Every registered hook's label, stage by stage in running order (``builtin:...`` or ``file.py:stage``)."""
        return [label for hooks in self._hooks.values() for label, _ in hooks]

    def has(self, stage: str) -> bool:
        return bool(self._hooks[stage])

    def run(self, stage: str, *args: Any) -> None:
        """Run every hook of ``stage``. Block propagates; any other exception becomes a Block."""
        for label, func in self._hooks[stage]:
            try:
                func(*args)
            except Block:
                raise
            except Exception as exc:
                log.error("hook %s crashed, blocking (fail closed):\n%s", label, _user_frames(exc))
                raise Block(f"security hook {label} failed ({exc.__class__.__name__})") from exc

    def run_quietly(self, stage: str, *args: Any) -> None:
        """Run an observational stage: failures are logged, never raised."""
        for label, func in self._hooks[stage]:
            try:
                func(*args)
            except Exception as exc:
                log.error("hook %s failed in %s (ignored):\n%s", label, stage, _user_frames(exc))


def _user_frames(exc: BaseException) -> str:
    """The traceback without the registry's own frame: the user's code is what matters."""
    frames = traceback.extract_tb(exc.__traceback__)[1:]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()
