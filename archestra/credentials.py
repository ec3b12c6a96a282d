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
from .identity.callers import IdentityKeys, Who, identify
from .providers.base import Provider
from .providers.key_formats import KEY_HEADERS
from .proxy_error import ProxyError
from .secretbox import SecretKeyMissing, UndecryptableKey
from .upstream import request_headers
from .virtual_keys import PREFIX, VirtualKeyInfo, carries_virtual_key, is_virtual_key

#: The passthrough identity key's header: a virtual key that says who calls, next to the caller's own provider key.
IDENTITY_HEADER = "X-Archestra-Virtual-Key"
_KEY_SLOTS = (KEY_HEADERS - {"authorization"}) | {profile_tokens.HEADER.lower()}
log = logging.getLogger("archestra.credentials")


@dataclass(frozen=True)
class Caller:
    """The request's credentials: the virtual key that authenticated it and the provider key it may use, and who
    is calling (identity/callers.py)."""

    virtual_key: VirtualKeyInfo | None = None
    held_key: str | None = field(default=None, repr=False)
    who: Who = field(default_factory=Who)
    #: The identity provider token that signed the caller in: never forwarded, in whatever header it also came.
    identity_token: str | None = field(default=None, repr=False)

    @property
    def uses_held_keys(self) -> bool:
        """A virtual key (not a passthrough identity key) or an identity provider token: the proxy's keys serve
        the request and no client key goes upstream."""
        return self.who.proof in ("virtual_key", "identity_token")


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


def _held(keys: Any, profile: ProfileInfo, provider: str) -> str | None:
    try:
        return keys.held_key(profile.id, provider)
    except (SecretKeyMissing, UndecryptableKey) as exc:
        log.error("the %s key held for profile %s cannot be used: %s", provider, profile.id, exc)
        raise ProxyError(500, "The proxy cannot decrypt the provider key it holds for this profile (see its "
                              "log).", kind="api_error", code="provider_key_unavailable") from None


def _usable_key(keys: Any, presented: str, profile: ProfileInfo) -> VirtualKeyInfo:
    key = keys.virtual_key(presented)
    if key is None or not key.usable(datetime.now(timezone.utc)):
        raise _refused("invalid_virtual_key", "The virtual key is not valid (unknown, revoked or expired).")
    if key.profile_id != profile.id:
        raise _refused("invalid_virtual_key", "The virtual key is not valid for this profile.")
    return key


def authenticate(keys: Any, provider: str, profile: ProfileInfo, headers: Any, args: Any,
                 identity: IdentityKeys | None = None) -> Caller:
    """Check the request's credentials for ``profile``; raise a 401 in the caller's format when they fail.

    ``identity`` (the runtime's): identity provider tokens, passthrough identity keys and subscription detection;
    None: virtual keys and profile tokens only."""
    presented = _presented(headers, args)
    token = identity.token_in(headers, args) if identity is not None else None
    passthrough = (headers.get(IDENTITY_HEADER) or "").strip() or None
    if len(presented) > 1:
        raise _refused("conflicting_virtual_keys", "The request carries more than one virtual key.")
    if sum(map(bool, (presented, token, passthrough))) > 1:
        raise _refused("conflicting_credentials", "Send one of: a virtual key, an identity provider token, or "
                                                  f"a passthrough identity key in {IDENTITY_HEADER}.")
    if token is not None:
        who = identify(identity, token, headers)  # type: ignore[arg-type]
        # A token is not issued for one profile (a virtual key is): a profile's access token still applies.
        profile_tokens.check(profile, headers.get(profile_tokens.HEADER))
        return Caller(None, _held(keys, profile, provider), who, token)
    if presented:
        key = _usable_key(keys, presented.pop(), profile)
        if key.identity_only:
            raise _refused("identity_key_only", f"This virtual key only says who is calling: send it in the "
                                                f"{IDENTITY_HEADER} header, next to your own provider key.")
        keys.touch(key)
        who = identity.key_owner(key, "virtual_key", provider, headers) if identity is not None else \
            Who(proof="virtual_key")
        return Caller(key, _held(keys, profile, provider), who)
    if profile.require_virtual_key:
        raise _refused("virtual_key_required", "This profile requires a virtual key issued by the proxy, sent "
                                               "as the provider API key or in X-Archestra-Token.")
    profile_tokens.check(profile, headers.get(profile_tokens.HEADER))
    if passthrough is not None:
        if not is_virtual_key(passthrough):
            raise _refused("invalid_virtual_key", f"{IDENTITY_HEADER} must hold a virtual key issued by the proxy.")
        key = _usable_key(keys, passthrough, profile)
        keys.touch(key)
        who = identity.key_owner(key, "identity_key", provider, headers) if identity is not None else \
            Who(proof="identity_key")
        return Caller(key, None, who)
    return Caller(who=identity.anonymous(provider, headers) if identity is not None else Who())


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
    held = caller.held_key if caller.uses_held_keys else None
    # An identity provider token is never forwarded, whether or not a key is held for the provider.
    replace = held is not None or caller.who.proof == "identity_token"
    if not replace and not _may_carry_secret(headers, query):
        return headers, query  # the common case, decided in one pass over the request's text
    token = caller.identity_token
    headers = {name: value for name, value in headers.items()
               if not _proxy_secret(name) and not _proxy_secret(value)
               and (not replace or name.lower() not in KEY_HEADERS) and (token is None or token not in value)}
    if query:
        parts = [part for part in query.split("&") if part and not _proxy_secret(part)
                 and (token is None or token not in unquote_plus(part))]
        if replace:  # the held key replaces the client's ``?key=`` too
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
