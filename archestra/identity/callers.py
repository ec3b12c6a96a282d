"""Who is calling through the proxy: a person (and the team their request counts for), from an identity
provider token, a person's or team's virtual key, or a passthrough identity key; and whether a provider
subscription pays for the request.

* **Identity provider token**: a JWT whose ``iss`` is ``ARCHESTRA_OIDC_ISSUER``, sent where the SDK sends its
  provider key (``Authorization: Bearer``, ``x-api-key``, ``x-goog-api-key``, ``api-key``, ``?key=``). It must
  verify (oidc.py), else the request is refused; it is never forwarded, and the request uses the keys the proxy
  holds for the profile, as with a virtual key. JWTs of other issuers (an Azure Entra ID token, a ChatGPT
  sign-in) are the caller's own provider credential and go their usual way.
* **Virtual key of a person or team** (``/api/virtual-keys`` with ``person_id`` or ``team_id``): its requests are
  theirs.
* **Passthrough identity key**: a virtual key in ``X-Archestra-Virtual-Key``, next to the caller's own provider
  credential (Claude Code on a subscription: ``ANTHROPIC_CUSTOM_HEADERS``). It only says who calls: the caller's
  own key goes upstream and no held key is used.

The team: the key's team for a team key, else the person's team named by ``X-Archestra-Team`` (id or name; they
must belong to it), else their only team, else the first by name.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..providers.key_formats import KEY_HEADERS
from ..proxy_error import ProxyError
from .oidc import InvalidToken, OidcVerifier, ProviderUnavailable
from .people import PeopleDirectory, PersonInfo, TeamInfo
from .subscriptions import subscription_of

log = logging.getLogger("archestra.identity")
TEAM_HEADER = "X-Archestra-Team"


@dataclass(frozen=True)
class Who:
    """Who calls, as recorded on the interaction and counted by limits (plain values)."""

    #: ``virtual_key``, ``identity_token``, ``identity_key`` (passthrough) or None (own key / profile token).
    proof: str | None = None
    person_id: str | None = None
    person_email: str | None = None
    team_id: str | None = None
    team_name: str | None = None
    #: ``claude`` / ``chatgpt`` when a provider subscription pays for the request (subscriptions.py).
    subscription: str | None = None


def _refused(code: str, message: str) -> ProxyError:
    return ProxyError(401, message, kind="authentication_error", code=code)


def _bearer(value: str) -> str:
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class IdentityKeys:
    """The runtime's view of callers: the identity provider's verifier (None when not configured), the people
    directory, and the subscription switch."""

    def __init__(self, verifier: OidcVerifier | None, people: PeopleDirectory, detect_subscriptions: bool):
        self.verifier, self.people, self.detect_subscriptions = verifier, people, detect_subscriptions

    def invalidate(self) -> None:
        self.people.invalidate()

    def token_in(self, headers: Any, args: Any) -> str | None:
        """The identity provider token the request carries in a key slot, if any (refused when two differ)."""
        if self.verifier is None:
            return None
        found = set()
        for name, value in headers.items():
            name = name.lower()
            if name not in KEY_HEADERS or "eyJ" not in value:
                continue
            value = _bearer(value) if name == "authorization" else value.strip()
            if value and self.verifier.is_ours(value):
                found.add(value)
        found.update(value.strip() for value in args.getlist("key") if self.verifier.is_ours(value.strip()))
        if len(found) > 1:
            raise _refused("conflicting_credentials", "The request carries more than one identity provider token.")
        return found.pop() if found else None

    def _team(self, person: PersonInfo | None, headers: Any) -> TeamInfo | None:
        wanted = (headers.get(TEAM_HEADER) or "").strip()
        if person is None:
            return None
        team = person.team(wanted or None)
        if wanted and team is None:
            raise ProxyError(403, f"{TEAM_HEADER} names a team you do not belong to.", kind="permission_error",
                             code="not_a_team_member")
        return team

    def _who(self, proof: str, person: PersonInfo | None, team: TeamInfo | None, subscription: str | None) -> Who:
        if person is not None and person.disabled:
            raise _refused("person_disabled", "This person is disabled on this proxy.")
        return Who(proof, person.id if person else None, person.email if person else None,
                   team.id if team else None, team.name if team else None, subscription)

    def _subscription(self, provider: str, headers: Any) -> str | None:
        return subscription_of(provider, headers) if self.detect_subscriptions else None

    def anonymous(self, provider: str, headers: Any) -> Who:
        """A caller with its own provider key (or a profile token): nobody known, perhaps a subscription."""
        return Who(subscription=self._subscription(provider, headers))

    def key_owner(self, key: Any, proof: str, provider: str, headers: Any) -> Who:
        """The person or team a virtual key belongs to."""
        person = self.people.person(key.person_id) if key.person_id else None
        if key.person_id and person is None:
            raise _refused("invalid_virtual_key", "The virtual key's person no longer exists.")
        team = self.people.team(key.team_id) if key.team_id else self._team(person, headers)
        if key.team_id and team is None:
            raise _refused("invalid_virtual_key", "The virtual key's team no longer exists.")
        return self._who(proof, person, team,
                         self._subscription(provider, headers) if proof == "identity_key" else None)

    def identify(self, token: str, headers: Any) -> Who:
        """The person an identity provider token proves (created on first sight), or a 401 saying why not."""
        assert self.verifier is not None
        try:
            identity = self.verifier.verify(token)
        except ProviderUnavailable as exc:
            log.error("identity provider unavailable: %s", exc)
            raise ProxyError(503, "The proxy cannot reach the identity provider to check the token; try again "
                                  "later.", kind="api_error", code="identity_provider_unavailable") from None
        except InvalidToken as exc:
            raise _refused("invalid_identity_token", f"The identity provider token was refused: {exc}.") from None
        person = self.people.for_identity(identity)
        return self._who("identity_token", person, self._team(person, headers), None)


def identify(identity: IdentityKeys, token: str, headers: Any) -> Who:
    return identity.identify(token, headers)
