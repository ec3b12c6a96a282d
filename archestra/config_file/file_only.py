"""``ARCHESTRA_CONFIG_FILE_ONLY=true``: the configuration file is the only source of what it holds. One
``before_request`` check on the management API and the console refuses writes to the file's sections (409
``config_file_only``, a message naming the file), whichever view would have served them. Policy packs: a top-level
``packs:`` owns the packs applied to every profile; a profile's ``packs:`` owns that profile's."""
from __future__ import annotations

import os
import threading
from typing import Any

from flask import abort, request

from ..api import api
from ..api.errors import error_json
from ..console import console
from ..extensions import db
from ..models import Limit, Profile
from ..runtime import current_runtime
from .file_format import load_file
from .source import FileError

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
#: Management API paths (prefixes) and the file section that owns what they change.
API_SECTIONS = (("/api/settings", "settings"), ("/api/policy-templates", "templates"),
                ("/api/tool-call-policies", "profiles"), ("/api/tool-result-policies", "profiles"),
                ("/api/tools", "profiles"), ("/api/limits", "limits"), ("/api/token-prices", "prices"),
                ("/api/optimization-rules", "optimization_rules"), ("/api/model-aliases", "model_aliases"),
                ("/api/template-packs", "packs"))
#: Console form posts and the section they change.
CONSOLE_SECTIONS = {"console.settings": "settings", "console.profile_create": "profiles",
                    "console.profile_update": "profiles", "console.profile_delete": "profiles",
                    "console.policy_create": "profiles", "console.policy_update": "profiles",
                    "console.policy_delete": "profiles", "console.limit_create": "limits",
                    "console.limit_delete": "limits", "console.price_create": "prices",
                    "console.price_delete": "prices", "console.pack_apply_all": "packs",
                    "console.pack_remove_all": "packs", "console.pack_apply_profile": "profile_packs",
                    "console.profile_pack_apply": "profile_packs", "console.profile_pack_remove": "profile_packs"}
ALL_SECTIONS = ("settings", "packs", "templates", "profiles", "limits", "prices", "optimization_rules",
                "model_aliases", "provider_keys", "profile_packs")
NAMES = {"settings": "the settings", "templates": "the policy templates", "profiles": "the profiles and their "
         "tool policies", "limits": "the limits", "prices": "the token prices", "optimization_rules":
         "the optimization rules", "model_aliases": "the model aliases", "provider_keys": "the provider keys",
         "packs": "the packs applied to every profile", "profile_packs": "the packs applied to this profile"}

_owned_lock = threading.Lock()
_owned_cache: dict[str, Any] = {}


def owned_sections(path: str) -> tuple[str, ...]:
    """The sections the file holds (re-read when it changes); every section when it cannot be read: a file that
    is the only source and cannot be read is no reason to let writes in. ``profile_packs``: the file holds the
    packs of some profile (:func:`owned_pack_profiles` says which)."""
    return _owned(path)[0]


def owned_pack_profiles(path: str) -> frozenset[str] | None:
    """The profiles (slug, else name) whose ``packs:`` the file holds; None: every profile (unreadable file)."""
    return _owned(path)[1]


def _owned(path: str) -> tuple[tuple[str, ...], frozenset[str] | None]:
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return ALL_SECTIONS, None
    with _owned_lock:
        if _owned_cache.get("key") == (path, stamp):
            return _owned_cache["sections"], _owned_cache["pack_profiles"]
    pack_profiles: frozenset[str] | None
    try:
        source, state = load_file(path, None)  # which sections it holds, not its values: no environment read
        sections = tuple(name for name in ALL_SECTIONS if state.get(name) is not None)
        if any(isinstance(profile, dict) and "provider_keys" in profile for profile in source.data.get("profiles")
               or ()):
            sections += ("provider_keys",)
        pack_profiles = frozenset(key for profile in state["profiles"] or () if profile["packs"] is not None
                                  for key in (profile["slug"], profile["name"]) if key)
        if pack_profiles:
            sections += ("profile_packs",)
    except FileError:
        sections, pack_profiles = ALL_SECTIONS, None
    with _owned_lock:
        _owned_cache.update(key=(path, stamp), sections=sections, pack_profiles=pack_profiles)
    return sections, pack_profiles


def _pack_profile_owned(path: str, profile_id: str | None) -> bool:
    """Whether the file holds the packs of the profile the request changes (by id or slug)."""
    owned = owned_pack_profiles(path)
    if owned is None:
        return True
    key = str(profile_id or "").lower()
    row = db.session.get(Profile, key) or db.session.query(Profile).filter(Profile.slug == key).first()
    return row is not None and bool({row.slug, row.name} & owned)


def _api_section() -> str | None:
    for prefix, section in API_SECTIONS:
        if request.path == prefix or request.path.startswith(prefix + "/"):
            if section == "limits" and _virtual_key_limit():
                return None
            return section
    parts = request.path.split("/")  # /api/profiles[/{id}]: not its token or virtual keys
    if parts[:3] == ["", "api", "profiles"] and len(parts) <= 4:
        return "profiles"
    if parts[:3] == ["", "api", "profiles"] and len(parts) >= 5 and parts[4] == "provider-keys":
        return "provider_keys"
    if parts[:3] == ["", "api", "profiles"] and len(parts) >= 5 and parts[4] == "packs":
        return "profile_packs"
    return None


def _virtual_key_limit() -> bool:
    """A virtual key's limit: never in the file (keys are issued, not declared)."""
    if request.method == "POST":
        body = request.get_json(silent=True)
        return isinstance(body, dict) and body.get("scope") == "virtual_key"
    row = db.session.get(Limit, request.path.rsplit("/", 1)[-1].lower())
    return row is not None and row.scope == "virtual_key"


def refusal_message(section: str, path: str) -> str:
    return (f"{NAMES[section].capitalize()} are managed by the configuration file {path} "
            "(ARCHESTRA_CONFIG_FILE_ONLY=true): change the file and apply it (python -m archestra.config apply).")


def _file_only_guard():
    """Refuse a write to what the configuration file holds, when the file is the only source (409)."""
    settings = current_runtime().settings
    if not settings.config_file_only or request.method not in WRITES or not settings.config_file:
        return None
    if request.blueprint == "api":
        section = _api_section()
    else:
        section = CONSOLE_SECTIONS.get(request.endpoint or "")
        if request.endpoint == "console.limit_create" and request.form.get("virtual_key_id"):
            section = None
    if section is None or section not in owned_sections(settings.config_file):
        return None
    if section == "profile_packs":
        args = request.view_args or {}
        target = args.get("item_id") or request.form.get("profile_id")
        if request.blueprint == "api":
            target = request.path.split("/")[3]
        if not _pack_profile_owned(settings.config_file, target):
            return None
    message = refusal_message(section, settings.config_file)
    if request.blueprint == "api":
        return error_json(409, "config_file_only", message, {"file": settings.config_file, "section": section})
    abort(409, message)


api.before_request(_file_only_guard)
console.before_request(_file_only_guard)
