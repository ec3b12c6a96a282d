"""Per-process runtime objects, built once by the app factory and reached through ``current_runtime()``."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .config import Settings
from .hooks import HookRegistry
from .profiles import ProfileDirectory
from .recorder import Recorder
from .security.policies import PolicyDirectory
from .upstream import Upstream


@dataclass
class Runtime:
    settings: Settings
    hooks: HookRegistry
    profiles: ProfileDirectory
    upstream: Upstream
    policies: PolicyDirectory
    recorder: Recorder


def current_runtime() -> Runtime:
    return current_app.extensions["archestra"]
