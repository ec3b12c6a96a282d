"""Configuration: defaults -> ARCHESTRA_* environment -> explicit overrides, validated once.

Feature code reads the resulting :class:`Settings`; nothing else reads ``os.environ``.
"""
from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, fields
from typing import Any, Mapping
from urllib.parse import urlsplit

# Real providers' defaults. ``None`` means the provider is disabled until its base URL is set.
DEFAULT_BASE_URLS: dict[str, str | None] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "cohere": "https://api.cohere.ai",
    "mistral": "https://api.mistral.ai/v1",
    "cerebras": "https://api.cerebras.ai/v1",
    "vllm": None,
    "ollama": "http://localhost:11434/v1",
    "zhipuai": "https://api.z.ai/api/paas/v4",
    "bedrock": None,
    "mantle": None,  # Bedrock's OpenAI-compatible endpoint, https://bedrock-mantle.{region}.api.aws/v1
    "ollama-native": "http://localhost:11434",  # Ollama's own API (/api/chat...): the server's root
    "archestra": None,  # another archestra instance (its root, e.g. https://central:9000): providers/archestra.py
    "azure": None,  # the resource endpoint, https://{resource}.openai.azure.com
    "openrouter": "https://openrouter.ai/api/v1",
    "groq": "https://api.groq.com/openai/v1",
    "deepseek": "https://api.deepseek.com",
    "xai": "https://api.x.ai/v1",
    "perplexity": "https://api.perplexity.ai",
    "kimi": "https://api.moonshot.ai/v1",  # China: https://api.moonshot.cn/v1
    "minimax": "https://api.minimax.io/v1",  # China: https://api.minimaxi.com/v1
}
_BOOLEANS = {"gemini_vertex_ai_enabled", "anthropic_vertex_ai_enabled", "bedrock_aws_auth", "cloud_auth_open",
             "interaction_metadata_only", "trace_content", "azure_entra_id", "subscription_detection"}
_BOOLEANS |= {"config_file_only"}
LOG_FORMATS = ("text", "json")
#: A profile id or slug, or an instance id: one path segment, one ``Via`` pseudonym.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
#: Settings that are whole numbers within bounds.
_WHOLE_NUMBERS = {"dual_llm_max_rounds": (0, 10), "otel_export_batch_size": (1, 2048)}


def provider_variable(provider: str, setting: str) -> str:
    """A provider's variable: ``ARCHESTRA_{PROVIDER}_BASE_URL`` (``setting="BASE_URL"``), or the held key's
    ``ARCHESTRA_CHAT_{PROVIDER}_API_KEY`` (``setting="CHAT_API_KEY"``); ``-`` in a name is ``_``."""
    name = provider.upper().replace("-", "_")
    return f"ARCHESTRA_CHAT_{name}_API_KEY" if setting == "CHAT_API_KEY" else f"ARCHESTRA_{name}_{setting}"


class ConfigError(ValueError):
    """A configuration value is missing or invalid; raised at startup, never per request."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///archestra.db"
    admin_token: str | None = None
    hooks: tuple[str, ...] = ()
    base_urls: Mapping[str, str | None] = field(default_factory=lambda: dict(DEFAULT_BASE_URLS))
    max_body_bytes: int = 32 * 1024 * 1024
    max_response_bytes: int = 64 * 1024 * 1024
    upstream_connect_timeout: float = 10.0
    upstream_read_timeout: float = 600.0
    #: How long a client may take to send its request body (slow uploads are cut off with a 408).
    client_body_timeout: float = 60.0
    #: How long a worker may keep configuration it read (profiles, policies, limits, prices, optimisation rules).
    #: Changes made through the management API apply at once regardless (archestra/generation.py); this only
    #: bounds changes made directly in the database. 0 turns the caches off.
    profile_cache_seconds: float = 60.0
    log_level: str = "INFO"
    gemini_vertex_ai_enabled: bool = False
    gemini_vertex_ai_project: str | None = None
    gemini_vertex_ai_location: str = "us-central1"
    gemini_vertex_ai_credentials_file: str | None = None
    #: Defaults to the regional endpoint of ``gemini_vertex_ai_location`` (wire doc 3.1).
    gemini_vertex_ai_base_url: str | None = None
    #: e.g. ``us``: model ids without a geography prefix are sent as ``us.<model id>``.
    bedrock_inference_profile_prefix: str | None = None
    #: Sign Bedrock requests that carry no key with the proxy's own AWS credentials (SigV4, botocore's chain).
    bedrock_aws_auth: bool = False
    #: The signing region; defaults to the one in the Bedrock base URL (``bedrock-runtime.{region}...``).
    bedrock_aws_region: str | None = None
    #: Anthropic models on Vertex AI (``:rawPredict`` / ``:streamRawPredict`` under the anthropic base).
    anthropic_vertex_ai_enabled: bool = False
    anthropic_vertex_ai_project: str | None = None
    anthropic_vertex_ai_location: str = "us-east5"
    anthropic_vertex_ai_credentials_file: str | None = None
    anthropic_vertex_ai_base_url: str | None = None
    #: Call Azure OpenAI with the proxy's own Microsoft Entra ID identity (azure-identity's DefaultAzureCredential)
    #: for callers that proved the profile and send no key.
    azure_entra_id: bool = False
    #: Let callers without a profile access token use the proxy's cloud credentials (AWS SigV4, Anthropic on
    #: Vertex AI). Off: only profiles with a token (``X-Archestra-Token``) may.
    cloud_auth_open: bool = False
    #: How many questions the privileged model may ask about a ``sanitize_with_dual_llm`` result.
    dual_llm_max_rounds: int = 3
    #: Interactions (and blocked tool calls) older than this many days are purged in the background; None: kept.
    interaction_retention_days: float | None = None
    #: How often each worker runs the retention purge.
    retention_purge_interval_seconds: float = 3600.0
    #: Record interactions without their bodies (requests and responses), for every profile whose own
    #: ``metadata_only`` is null.
    interaction_metadata_only: bool = False
    #: prometheus-client's multiprocess directory (gunicorn.conf.py sets it before workers fork).
    prometheus_multiproc_dir: str | None = None
    #: The file whose mmap the workers of one instance share the configuration generation through
    #: (gunicorn.conf.py sets it before workers fork); None: one process, the counter stays in its memory.
    generation_file: str | None = None
    #: Default provider keys (``ARCHESTRA_CHAT_{PROVIDER}_API_KEY``), used only for callers with a virtual key.
    provider_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Bearer token that ``/metrics`` requires; None: open to anyone who can reach the port.
    metrics_token: str | None = field(default=None, repr=False)
    #: ``text`` or ``json`` (one JSON object per line, with the interaction id).
    log_format: str = "text"
    #: Where spans go (OTLP/HTTP), from the standard ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``; None: tracing off.
    otel_traces_endpoint: str | None = None
    #: ``service.name`` of the spans (``OTEL_SERVICE_NAME``).
    otel_service_name: str = "archestra"
    #: Put prompts and completions into spans (``ARCHESTRA_TRACE_CONTENT``); off: metadata only.
    trace_content: bool = False
    #: Spans per export (``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``). Smaller than the SDK's 512: a gevent worker encodes
    #: a batch without yielding, so a large one would hold every request of the worker up for that long.
    otel_export_batch_size: int = 128
    #: The Fernet key that encrypts the provider keys stored per profile; older keys still decrypt (rotation).
    secret_key: str | None = field(default=None, repr=False)
    secret_key_previous: tuple[str, ...] = field(default=(), repr=False)
    #: How long an admin console sign-in lasts (hours).
    console_session_hours: float = 12.0
    #: A token that signs in to the admin console read-only (sees everything, changes nothing); None: none.
    console_readonly_token: str | None = field(default=None, repr=False)
    #: Console sign-in through the identity provider (authorization code with PKCE, archestra/console/oidc.py):
    #: the client the IdP registered for the console, its secret (None: a public client, PKCE alone), and the
    #: callback URL registered there (None: ``/console/sign-in/oidc/callback`` on the host the browser used).
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = field(default=None, repr=False)
    oidc_redirect_url: str | None = None
    #: The profile (id or slug) of the other archestra instance that ``/v1/archestra/...`` requests are sent to
    #: (``ARCHESTRA_ARCHESTRA_BASE_URL``); None: its default profile.
    archestra_profile: str | None = None
    #: How this instance names itself in the ``Via`` header of requests it forwards to another archestra instance
    #: (loop prevention, providers/hops.py). gunicorn.conf.py makes one at startup that its workers share.
    instance_id: str = field(default_factory=lambda: secrets.token_hex(8))
    #: The company's identity provider (OIDC): its issuer URL (``{issuer}/.well-known/openid-configuration``);
    #: None: identity provider tokens are not accepted (archestra/identity/oidc.py).
    oidc_issuer: str | None = None
    #: The audience (``aud``) the identity provider's tokens must name.
    oidc_audience: str | None = None
    #: The claim holding a person's e-mail address, and the one holding their groups (a dotted path reaches
    #: into objects, e.g. ``realm_access.roles`` for Keycloak).
    oidc_email_claim: str = "email"
    oidc_groups_claim: str = "groups"
    #: Identity provider groups whose members get each management role (comma-separated).
    oidc_admin_groups: tuple[str, ...] = ()
    oidc_operator_groups: tuple[str, ...] = ()
    oidc_viewer_groups: tuple[str, ...] = ()
    #: The least time between two fetches of the identity provider's keys prompted by an unknown key id.
    oidc_jwks_refresh_seconds: float = 60.0
    #: Record requests signed in with a provider subscription (Claude Pro/Max, ChatGPT) as covered by it: billed
    #: spend $0, never counted against limits.
    subscription_detection: bool = True
    #: A declarative configuration file (docs/configuration-as-code.md) applied at start, once per instance
    #: before the workers fork; None: none.
    config_file: str | None = None
    #: The configuration file is the only source of what it holds: API and console writes to it are refused.
    config_file_only: bool = False
    #: Where a new pending approval is announced (a JSON POST Slack-compatible receivers accept); None: nowhere.
    approval_webhook_url: str | None = field(default=None, repr=False)  # Slack's carry their secret in the path
    #: How long a pending approval may wait for a decision, and an approved call for its retry (seconds).
    approval_window_seconds: float = 3600.0
    #: A folder of the operator's own policy packs (``*.yaml``, the format of ``archestra/packs/``), offered
    #: next to the shipped ones; None: the shipped packs only.
    packs_dir: str | None = None

    def base_url(self, provider: str) -> str | None:
        return self.base_urls.get(provider)

    def vertex_base_url(self) -> str:
        return self.gemini_vertex_ai_base_url or regional_vertex_url(self.gemini_vertex_ai_location)

    def anthropic_vertex_base_url(self) -> str:
        return self.anthropic_vertex_ai_base_url or regional_vertex_url(self.anthropic_vertex_ai_location)


def regional_vertex_url(location: str) -> str:
    """The Vertex AI endpoint of a location (wire doc 3.1)."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in {"us", "eu"}:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


#: Environment variable -> setting.
ENV_VARS: dict[str, str] = {
    "ARCHESTRA_DATABASE_URL": "database_url",
    "ARCHESTRA_ADMIN_TOKEN": "admin_token",
    "ARCHESTRA_MAX_BODY_BYTES": "max_body_bytes",
    "ARCHESTRA_MAX_RESPONSE_BYTES": "max_response_bytes",
    "ARCHESTRA_UPSTREAM_CONNECT_TIMEOUT": "upstream_connect_timeout",
    "ARCHESTRA_UPSTREAM_READ_TIMEOUT": "upstream_read_timeout",
    "ARCHESTRA_CLIENT_BODY_TIMEOUT": "client_body_timeout",
    "ARCHESTRA_PROFILE_CACHE_SECONDS": "profile_cache_seconds",
    "ARCHESTRA_LOG_LEVEL": "log_level",
    "ARCHESTRA_GEMINI_VERTEX_AI_ENABLED": "gemini_vertex_ai_enabled",
    "ARCHESTRA_GEMINI_VERTEX_AI_PROJECT": "gemini_vertex_ai_project",
    "ARCHESTRA_GEMINI_VERTEX_AI_LOCATION": "gemini_vertex_ai_location",
    "ARCHESTRA_GEMINI_VERTEX_AI_CREDENTIALS_FILE": "gemini_vertex_ai_credentials_file",
    "ARCHESTRA_GEMINI_VERTEX_AI_BASE_URL": "gemini_vertex_ai_base_url",
    "ARCHESTRA_BEDROCK_INFERENCE_PROFILE_PREFIX": "bedrock_inference_profile_prefix",
    "ARCHESTRA_BEDROCK_AWS_AUTH": "bedrock_aws_auth",
    "ARCHESTRA_BEDROCK_AWS_REGION": "bedrock_aws_region",
    "ARCHESTRA_ANTHROPIC_VERTEX_AI_ENABLED": "anthropic_vertex_ai_enabled",
    "ARCHESTRA_ANTHROPIC_VERTEX_AI_PROJECT": "anthropic_vertex_ai_project",
    "ARCHESTRA_ANTHROPIC_VERTEX_AI_LOCATION": "anthropic_vertex_ai_location",
    "ARCHESTRA_ANTHROPIC_VERTEX_AI_CREDENTIALS_FILE": "anthropic_vertex_ai_credentials_file",
    "ARCHESTRA_ANTHROPIC_VERTEX_AI_BASE_URL": "anthropic_vertex_ai_base_url",
    "ARCHESTRA_AZURE_ENTRA_ID": "azure_entra_id",
    "ARCHESTRA_CLOUD_AUTH_OPEN": "cloud_auth_open",
    "ARCHESTRA_DUAL_LLM_MAX_ROUNDS": "dual_llm_max_rounds",
    "ARCHESTRA_INTERACTION_RETENTION_DAYS": "interaction_retention_days",
    "ARCHESTRA_RETENTION_PURGE_INTERVAL_SECONDS": "retention_purge_interval_seconds",
    "ARCHESTRA_INTERACTION_METADATA_ONLY": "interaction_metadata_only",
    "PROMETHEUS_MULTIPROC_DIR": "prometheus_multiproc_dir",
    "ARCHESTRA_GENERATION_FILE": "generation_file",
    "ARCHESTRA_METRICS_TOKEN": "metrics_token",
    "ARCHESTRA_LOG_FORMAT": "log_format",
    "ARCHESTRA_TRACE_CONTENT": "trace_content",
    "OTEL_SERVICE_NAME": "otel_service_name",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "otel_export_batch_size",
    "ARCHESTRA_CONSOLE_SESSION_HOURS": "console_session_hours",
    "ARCHESTRA_CONSOLE_READONLY_TOKEN": "console_readonly_token",
    "ARCHESTRA_OIDC_CLIENT_ID": "oidc_client_id",
    "ARCHESTRA_OIDC_CLIENT_SECRET": "oidc_client_secret",
    "ARCHESTRA_OIDC_REDIRECT_URL": "oidc_redirect_url",
    "ARCHESTRA_ARCHESTRA_PROFILE": "archestra_profile",
    "ARCHESTRA_INSTANCE_ID": "instance_id",
    "ARCHESTRA_OIDC_ISSUER": "oidc_issuer",
    "ARCHESTRA_OIDC_AUDIENCE": "oidc_audience",
    "ARCHESTRA_OIDC_EMAIL_CLAIM": "oidc_email_claim",
    "ARCHESTRA_OIDC_GROUPS_CLAIM": "oidc_groups_claim",
    "ARCHESTRA_OIDC_ADMIN_GROUPS": "oidc_admin_groups",
    "ARCHESTRA_OIDC_OPERATOR_GROUPS": "oidc_operator_groups",
    "ARCHESTRA_OIDC_VIEWER_GROUPS": "oidc_viewer_groups",
    "ARCHESTRA_OIDC_JWKS_REFRESH_SECONDS": "oidc_jwks_refresh_seconds",
    "ARCHESTRA_SUBSCRIPTION_DETECTION": "subscription_detection",
    "ARCHESTRA_CONFIG_FILE": "config_file",
    "ARCHESTRA_CONFIG_FILE_ONLY": "config_file_only",
    "ARCHESTRA_APPROVAL_WEBHOOK_URL": "approval_webhook_url",
    "ARCHESTRA_APPROVAL_WINDOW_SECONDS": "approval_window_seconds",
    "ARCHESTRA_PACKS_DIR": "packs_dir",
}
#: Read by gunicorn.conf.py (the deployment), not by the app.
DEPLOYMENT_VARS = ("ARCHESTRA_BIND", "ARCHESTRA_WORKERS", "ARCHESTRA_WORKER_CONNECTIONS", "ARCHESTRA_WORKER_TIMEOUT",
                   "ARCHESTRA_GRACEFUL_TIMEOUT", "ARCHESTRA_KEEPALIVE", "ARCHESTRA_ACCESS_LOG", "ARCHESTRA_TLS_CERT",
                   "ARCHESTRA_TLS_KEY", "ARCHESTRA_SKIP_MIGRATIONS", "ARCHESTRA_CONTROL_SOCKET")


def _variable(name: str) -> str:
    """The environment variable that sets ``name``: what an operator knows, so what errors say."""
    for env_name, attr in ENV_VARS.items():
        if attr == name:
            return env_name
    return f"ARCHESTRA_{name.upper()}"


def known_variables() -> set[str]:
    """Every ``ARCHESTRA_*`` variable the proxy or its deployment reads."""
    names = {name for name in ENV_VARS if name.startswith("ARCHESTRA_")} | set(DEPLOYMENT_VARS)
    names |= {"ARCHESTRA_HOOKS", "ARCHESTRA_SECRET_KEY", "ARCHESTRA_SECRET_KEY_PREVIOUS"}
    for provider in DEFAULT_BASE_URLS:
        names |= {provider_variable(provider, "BASE_URL"), provider_variable(provider, "CHAT_API_KEY")}
    return names


def unknown_variables(env: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``ARCHESTRA_*`` variables set but read by nothing (a typo sends traffic to the real provider), each with
    the closest known name, if any."""
    import difflib

    known = sorted(known_variables())
    return [(name, next(iter(difflib.get_close_matches(name, known, n=1, cutoff=0.75)), None))
            for name in sorted(env) if name.startswith("ARCHESTRA_") and name not in known]


def _traces_endpoint(env: Mapping[str, str]) -> str | None:
    """The OTLP/HTTP traces URL the standard variables give, or None when tracing is off (nothing configured,
    ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER`` without otlp)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporters = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if "otlp" not in {part.strip() for part in exporters.split(",")}:
        return None
    protocol = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or
                "http/protobuf").strip()
    if protocol != "http/protobuf":
        raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf (archestra exports OTLP over HTTP), "
                          f"got {protocol!r}")
    traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return base.rstrip("/") + "/v1/traces" if base else None


def _env_settings(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for env_name, attr in ENV_VARS.items():
        if env.get(env_name, "").strip():
            values[attr] = env[env_name].strip()
    if env.get("ARCHESTRA_HOOKS", "").strip():
        values["hooks"] = env["ARCHESTRA_HOOKS"]
    base_urls = dict(DEFAULT_BASE_URLS)
    for provider in DEFAULT_BASE_URLS:
        value = env.get(provider_variable(provider, "BASE_URL"), "").strip()
        if value:
            base_urls[provider] = value
    values["base_urls"] = base_urls
    keys = {provider: env[provider_variable(provider, "CHAT_API_KEY")].strip() for provider in DEFAULT_BASE_URLS
            if env.get(provider_variable(provider, "CHAT_API_KEY"), "").strip()}
    values["provider_keys"] = keys
    endpoint = _traces_endpoint(env)
    if endpoint:
        values["otel_traces_endpoint"] = endpoint
    for env_name, attr in (("ARCHESTRA_SECRET_KEY", "secret_key"),
                           ("ARCHESTRA_SECRET_KEY_PREVIOUS", "secret_key_previous")):
        if env.get(env_name, "").strip():
            values[attr] = env[env_name].strip()
    return values


def _coerce(name: str, value: Any) -> Any:
    bounds = _WHOLE_NUMBERS.get(name)
    if bounds is not None:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{_variable(name)} must be a whole number, got {value!r}") from None
        if not bounds[0] <= number <= bounds[1]:
            raise ConfigError(f"{_variable(name)} must be between {bounds[0]} and {bounds[1]}, got {number}")
        return number
    if name in {"max_body_bytes", "max_response_bytes"}:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{_variable(name)} must be a whole number of bytes (e.g. 33554432 for 32 MiB), "
                              f"got {value!r}") from None
        if number <= 0:
            raise ConfigError(f"{_variable(name)} must be positive, got {number}")
        return number
    if name == "console_session_hours":
        try:
            hours = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"ARCHESTRA_CONSOLE_SESSION_HOURS must be a number, got {value!r}") from None
        if not 0 < hours <= 24 * 30:
            raise ConfigError("ARCHESTRA_CONSOLE_SESSION_HOURS must be above 0 and at most 720 (30 days)")
        return hours
    if name == "approval_webhook_url" and value:
        parts = urlsplit(str(value))
        if parts.scheme not in {"http", "https"} or not parts.hostname:  # never echo it: it may be a secret
            raise ConfigError("ARCHESTRA_APPROVAL_WEBHOOK_URL must be an http(s) URL")
        return str(value)
    if name in {"interaction_retention_days", "retention_purge_interval_seconds"}:
        try:
            number = float(value) if value is not None else None
        except (TypeError, ValueError):
            raise ConfigError(f"{_variable(name)} must be a number, got {value!r}") from None
        if number is not None and number <= 0:
            raise ConfigError(f"{_variable(name)} must be positive, got {number}")
        return number
    if name in {"oidc_admin_groups", "oidc_operator_groups", "oidc_viewer_groups"}:
        parts = value.split(",") if isinstance(value, str) else list(value or ())
        return tuple(part.strip() for part in parts if part and part.strip())
    if name == "oidc_issuer" and value:
        _valid_base_url("oidc", value, "ARCHESTRA_OIDC_ISSUER")
        return value  # as it is: the tokens' ``iss`` must equal it exactly (a trailing "/" included)
    if name == "approval_window_seconds":
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"ARCHESTRA_APPROVAL_WINDOW_SECONDS must be a number of seconds, got {value!r}") \
                from None
        if not 0 < seconds <= 30 * 86400:
            raise ConfigError("ARCHESTRA_APPROVAL_WINDOW_SECONDS must be above 0 and at most 2592000 (30 days)")
        return seconds
    if name in {"upstream_connect_timeout", "upstream_read_timeout", "client_body_timeout", "profile_cache_seconds",
                "oidc_jwks_refresh_seconds"}:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{_variable(name)} must be a number of seconds (e.g. 30 or 0.5), got {value!r}") \
                from None
        if number < 0:
            raise ConfigError(f"{_variable(name)} must not be negative, got {number}")
        return number
    if name in _BOOLEANS:
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if str(value).strip().lower() in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{_variable(name)} must be true or false, got {value!r}")
    if name in {"gemini_vertex_ai_base_url", "anthropic_vertex_ai_base_url"} and value:
        return _valid_base_url(name.removesuffix("_base_url"), value)
    if name == "log_format":
        return str(value).strip().lower()
    if name in {"archestra_profile", "instance_id"} and not _NAME_RE.fullmatch(str(value)):
        raise ConfigError(f"{_variable(name)} must be letters, digits and '-' (a profile id or slug, an instance "
                          f"name), got {value!r}")
    if name == "packs_dir" and value is not None and not os.path.isdir(str(value)):
        raise ConfigError(f"{_variable(name)} must be a folder of policy pack files, got {value!r}")
    if name == "hooks":
        if isinstance(value, str):
            value = [part for part in value.split(",")]
        return tuple(part.strip() for part in value if part and part.strip())
    if name == "provider_keys":
        unknown = set(value) - set(DEFAULT_BASE_URLS)
        if unknown:
            raise ConfigError(f"unknown provider(s) in provider_keys: {', '.join(sorted(unknown))}")
        return {provider: key for provider, key in dict(value).items() if key}
    if name in {"secret_key", "secret_key_previous"}:
        return _secret_keys(name, value)
    if name == "base_urls":
        urls = dict(DEFAULT_BASE_URLS)
        for provider, url in dict(value).items():
            if provider not in DEFAULT_BASE_URLS:
                raise ConfigError(f"unknown provider {provider!r} in base_urls")
            urls[provider] = _valid_base_url(provider, url) if url else None
        return urls
    return value


def _secret_keys(name: str, value: Any) -> Any:
    from ..secretbox import valid_secret_key

    keys = tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else \
        tuple(value or ())
    for key in keys:
        if not valid_secret_key(key):  # never echo the value: it is a secret
            raise ConfigError(f"ARCHESTRA_{name.upper()} must hold Fernet keys (32 url-safe base64-encoded bytes; "
                              "Fernet.generate_key())")
    if name == "secret_key":
        if len(keys) > 1:
            raise ConfigError("ARCHESTRA_SECRET_KEY holds one key; older ones go in ARCHESTRA_SECRET_KEY_PREVIOUS")
        return keys[0] if keys else None
    return keys


def _valid_base_url(provider: str, url: str, variable: str | None = None) -> str:
    variable = variable or provider_variable(provider, "BASE_URL")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{variable} must be an http(s) URL (e.g. https://host:port/path), got {url!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{variable} must not carry a query or fragment")
    return url.rstrip("/")


def load_settings(overrides: Mapping[str, Any] | None = None,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Build the validated settings; ``overrides`` use the :class:`Settings` field names."""
    values = _env_settings(os.environ if env is None else env)
    overrides = dict(overrides or {})
    if "base_urls" in overrides:
        merged = dict(values.get("base_urls", {}))
        merged.update(overrides.pop("base_urls"))
        overrides["base_urls"] = merged
    values.update(overrides)
    known = {f.name for f in fields(Settings)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    settings = Settings(**{name: _coerce(name, value) for name, value in values.items()})
    if settings.gemini_vertex_ai_enabled and not settings.gemini_vertex_ai_project:
        raise ConfigError("ARCHESTRA_GEMINI_VERTEX_AI_PROJECT is required when Vertex AI is enabled")
    if settings.anthropic_vertex_ai_enabled and not settings.anthropic_vertex_ai_project:
        raise ConfigError("ARCHESTRA_ANTHROPIC_VERTEX_AI_PROJECT is required when Anthropic on Vertex AI is enabled")
    if settings.console_readonly_token and settings.console_readonly_token == settings.admin_token:
        raise ConfigError("ARCHESTRA_CONSOLE_READONLY_TOKEN must differ from ARCHESTRA_ADMIN_TOKEN")
    if settings.log_format not in LOG_FORMATS:
        raise ConfigError(f"ARCHESTRA_LOG_FORMAT must be text or json, got {settings.log_format!r}")
    if settings.otel_traces_endpoint is not None:
        _valid_base_url("otel_traces", settings.otel_traces_endpoint, "OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT")
    if settings.oidc_issuer and not settings.oidc_audience:
        raise ConfigError("ARCHESTRA_OIDC_AUDIENCE is required when ARCHESTRA_OIDC_ISSUER is set (tokens issued "
                          "for other applications must not be accepted)")
    if settings.oidc_client_id and not settings.oidc_issuer:
        raise ConfigError("ARCHESTRA_OIDC_ISSUER is required when ARCHESTRA_OIDC_CLIENT_ID is set (console sign-in "
                          "through the identity provider)")
    if settings.oidc_redirect_url:
        _valid_base_url("oidc_redirect", settings.oidc_redirect_url, "ARCHESTRA_OIDC_REDIRECT_URL")
    if settings.config_file_only and not settings.config_file:
        raise ConfigError("ARCHESTRA_CONFIG_FILE_ONLY needs ARCHESTRA_CONFIG_FILE (the file that is the only source)")
    if settings.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"ARCHESTRA_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {settings.log_level!r}")
    return settings
