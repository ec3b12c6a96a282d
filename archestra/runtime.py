"""Per-process runtime objects, built once by the app factory and reached through ``current_runtime()``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from .config import Settings
from .generation import ConfigGeneration
from .hooks import HookRegistry
from .identity.callers import IdentityKeys
from .identity.oidc import OidcVerifier
from .identity.people import PeopleDirectory
from .metering.limits import LimitGuard
from .metering.optimization import ModelOptimizer
from .metering.pricing import PriceBook
from .metering.retention import RetentionPurger
from .profiles import ProfileDirectory
from .recorder import Recorder
from .router.aliases import AliasDirectory
from .security.policies import PolicyDirectory
from .tracing import Tracing
from .upstream import Upstream
from .virtual_keys import KeyDirectory


@dataclass
class Runtime:
    settings: Settings
    hooks: HookRegistry
    profiles: ProfileDirectory
    upstream: Upstream
    policies: PolicyDirectory
    recorder: Recorder
    limits: LimitGuard
    prices: PriceBook
    optimizer: ModelOptimizer
    generation: ConfigGeneration
    keys: KeyDirectory
    retention: RetentionPurger | None = None
    tracing: Tracing = None  # type: ignore[assignment]  # set by create_app
    aliases: AliasDirectory = None  # type: ignore[assignment]  # Model Router aliases (built from the generation)
    identity: IdentityKeys = None  # type: ignore[assignment]  # who calls: identity provider, people, teams
    approvals: Any = None  # security.approvals.ApprovalGate: require_approval's store (None: refused as awaiting)

    def __post_init__(self) -> None:
        if self.tracing is None:
            self.tracing = Tracing(self.settings)
        if self.aliases is None:
            self.aliases = AliasDirectory(self.generation, self.settings.profile_cache_seconds)
        if self.identity is None:
            self.identity = IdentityKeys(OidcVerifier.from_settings(self.settings),
                                         PeopleDirectory(self.generation, self.settings.profile_cache_seconds),
                                         self.settings.subscription_detection)

    def invalidate_caches(self) -> None:
        """After a committed configuration change: every worker of this instance drops its caches before its
        next lookup (other instances follow through the database's generation, see archestra/generation.py)."""
        self.generation.changed()
        for cache in (self.profiles, self.policies, self.limits, self.prices, self.optimizer, self.keys, self.aliases,
                      self.identity):
            cache.invalidate()


def current_runtime() -> Runtime:
    return current_app.extensions["archestra"]
