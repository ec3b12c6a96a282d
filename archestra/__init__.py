"""archestra: a security proxy between AI applications and LLM providers."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from . import change_log as _change_log  # noqa: F401  (session hooks: every configuration change is logged)
from . import stored_json
from .config import load_settings
from .extensions import db, migrate
from .generation import ConfigGeneration, SharedCounter
from .hooks import HookRegistry
from .hooks.loader import load_hook_file
from .packs.catalog import catalog
from .logs import configure as configure_logging
from .logs import forget_interaction
from .metering.limits import LimitGuard
from .metering.optimization import ModelOptimizer
from .metering.pricing import PriceBook
from .metering.retention import RetentionPurger
from .profiles import ProfileDirectory
from .recorder import Recorder
from .runtime import Runtime
from .secretbox import SecretBox
from .security.approvals import ApprovalGate, Notifier
from .security.dual_llm import DualLLM
from .security.hooks import register_builtin_hooks
from .security.policies import PolicyDirectory
from .tracing import Tracing
from .upstream import Upstream
from .virtual_keys import KeyDirectory


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the WSGI app. ``overrides`` take precedence over ``ARCHESTRA_*`` environment variables."""
    settings = load_settings(overrides)
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
    )
    configure_logging(settings.log_level, settings.log_format)
    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir())

    recorder = Recorder(app)
    ttl = settings.profile_cache_seconds
    generation = ConfigGeneration(SharedCounter(settings.generation_file), (lambda: _engine(app)) if ttl > 0 else None)
    policies = PolicyDirectory(generation, ttl)
    optimizer = ModelOptimizer(generation, ttl)
    hooks = HookRegistry()
    hooks.register("on_request", optimizer, "builtin:optimization-rules")
    approvals = ApprovalGate(recorder.run_now, settings.approval_window_seconds,
                             Notifier(settings.approval_webhook_url) if settings.approval_webhook_url else None)
    register_builtin_hooks(hooks, policies, recorder, sanitize=DualLLM(settings.dual_llm_max_rounds),
                           approvals=approvals)
    for path in settings.hooks:
        for stage, func, label in load_hook_file(path):
            hooks.register(stage, func, label)
    catalog(settings.packs_dir)  # a pack file that cannot be used is a startup error, not a surprise when applied

    app.extensions["archestra"] = Runtime(
        settings=settings,
        hooks=hooks,
        profiles=ProfileDirectory(generation, ttl),
        upstream=Upstream(settings.upstream_connect_timeout, settings.upstream_read_timeout,
                          settings.max_response_bytes),
        policies=policies,
        recorder=recorder,
        limits=LimitGuard(generation, ttl),
        prices=PriceBook(generation, ttl),
        optimizer=optimizer,
        generation=generation,
        keys=KeyDirectory(generation, ttl, SecretBox(settings.secret_key, settings.secret_key_previous),
                          settings.provider_keys, recorder),
        retention=RetentionPurger(app, settings.interaction_retention_days, settings.retention_purge_interval_seconds),
        tracing=Tracing(settings),
        approvals=approvals,
    )

    from .api import api
    from .config_file import views as _config_file_views  # noqa: F401  (the file-only guard, policy tests)
    from .console import console, entry
    from .errors import register_error_handlers
    from .health import health
    from .metering.metrics import metrics
    from .providers import PROVIDERS
    from .providers.blueprints import make_blueprint
    from .router.blueprint import blueprint as model_router

    register_error_handlers(app)
    app.before_request(forget_interaction)  # a keep-alive connection's next request is another interaction
    app.register_blueprint(api)
    app.register_blueprint(health)
    app.register_blueprint(metrics)
    app.register_blueprint(console)
    app.register_blueprint(entry)
    app.register_blueprint(model_router)
    for provider in PROVIDERS:
        app.register_blueprint(make_blueprint(provider))
    return app


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}, "json_serializer": stored_json.dumps}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20, "json_serializer": stored_json.dumps}


def _engine(app: Flask) -> Any:
    with app.app_context():
        return db.engine


def _migrations_dir() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parent.parent / "migrations")

