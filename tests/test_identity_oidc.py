"""archestra/identity/oidc.py against the fake identity provider on a real socket: what it accepts and refuses."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from archestra.identity.oidc import InvalidToken, OidcVerifier, ProviderUnavailable
from archestra.identity.roles import may, role_for_groups
from tests.fakes.idp import FakeIdP, SigningKey


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier(idp: FakeIdP, clock: Clock | None = None, **kwargs) -> OidcVerifier:
    return OidcVerifier(idp.issuer, idp.audience, refresh_seconds=30, clock=clock or time.monotonic, **kwargs)


def test_a_valid_token_names_the_person(idp):
    identity = verifier(idp).verify(idp.token("u-42", email="Ada@Example.com", groups=["eng", "ml"]))
    assert (identity.subject, identity.email, identity.groups) == ("u-42", "ada@example.com", ("eng", "ml"))
    assert (idp.discovery_fetches, idp.jwks_fetches) == (1, 1)


def test_an_unverified_email_address_names_no_one(idp):
    """An address the provider says it did not verify is not the person's: it never links them to the person an
    operator created with that address (nor to that person's keys and budgets)."""
    check = verifier(idp)
    assert check.verify(idp.token("u-1", email="ceo@example.com", email_verified=False)).email is None
    assert check.verify(idp.token("u-1", email="ceo@example.com", email_verified=True)).email == "ceo@example.com"


def test_ec_keys_and_nested_group_claims(idp):
    idp.rotate(kind="EC")
    check = verifier(idp, groups_claim="realm_access.roles")
    identity = check.verify(idp.token("u-1", realm_access={"roles": ["ops"]}))
    assert identity.groups == ("ops",)


@pytest.mark.parametrize("case, expected", [
    ("wrong issuer", "another issuer"),
    ("wrong audience", "another audience"),
    ("expired", "expired"),
    ("not yet valid", "not valid yet"),
    ("alg none", "'none' is not accepted"),
    ("HS256 with the public key", "'HS256' is not accepted"),
    ("unknown key", "does not publish"),
    ("tampered", "signature does not verify"),
    ("a published kid, another key", "signature does not verify"),
    ("no exp", "'exp'"),
    ("RS256 header on an EC key", "does not fit its key"),
])
def test_refusals(idp, case, expected):
    check = verifier(idp)
    token = {
        "wrong issuer": lambda: idp.token(iss="https://evil.example.com"),
        "wrong audience": lambda: idp.token(aud="another-app"),
        "expired": lambda: idp.token(lifetime=-120),
        "not yet valid": lambda: idp.token(nbf=time.time() + 300),
        "alg none": lambda: idp.token(alg="none"),
        "HS256 with the public key": lambda: idp.token(alg="HS256", key=idp.public_pem()),
        "unknown key": lambda: idp.token(signer=SigningKey("k-unknown")),
        "a published kid, another key": lambda: idp.token(signer=SigningKey("k1")),
        "tampered": lambda: _tamper(idp.token(email="a@example.com")),
        "no exp": lambda: idp.token(exp=None),
        "RS256 header on an EC key": lambda: _ec_with_rs256(idp),
    }[case]()
    with pytest.raises(InvalidToken, match=expected):
        check.verify(token)


def _tamper(token: str) -> str:
    import base64
    import json
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["email"] = "mallory@example.com"
    return f"{head}.{base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b'=').decode()}.{sig}"


def _ec_with_rs256(idp: FakeIdP) -> str:
    ec_key = idp.rotate(kind="EC")
    rsa_key = idp.keys[0]
    return idp.token(signer=rsa_key, kid=ec_key.kid)  # signed RS256 by the RSA key, naming the EC key


def test_small_clock_skew_is_tolerated(idp):
    assert verifier(idp).verify(idp.token(nbf=time.time() + 10)).subject == "user-1"
    assert verifier(idp).verify(idp.token(lifetime=-10)).subject == "user-1"


def test_rotation_fetches_the_new_key_once(idp):
    clock = Clock()
    check = verifier(idp, clock)
    check.verify(idp.token())
    idp.rotate()
    clock.now += 31
    assert check.verify(idp.token("rotated")).subject == "rotated"
    assert idp.jwks_fetches == 2
    assert check.verify(idp.token("again")).subject == "again"
    assert idp.jwks_fetches == 2  # cached


def test_unknown_kids_do_not_make_a_fetch_each(idp):
    clock = Clock()
    check = verifier(idp, clock)
    check.verify(idp.token())
    attacker = SigningKey("made-up")
    for number in range(20):
        with pytest.raises(InvalidToken):
            check.verify(idp.token(signer=attacker, kid=f"made-up-{number}"))
    assert idp.jwks_fetches == 1
    clock.now += 31
    with pytest.raises(InvalidToken):
        check.verify(idp.token(signer=attacker, kid="made-up-late"))
    assert idp.jwks_fetches == 2


def test_withdrawn_keys_stop_working_after_the_cache_age(idp):
    clock = Clock()
    check = verifier(idp, clock)
    old = idp.token()
    check.verify(old)
    idp.rotate(drop_old=True)
    clock.now += 3601
    with pytest.raises(InvalidToken, match="does not publish"):
        check.verify(old)


def test_discovery_naming_another_issuer_is_refused(idp):
    check = OidcVerifier(idp.issuer + "/", idp.audience)
    with pytest.raises(ProviderUnavailable, match="another issuer"):
        check.verify(idp.token(iss=idp.issuer + "/"))


def test_unreachable_provider():
    check = OidcVerifier("http://127.0.0.1:9", "aud")
    with pytest.raises(ProviderUnavailable, match="could not be reached"):
        check.verify(_token_for("http://127.0.0.1:9"))


def _token_for(issuer: str) -> str:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode({"iss": issuer, "sub": "x", "aud": "aud", "exp": int(time.time()) + 60}, key,
                      algorithm="RS256", headers={"kid": "k"})


def test_roles_from_groups():
    settings = SimpleNamespace(oidc_admin_groups=("platform",), oidc_operator_groups=("sec", "ops"),
                               oidc_viewer_groups=("eng",))
    assert role_for_groups(["eng", "ops"], settings) == "operator"
    assert role_for_groups(["platform", "eng"], settings) == "admin"
    assert role_for_groups(["eng"], settings) == "viewer"
    assert role_for_groups(["sales"], settings) is None
    assert may("operator", "viewer") and not may("viewer", "operator") and not may(None, "viewer")


def test_settings():
    from archestra.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="ARCHESTRA_OIDC_AUDIENCE is required"):
        load_settings(env={"ARCHESTRA_OIDC_ISSUER": "https://login.example.com/"})
    with pytest.raises(ConfigError, match="ARCHESTRA_OIDC_ISSUER must be an http"):
        load_settings(env={"ARCHESTRA_OIDC_ISSUER": "login.example.com", "ARCHESTRA_OIDC_AUDIENCE": "a"})
    settings = load_settings(env={"ARCHESTRA_OIDC_ISSUER": "https://login.example.com/", "ARCHESTRA_OIDC_AUDIENCE": "a",
                                  "ARCHESTRA_OIDC_ADMIN_GROUPS": " platform, sre ,", "ARCHESTRA_OIDC_GROUPS_CLAIM":
                                  "realm_access.roles", "ARCHESTRA_SUBSCRIPTION_DETECTION": "false"})
    assert settings.oidc_issuer == "https://login.example.com/"  # as the tokens spell it: no "/" stripped
    assert settings.oidc_admin_groups == ("platform", "sre") and not settings.subscription_detection
    verifier = OidcVerifier.from_settings(settings)
    assert verifier is not None and verifier.groups_claim == "realm_access.roles"
    assert OidcVerifier.from_settings(load_settings(env={})) is None
