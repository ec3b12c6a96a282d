"""Management roles from identity provider groups (``ARCHESTRA_OIDC_{ADMIN,OPERATOR,VIEWER}_GROUPS``).

The highest role any of a person's groups grants wins; no matching group: no role (no access to the management
API or the console, though the person may still call models through the proxy).
"""
from __future__ import annotations

from typing import Any, Iterable

from ..actor import ADMIN, OPERATOR, VIEWER


def role_for_groups(groups: Iterable[str], settings: Any) -> str | None:
    """``"admin"``, ``"operator"``, ``"viewer"`` or None for a person in ``groups`` (compared exactly)."""
    held = set(groups)
    for role, granted in ((ADMIN, settings.oidc_admin_groups), (OPERATOR, settings.oidc_operator_groups),
                          (VIEWER, settings.oidc_viewer_groups)):
        if held & set(granted):
            return role
    return None


def may(role: str | None, needed: str) -> bool:
    """Whether ``role`` is at least ``needed`` (admin > operator > viewer)."""
    order = {VIEWER: 1, OPERATOR: 2, ADMIN: 3}
    return role is not None and order.get(role, 0) >= order[needed]
