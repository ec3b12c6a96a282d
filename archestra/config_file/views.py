"""The configuration file on the management surfaces, imported by ``create_app`` before the blueprints are
registered (it adds to them; they never import it): the file-only guard, the drift notice, the policy tests' API
routes and console pages."""
from __future__ import annotations

from . import drift, file_only, policy_test_views  # noqa: F401  (register their checks, routes and pages)
