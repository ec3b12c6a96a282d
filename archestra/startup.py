"""Startup, once per instance before the workers fork: check the configuration, migrate, log a summary.

    python -m archestra.startup [--skip-migrations] [--bind ADDR]... [--workers N] [--tls] [--control-socket PATH]

gunicorn.conf.py runs it in a child process (the master stays app-free). Exit status 2: a configuration error,
named by its variable; 1: the migration failed; 0: ready. Unknown ``ARCHESTRA_*`` variables are warned about with
the closest known name (a misspelt base URL would otherwise send traffic to the real provider).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from .config import ConfigError, Settings, load_settings, unknown_variables
from .hooks.loader import HookLoadError
from .logs import configure as configure_logging
from .upstream import host_of

log = logging.getLogger("archestra.startup")


def database_location(url: str) -> str:
    """Backend and place of the database, never its credentials (user, password, query parameters)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = parsed.database or ":memory:"
        return f"sqlite {path if path == ':memory:' else Path(path).resolve()}"
    where = f"{parsed.host or 'localhost'}" + (f":{parsed.port}" if parsed.port else "")
    return f"{backend} {where}/{parsed.database or ''}"


def console_state(app: Any, settings: Settings) -> str:
    """The admin web console (/console): served when its blueprint is registered and a token can sign in."""
    if "console" not in app.blueprints:
        return "off (not installed)"
    if settings.admin_token or getattr(settings, "console_readonly_token", None):
        return "on (/console)"
    return "off (set ARCHESTRA_ADMIN_TOKEN)"


def summary(app: Any, settings: Settings, schema: str, args: argparse.Namespace) -> dict[str, str]:
    from .providers import PROVIDERS

    runtime = app.extensions["archestra"]
    enabled = [f"{p.name} -> {host_of(settings.base_url(p.name))}" for p in PROVIDERS
               if p.enabled(settings) and settings.base_url(p.name)]
    if settings.gemini_vertex_ai_enabled:
        enabled.append(f"gemini on Vertex AI -> {host_of(settings.vertex_base_url())}")
    if settings.anthropic_vertex_ai_enabled:
        enabled.append(f"anthropic on Vertex AI -> {host_of(settings.anthropic_vertex_base_url())}")
    disabled = [p.name for p in PROVIDERS if not p.enabled(settings)]
    labels = runtime.hooks.labels()
    operators = [label for label in labels if not label.startswith("builtin:")]
    scheme = "https" if args.tls else "http"
    return {
        "database": f"{database_location(settings.database_url)} (schema {schema})",
        "listening": ", ".join(f"{scheme}://{bind}" for bind in args.bind) + (
            f" ({args.workers} workers)" if args.workers else "") if args.bind else "not under gunicorn",
        "TLS": "on" if args.tls else "off (set ARCHESTRA_TLS_CERT and ARCHESTRA_TLS_KEY to serve HTTPS)",
        "admin API": "on" if settings.admin_token else "off (set ARCHESTRA_ADMIN_TOKEN)",
        "console": console_state(app, settings),
        "metrics": "/metrics, " + ("bearer token required" if settings.metrics_token
                                   else "open, totals only (set ARCHESTRA_METRICS_TOKEN for per-profile labels)"),
        "tracing": (f"on, OTLP/HTTP to {settings.otel_traces_endpoint}, content "
                    f"{'on' if settings.trace_content else 'off'}") if settings.otel_traces_endpoint
        else "off (set OTEL_EXPORTER_OTLP_ENDPOINT)",
        "hooks": f"{len(labels) - len(operators)} built-in" + (
            f"; from ARCHESTRA_HOOKS: {', '.join(operators)}" if operators else "; no hook files"),
        "providers": ", ".join(enabled) + (f"; disabled: {', '.join(disabled)}" if disabled else ""),
        "logs": f"{settings.log_format}, level {settings.log_level.upper()}",
        "control socket": args.control_socket or "off",
        "configuration file": (settings.config_file + (" (the only source)" if settings.config_file_only else ""))
        if settings.config_file else "none (set ARCHESTRA_CONFIG_FILE)",
    }


def _schema(app: Any) -> str:
    from .extensions import db
    from .upgrade import head_revision

    with app.app_context():
        try:
            current = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception as exc:  # not migrated (--skip-migrations on a new database), unreachable...
            return f"unknown: {exc.__class__.__name__}"
        finally:
            db.session.remove()
    head = head_revision()
    return f"{current}, up to date" if current == head else f"{current}, expected {head}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m archestra.startup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-migrations", action="store_true", help="do not migrate (ARCHESTRA_SKIP_MIGRATIONS)")
    parser.add_argument("--bind", action="append", default=[], help="an address the server listens on")
    parser.add_argument("--workers", type=int, help="how many worker processes serve")
    parser.add_argument("--tls", action="store_true", help="the server speaks HTTPS")
    parser.add_argument("--control-socket", help="gunicorn's control socket of this instance")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"archestra: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    for name, close in unknown_variables(os.environ):
        log.warning("%s is not a variable archestra reads (ignored)%s", name,
                    f"; did you mean {close}?" if close else "")
    from . import create_app
    from .upgrade import upgrade_database

    try:
        app = create_app()
    except (ConfigError, HookLoadError) as exc:
        print(f"archestra: configuration error: {exc}", file=sys.stderr)
        return 2
    if not args.skip_migrations:
        try:
            upgrade_database(app)
        except Exception:
            log.exception("database migration failed (%s)", database_location(settings.database_url))
            return 1
    if settings.config_file:
        from .config_file.apply import apply_file_at_start
        from .config_file.plan import PlanError
        from .config_file.source import FileError

        try:
            # Its ${NAME} references are read from this environment, like the ARCHESTRA_* variables.
            outcome = apply_file_at_start(app, settings.config_file, os.environ)
        except (FileError, PlanError) as exc:
            print(f"archestra: configuration error: ARCHESTRA_CONFIG_FILE {settings.config_file}:\n{exc}",
                  file=sys.stderr)
            return 2
        log.info("configuration file %s applied: %s", settings.config_file, outcome)
    facts = summary(app, settings, _schema(app), args)
    width = max(map(len, facts))
    log.info("archestra starting\n%s", "\n".join(f"  {key + ':':<{width + 1}} {value}" for key, value in facts.items()),
             extra={"summary": facts})
    return 0


if __name__ == "__main__":
    sys.exit(main())
