"""Who is calling, and with which key a request goes upstream.

A client authenticates in one of three ways: with a **virtual key** of the profile (sent wherever its SDK sends a
provider key: ``Authorization: Bearer``, ``x-api-key``, ``x-goog-api-key``, ``?key=``, or in
``X-Archestra-Token``), with the profile's access token (profile_tokens.py) or, on an open profile, with nothing.
Only the first may use a key the proxy holds: a request authenticated by a virtual key goes upstream with the
profile's provider key (else the environment's default, ``ARCHESTRA_CHAT_{PROVIDER}_API_KEY``), and every slot
that carried a key is cleared. Any other request keeps its own key (pass-through), unless the profile requires
virtual keys. Whatever the caller, a value shaped like a virtual key is never forwarded: not in any header (name
or value, any case, percent- or Basic-encoded) nor in any query parameter, valid or not, in a key slot or not.

The proxy's own cloud credentials (Bedrock SigV4, its Google token) follow the same rule as held keys: only for a
caller that proved the profile; a client value the proxy does not recognise as the provider's key format is no key
and no proof (providers/key_formats.py, and each provider's ``check_access``).

A valid virtual key of the profile also satisfies the profile's access token: it is a credential issued for that
profile, so the access token stays what it was (a shared password for clients that bring their own key).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote_plus

from flask import request

from . import profile_tokens
from .exchange import ProfileInfo
from .providers.base import Provider
from .providers.key_formats import KEY_HEADERS
from .proxy_error import ProxyError
from .secretbox import SecretKeyMissing, UndecryptableKey
from .upstream import request_headers
from .virtual_keys import PREFIX, VirtualKeyInfo, carries_virtual_key, is_virtual_key

_KEY_SLOTS = (KEY_HEADERS - {"authorization"}) | {profile_tokens.HEADER.lower()}
log = logging.getLogger("archestra.credentials")


@dataclass(frozen=True)
class Caller:
    """The request's credentials: the virtual key that authenticated it and the provider key it may use."""

    virtual_key: VirtualKeyInfo | None = None
    held_key: str | None = field(default=None, repr=False)


def _presented(headers: Any, args: Any) -> set[str]:
    """Every virtual key the request carries, wherever it is (every value of a repeated header too)."""
    found = set()
    for name, value in headers.items():  # one pass: werkzeug's lookups by name each walk the whole environ
        if PREFIX not in value:
            continue
        name = name.lower()
        if name == "authorization":
            scheme, _, value = value.partition(" ")
            if scheme.lower() != "bearer":
                continue
        elif name not in _KEY_SLOTS:
            continue
        if is_virtual_key(value.strip()):
            found.add(value.strip())
    found.update(value.strip() for value in args.getlist("key") if is_virtual_key(value.strip()))
    return found


def _refused(code: str, message: str) -> ProxyError:
    return ProxyError(401, message, kind="authentication_error", code=code)


def authenticate(keys: Any, provider: str, profile: ProfileInfo, headers: Any, args: Any) -> Caller:
    """Check the request's credentials for ``profile``; raise a 401 in the caller's format when they fail."""
    presented = _presented(headers, args)
    if len(presented) > 1:
        raise _refused("conflicting_virtual_keys", "The request carries more than one virtual key.")
    if presented:
        key = keys.virtual_key(presented.pop())
        if key is None or not key.usable(datetime.now(timezone.utc)):
            raise _refused("invalid_virtual_key", "The virtual key is not valid (unknown, revoked or expired).")
        if key.profile_id != profile.id:
            raise _refused("invalid_virtual_key", "The virtual key is not valid for this profile.")
        keys.touch(key)
        try:
            return Caller(key, keys.held_key(profile.id, provider))
        except (SecretKeyMissing, UndecryptableKey) as exc:
            log.error("the %s key held for profile %s cannot be used: %s", provider, profile.id, exc)
            raise ProxyError(500, "The proxy cannot decrypt the provider key it holds for this profile (see its "
                                  "log).", kind="api_error", code="provider_key_unavailable") from None
    if profile.require_virtual_key:
        raise _refused("virtual_key_required", "This profile requires a virtual key issued by the proxy, sent "
                                               "as the provider API key or in X-Archestra-Token.")
    profile_tokens.check(profile, headers.get(profile_tokens.HEADER))
    return Caller()


def _proxy_secret(text: str) -> bool:
    """A virtual key or a profile access token: credentials for this proxy, never for an upstream."""
    return carries_virtual_key(text) or profile_tokens.carries_token(text)


def _may_carry_secret(headers: dict[str, str], query: str) -> bool:
    """False only when no header or query parameter can hold one of the proxy's secrets in any spelling
    ``_proxy_secret`` reads: both prefixes start with "archestra", and the other spellings need "%" or Basic."""
    text = "\n".join([*headers.keys(), *headers.values(), query]).lower()
    return "archestra" in text or "%" in text or "basic" in text


def upstream_credentials(caller: Caller, provider: Provider, headers: dict[str, str],
                         query: str) -> tuple[dict[str, str], str]:
    """The headers and query string that go upstream: a virtual key (or a profile's access token) never does,
    whoever sends it and wherever (any header or query parameter, see ``carries_virtual_key``); the held key replaces every client key when the
    caller may use it; other requests keep theirs."""
    held = caller.held_key if caller.virtual_key is not None else None
    if held is None and not _may_carry_secret(headers, query):
        return headers, query  # the common case, decided in one pass over the request's text
    headers = {name: value for name, value in headers.items()
               if not _proxy_secret(name) and not _proxy_secret(value)
               and (held is None or name.lower() not in KEY_HEADERS)}
    if query:
        parts = [part for part in query.split("&") if part and not _proxy_secret(part)]
        if held is not None:  # the held key replaces the client's ``?key=`` too
            parts = [part for part in parts if unquote_plus(part.partition("=")[0]).strip().lower() != "key"]
        query = "&".join(parts)
    if held is not None:
        name, prefix = provider.key_header
        headers[name] = prefix + held
    return headers, query


def outgoing(caller: Caller, provider: Provider) -> tuple[dict[str, str], str]:
    """The current request's headers and query string as they may go upstream."""
    return upstream_credentials(caller, provider, request_headers(request.headers.items()),
                                request.query_string.decode())
