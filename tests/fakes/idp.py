"""A fake OIDC identity provider on a real socket: discovery, JWKS, key rotation, tokens on demand, and the
authorization code flow with PKCE (for console sign-in).

    idp = FakeIdP()                      # one RSA key ("k1") published
    token = idp.token(sub="u1", email="ada@example.com", groups=["eng"])
    idp.rotate()                         # a new key published (the old one stays until drop_old=True)
    idp.token(alg="HS256", key=idp.public_pem())   # any alg / key / header / claims, for the refusals
    idp.close()

``idp.issuer`` is its base URL; ``idp.audience`` the default ``aud``; ``idp.jwks_fetches`` counts JWKS requests.
Authorization code flow: ``idp.next_user = {...claims...}``; ``GET /authorize`` answers with a 302 to the
``redirect_uri`` carrying a code; ``POST /token`` exchanges it (checks the client, the redirect and the PKCE
verifier) for an ``id_token`` and an ``access_token``.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "archestra-test"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SigningKey:
    """A key pair with its kid and JWK."""

    def __init__(self, kid: str, kind: str = "RSA"):
        self.kid, self.kind = kid, kind
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "RSA" else \
            ec.generate_private_key(ec.SECP256R1())
        self.alg = "RS256" if kind == "RSA" else "ES256"

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.algorithms.RSAAlgorithm if self.kind == "RSA" else jwt.algorithms.ECAlgorithm
        data = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "alg": self.alg}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)


class FakeIdP:
    def __init__(self, audience: str = AUDIENCE, client_id: str = "archestra-console",
                 client_secret: str = "console-secret") -> None:
        self.audience, self.client_id, self.client_secret = audience, client_id, client_secret
        self.keys: list[SigningKey] = [SigningKey("k1")]
        self.jwks_fetches = 0
        self.discovery_fetches = 0
        self.next_user: dict[str, Any] = {"sub": "user-1", "email": "ada@example.com", "groups": []}
        self._codes: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                if parts.path == "/.well-known/openid-configuration":
                    with fake.lock:
                        fake.discovery_fetches += 1
                    self._send(200, fake.discovery())
                elif parts.path == "/jwks":
                    with fake.lock:
                        fake.jwks_fetches += 1
                    self._send(200, {"keys": [key.jwk() for key in fake.keys]})
                elif parts.path == "/authorize":
                    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
                    if query.get("client_id") != fake.client_id or query.get("response_type") != "code":
                        self._send(400, {"error": "invalid_request"})
                        return
                    code = secrets.token_urlsafe(16)
                    with fake.lock:
                        fake._codes[code] = {**query, "user": dict(fake.next_user)}
                    answer = {"code": code, "state": query.get("state", "")}
                    self._send(302, None, {"Location": query["redirect_uri"] + "?" + urlencode(answer)})
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path != "/token":
                    self._send(404, {"error": "not_found"})
                    return
                client_id, client_secret = form.get("client_id"), form.get("client_secret")
                basic = self.headers.get("Authorization", "")
                if basic.lower().startswith("basic "):
                    decoded = base64.b64decode(basic[6:]).decode()
                    client_id, _, client_secret = decoded.partition(":")
                    from urllib.parse import unquote_plus
                    client_id, client_secret = unquote_plus(client_id), unquote_plus(client_secret)
                with fake.lock:
                    grant = fake._codes.pop(form.get("code", ""), None)
                if client_id != fake.client_id or client_secret != fake.client_secret:
                    self._send(401, {"error": "invalid_client"})
                    return
                if grant is None or form.get("redirect_uri") != grant.get("redirect_uri"):
                    self._send(400, {"error": "invalid_grant"})
                    return
                challenge = grant.get("code_challenge")
                if challenge is not None:
                    verifier = form.get("code_verifier", "")
                    if _b64(hashlib.sha256(verifier.encode()).digest()) != challenge:
                        self._send(400, {"error": "invalid_grant", "error_description": "PKCE verifier"})
                        return
                claims = {**grant["user"], "aud": fake.client_id}
                if grant.get("nonce"):
                    claims["nonce"] = grant["nonce"]
                self._send(200, {"access_token": fake.token(**grant["user"]), "token_type": "Bearer",
                                 "expires_in": 3600, "id_token": fake.token(**claims)})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks",
                "authorization_endpoint": f"{self.issuer}/authorize", "token_endpoint": f"{self.issuer}/token",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]}

    # -- keys --------------------------------------------------------------------------------------------
    @property
    def current(self) -> SigningKey:
        return self.keys[-1]

    def rotate(self, drop_old: bool = False, kind: str = "RSA") -> SigningKey:
        """Publish a new signing key (used for new tokens from now on); ``drop_old`` withdraws the others."""
        key = SigningKey(f"k{len(self.keys) + 1}-{secrets.token_hex(3)}", kind)
        self.keys = [key] if drop_old else [*self.keys, key]
        return key

    def public_pem(self) -> bytes:
        return self.current.public_pem()

    # -- tokens ------------------------------------------------------------------------------------------
    def token(self, sub: str = "user-1", *, email: str | None = None, groups: list[str] | None = None,
              aud: Any = None, iss: str | None = None, lifetime: float = 600, nbf: float | None = None,
              alg: str | None = None, key: Any = None, kid: str | None = "", headers: dict[str, Any] | None = None,
              signer: SigningKey | None = None, **claims: Any) -> str:
        """A token with the given claims, signed by the current key unless ``key``/``alg``/``signer`` say
        otherwise. ``alg="none"`` gives an unsigned token; ``kid=None`` leaves the kid out."""
        now = time.time()
        payload: dict[str, Any] = {"iss": iss or self.issuer, "sub": sub, "aud": aud or self.audience,
                                   "iat": int(now), "exp": int(now + lifetime), **claims}
        if email is not None:
            payload["email"] = email
        if groups is not None:
            payload["groups"] = groups
        if nbf is not None:
            payload["nbf"] = int(nbf)
        signer = signer or self.current
        header = {**(headers or {})}
        if kid == "":
            header["kid"] = signer.kid
        elif kid is not None:
            header["kid"] = kid
        alg = alg or signer.alg
        if alg == "none":
            head = _b64(json.dumps({**header, "alg": "none", "typ": "JWT"}).encode())
            return f"{head}.{_b64(json.dumps(payload).encode())}."
        if alg.startswith("HS"):
            # What an attacker does with a published public key; PyJWT refuses PEM keys as HMAC secrets, so sign
            # by hand.
            import hmac
            secret = key if isinstance(key, bytes) else str(key).encode()
            head = _b64(json.dumps({**header, "alg": alg, "typ": "JWT"}).encode())
            body = _b64(json.dumps(payload).encode())
            digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
            return f"{head}.{body}.{_b64(hmac.new(secret, f'{head}.{body}'.encode(), digest).digest())}"
        return jwt.encode(payload, key if key is not None else signer.private, algorithm=alg, headers=header)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
