"""Checking the company identity provider's tokens (OIDC JWTs), with the keys its JWKS publishes.

The issuer comes from configuration only (``ARCHESTRA_OIDC_ISSUER``); nothing in a request chooses a host the
proxy fetches from. Discovery (``{issuer}/.well-known/openid-configuration``) names the JWKS; both are cached.
A token whose ``kid`` the cached keys do not hold prompts one new fetch of the JWKS (the provider rotated its
keys), at most once per ``ARCHESTRA_OIDC_JWKS_REFRESH_SECONDS``, so a stream of made-up ``kid`` values cannot make
the proxy call its identity provider on every request. Cached keys are fetched again anyway after
``MAX_KEY_AGE`` seconds, so a key the provider withdrew stops working.

Only asymmetric signatures are accepted (RSA, RSA-PSS, ECDSA, EdDSA), and only with a key of the matching type:
never ``none``, never HMAC (an HS256 token "signed" with the provider's public key is refused). The issuer,
the audience, ``exp`` (required) and ``nbf`` are checked with ``LEEWAY`` seconds of clock skew.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import jwt
import requests

log = logging.getLogger("archestra.identity")

#: Algorithms accepted, by JWK key type.
ALGORITHMS: dict[str, frozenset[str]] = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
    "OKP": frozenset({"EdDSA"}),
}
ASYMMETRIC = frozenset().union(*ALGORITHMS.values())
LEEWAY = 30  # seconds of clock skew allowed on exp / nbf / iat
MAX_KEY_AGE = 3600.0  # seconds a fetched JWKS is used before it is fetched again
MAX_DOCUMENT_BYTES = 512 * 1024
TIMEOUT = (5.0, 10.0)  # (connect, read) seconds for the identity provider's documents


class InvalidToken(Exception):
    """The token is not one the identity provider issued for this proxy; the message says why (no secrets)."""


class ProviderUnavailable(InvalidToken):
    """The identity provider's discovery document or keys could not be fetched."""


@dataclass(frozen=True)
class Identity:
    """Who a verified token names: its ``sub``, e-mail address and groups (plain values)."""

    issuer: str
    subject: str
    email: str | None
    groups: tuple[str, ...]
    claims: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)


def looks_like_jwt(value: str) -> bool:
    """Three dot-separated base64url parts, the first a JSON header: shaped like a JWS compact token."""
    parts = value.split(".")
    return len(parts) == 3 and value.startswith("eyJ") and all(parts[:2])


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a token claims, unchecked: only to tell the identity provider's tokens from other JWTs a
    client may send (an Azure Entra ID key, a ChatGPT sign-in), which go their own way."""
    if not looks_like_jwt(token):
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    if path in claims:
        return claims[path]
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _groups(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in value.replace(",", " ").split()]
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(dict.fromkeys(str(item).strip() for item in value if isinstance(item, (str, int)) and
                               str(item).strip()))


def _fetch_json(get: Callable[..., Any], url: str) -> dict[str, Any]:
    try:
        response = get(url, timeout=TIMEOUT, allow_redirects=False, stream=True,
                       headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"the identity provider could not be reached ({exc.__class__.__name__})") \
            from None
    try:
        if response.status_code != 200:
            raise ProviderUnavailable(f"the identity provider answered HTTP {response.status_code} for {url}")
        body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"the identity provider's answer broke off ({exc.__class__.__name__})") \
            from None
    finally:
        response.close()
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ProviderUnavailable(f"the identity provider's document at {url} is too large")
    try:
        data = json.loads(body)
    except ValueError:
        raise ProviderUnavailable(f"the identity provider's document at {url} is not JSON") from None
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"the identity provider's document at {url} is not a JSON object")
    return data


class OidcVerifier:
    """Verifies one issuer's tokens for one audience. Thread-safe; one per process (the runtime holds it)."""

    def __init__(self, issuer: str, audience: str, *, email_claim: str = "email", groups_claim: str = "groups",
                 refresh_seconds: float = 60.0, get: Callable[..., Any] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.issuer, self.audience = issuer, audience
        self.email_claim, self.groups_claim = email_claim, groups_claim
        self.refresh_seconds = refresh_seconds
        self._get = get or requests.get
        self._clock = clock
        self._lock = threading.Lock()
        self._jwks_uri: str | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # when the keys were last fetched
        self.fetches = 0  # JWKS fetches so far (the tests watch it)

    @classmethod
    def from_settings(cls, settings: Any) -> "OidcVerifier | None":
        """The verifier the settings describe, or None when no identity provider is configured."""
        if not settings.oidc_issuer or not settings.oidc_audience:
            return None
        return cls(settings.oidc_issuer, settings.oidc_audience, email_claim=settings.oidc_email_claim,
                   groups_claim=settings.oidc_groups_claim, refresh_seconds=settings.oidc_jwks_refresh_seconds)

    def is_ours(self, token: str) -> bool:
        """Whether ``token`` claims to come from this issuer (then it must verify, or the request is refused)."""
        return unverified_issuer(token) == self.issuer

    # -- keys -------------------------------------------------------------------------------------------
    def _discover(self) -> str:
        if self._jwks_uri is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = _fetch_json(self._get, url)
            if document.get("issuer") != self.issuer:
                raise ProviderUnavailable("the identity provider's discovery document names another issuer "
                                          f"({document.get('issuer')!r}, expected {self.issuer!r})")
            uri = document.get("jwks_uri")
            if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
                raise ProviderUnavailable("the identity provider's discovery document has no usable jwks_uri")
            self._jwks_uri = uri
        return self._jwks_uri

    def _fetch_keys(self) -> None:
        document = _fetch_json(self._get, self._discover())
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys") or ():
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or \
                    entry.get("kty") not in ALGORITHMS:
                continue  # encryption keys and symmetric ("oct") keys are never signature keys for us
            try:
                keys[str(entry.get("kid", ""))] = jwt.PyJWK(entry)
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                log.warning("the identity provider's JWKS holds a key that cannot be read (kid %r)",
                            entry.get("kid"))
        self.fetches += 1
        self._keys, self._fetched_at = keys, self._clock()
        log.info("fetched %d signing key(s) from the identity provider", len(keys))

    def _key(self, kid: str) -> jwt.PyJWK | None:
        with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= MAX_KEY_AGE
            unknown = kid not in self._keys and (self._fetched_at is None or
                                                 now - self._fetched_at >= self.refresh_seconds)
            if stale or unknown:
                try:
                    self._fetch_keys()
                except ProviderUnavailable:
                    if self._fetched_at is None or not self._keys:
                        raise
                    log.warning("the identity provider's keys could not be fetched again; using the cached ones")
                    self._fetched_at = now  # retry after refresh_seconds, not on every request
            return self._keys.get(kid)

    # -- tokens -----------------------------------------------------------------------------------------
    def verify(self, token: str) -> Identity:
        """The identity ``token`` proves, or :class:`InvalidToken` saying why not."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ASYMMETRIC:
            raise InvalidToken(f"the token's algorithm {algorithm!r} is not accepted (asymmetric signatures only)")
        kid = header.get("kid")
        key = self._key(kid if isinstance(kid, str) else "")
        if key is None:
            raise InvalidToken("the token is signed with a key the identity provider does not publish")
        if algorithm not in ALGORITHMS.get(key.key_type, ()):
            raise InvalidToken(f"the token's algorithm {algorithm} does not fit its key")
        try:
            claims = jwt.decode(token, key.key, algorithms=[algorithm], audience=self.audience, issuer=self.issuer,
                                leeway=LEEWAY, options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet (nbf / iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token was issued for another audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the token was issued by another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"the token has no {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"the token is not valid ({exc.__class__.__name__})") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("the token's sub claim is empty")
        email = _claim(claims, self.email_claim)
        if claims.get("email_verified") is False:
            email = None  # an address the provider did not verify names no one: never linked to a person by it
        return Identity(self.issuer, subject, email.strip().lower() if isinstance(email, str) and email.strip()
                        else None, _groups(_claim(claims, self.groups_claim)), claims)
