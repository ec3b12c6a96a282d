"""The fake identity provider (tests/fakes/idp.py) with a sign-in page in front of its authorization endpoint, as
a real one has: the browser arrives at ``/login`` with the authorization request, a person types an e-mail
address and picks groups, and the page hands the request on to the fake's ``/authorize`` as that person (which
answers with the code for the console's callback; its ``/token`` exchanges the code, checking the PKCE verifier).

    idp = LoginIdP()              # discovery names /login as the authorization endpoint
    ...                           # a browser follows the console's "Sign in with your identity provider"
    idp.requests                  # the authorization requests the login page received (query parameters)
"""
from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes.idp import FakeIdP


class LoginIdP(FakeIdP):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests: list[dict[str, str]] = []
        fake = self

        class Login(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: str = "", location: str | None = None) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                if location:
                    self.send_header("Location", location)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                if parts.path != "/login":
                    self._answer(404, "not found")
                    return
                query = {name: values[0] for name, values in parse_qs(parts.query).items()}
                with fake.lock:
                    fake.requests.append(query)
                self._answer(200, f"""<!doctype html><title>Fake IdP sign-in</title>
<h1>Fake IdP</h1>
<form method="post" action="/login">
<input type="hidden" name="request" value="{html.escape(urlencode(query))}">
<label>E-mail <input id="idp-email" name="email"></label>
<label>Groups <input id="idp-groups" name="groups" placeholder="comma-separated"></label>
<button id="idp-submit" type="submit">Sign in</button>
</form>""")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
                email = form.get("email", "").strip()
                groups = [part.strip() for part in form.get("groups", "").split(",") if part.strip()]
                with fake.lock:
                    fake.next_user = {"sub": f"sub-{email}", "email": email, "groups": groups}
                self._answer(302, "", f"{fake.issuer}/authorize?{form.get('request', '')}")

        self.login_server = ThreadingHTTPServer(("127.0.0.1", 0), Login)
        self.login_server.daemon_threads = True
        self.login_url = f"http://127.0.0.1:{self.login_server.server_address[1]}/login"
        threading.Thread(target=self.login_server.serve_forever, daemon=True).start()

    def discovery(self) -> dict[str, Any]:
        return {**super().discovery(), "authorization_endpoint": self.login_url}

    def close(self) -> None:
        self.login_server.shutdown()
        self.login_server.server_close()
        super().close()
