"""Loads operators' hook files (``ARCHESTRA_HOOKS``) and validates them at startup.

Each file is imported under a private module name. Module-level functions whose names start with ``on_``
must be known stages with the stage's parameters; anything else is a startup error, not a runtime surprise.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Callable

from .stages import STAGES


class HookLoadError(RuntimeError):
    """A hook file cannot be used; the message names the file and what is wrong."""


def load_hook_file(path: str) -> list[tuple[str, Callable[..., object], str]]:
    """Import one hook file; return ``(stage, function, label)`` for each stage function it defines."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise HookLoadError(f"hook file {path!r} does not exist")
    digest = hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"_archestra_hook_{digest}", file)
    if spec is None or spec.loader is None:
        raise HookLoadError(f"hook file {path!r} cannot be imported (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as a normal import would: dataclasses and pickling need it
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[spec.name]
        raise HookLoadError(f"hook file {path!r} failed to import: {exc.__class__.__name__}: {exc}") from exc
    found = []
    for name, value in vars(module).items():
        if not name.startswith("on_") or not callable(value):
            continue
        if getattr(value, "__module__", None) != module.__name__:
            continue  # imported from elsewhere, not defined in this file
        stage = STAGES.get(name)
        if stage is None:
            known = ", ".join(STAGES)
            raise HookLoadError(f"hook file {path!r}: {name}() is not a hook stage (known: {known})")
        _check_signature(path, name, value, len(stage.params))
        found.append((name, value, f"{file.name}:{name}"))
    if not found:
        raise HookLoadError(f"hook file {path!r} defines no hook function ({', '.join(STAGES)})")
    return found


def _check_signature(path: str, name: str, func: Callable[..., object], count: int) -> None:
    if inspect.iscoroutinefunction(func) or inspect.isgeneratorfunction(func):
        raise HookLoadError(f"hook file {path!r}: {name}() must be a plain synchronous function")
    try:
        inspect.signature(func).bind(*range(count))
    except TypeError:
        params = ", ".join(STAGES[name].params)
        raise HookLoadError(f"hook file {path!r}: {name}() must accept ({params})") from None
