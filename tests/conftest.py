"""Shared fixtures: a fake upstream provider and the proxy serving on a real socket."""
from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
from flask import Flask
from hypothesis import settings
from werkzeug.serving import make_server

from archestra import create_app
from archestra.extensions import db
from archestra.upgrade import upgrade_database
from tests.fakes.compat_wire import SERVICES
from tests.fakes.idp import FakeIdP
from tests.fakes.server import FakeUpstream

# CI runs the fuzz tests on fixed examples (a new random find must not block a landing); locally they roam.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ADMIN_TOKEN = "test-admin-token"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
OPENAI_COMPATIBLE = ("openai", "mistral", "cerebras", "vllm", "ollama", "zhipuai")
FAKED = OPENAI_COMPATIBLE + SERVICES + ("anthropic", "gemini", "cohere", "bedrock", "mantle", "ollama-native",
                                        "azure")


class ProxyClient:
    """What every test proxy offers: provider base URLs and management API calls (needs ``url``,
    ``admin_headers`` and ``ca``)."""

    url: str
    admin_headers: dict[str, str]
    ca: str | None

    def base(self, provider: str, profile_id: str | None = None) -> str:
        return f"{self.url}/v1/{provider}" + (f"/{profile_id}" if profile_id else "")

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        # Longer than the 30 s a write may wait for SQLite's lock (extensions.py): a 10 s timeout cut one
        # management call on a loaded CI machine (stop 36; the server left no trace of why it was slow).
        headers = {**self.admin_headers, **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}/api{path}", headers=headers, timeout=40,
                                verify=self.ca or True, **kwargs)

    def register_tools(self, profile_id: str, names: Any, parameters: dict) -> dict[str, str]:
        """Register tools on a profile before any traffic (``POST /api/tools``): their ids by name."""
        ids = {}
        for name in names:
            created = self.api("POST", "/tools",
                               json={"profile_id": profile_id, "name": name, "parameters": parameters})
            assert created.status_code == 201, created.text
            ids[name] = created.json()["id"]
        return ids

    def tool_policy(self, kind: str, tool_id: str, action: str, conditions: list | None = None, **fields: Any) -> dict:
        """Create a tool-call (``kind="call"``) or tool-result (``"result"``) policy on a tool by id; ``fields``
        (``labels``, ``reason``) are sent when given."""
        body = {"tool_id": tool_id, "action": action, "conditions": conditions or [],
                **{name: value for name, value in fields.items() if value is not None}}
        created = self.api("POST", f"/tool-{kind}-policies", json=body)
        assert created.status_code == 201, created.text
        return created.json()


@dataclass
class RunningProxy(ProxyClient):
    url: str
    app: Flask
    admin_headers: dict[str, str]
    ca: str | None = None  # the certificate to trust when serving TLS

    def flush(self) -> None:
        """Wait until the background recorder has written everything (tools, blocks, interactions); as long as a
        write may wait for SQLite's lock (30 s) and more, like ``api``."""
        assert self.app.extensions["archestra"].recorder.flush(40)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the machine's real PostgreSQL, dropped afterwards."""
    import uuid

    import psycopg

    name = f"archestra_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """One SQLite file migrated through the real migrations; each proxy gets a copy (fast, isolated)."""
    path = tmp_path_factory.mktemp("template") / "archestra.db"
    app = create_app({"database_url": f"sqlite:///{path}"})
    upgrade_database(app)
    with app.app_context():
        db.engine.dispose()
    with sqlite3.connect(path) as connection:  # fold the WAL into the file before it is copied
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def make_proxy(tmp_path, upstream, migrated_sqlite) -> Iterator[Callable[..., RunningProxy]]:
    servers = []

    def start(tls: tuple[str, str] | None = None, **overrides: Any) -> RunningProxy:
        database = tmp_path / f"archestra-{len(servers)}.db"
        shutil.copyfile(migrated_sqlite, database)
        settings = {
            "database_url": f"sqlite:///{database}",
            "admin_token": ADMIN_TOKEN,
            "base_urls": {name: upstream.url for name in FAKED},
            "profile_cache_seconds": 0,
        }
        base_urls = overrides.pop("base_urls", {})
        settings["base_urls"].update(base_urls)
        settings.update(overrides)
        app = create_app(settings)
        if settings["database_url"] != f"sqlite:///{database}":
            upgrade_database(app)
        server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=tls)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        servers.append(server)
        scheme = "https" if tls else "http"
        return RunningProxy(f"{scheme}://127.0.0.1:{server.server_port}", app,
                            {"Authorization": f"Bearer {ADMIN_TOKEN}"}, tls[0] if tls else None)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy(make_proxy) -> RunningProxy:
    return make_proxy()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for localhost / 127.0.0.1: (cert.pem, key.pem)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return str(folder / "cert.pem"), str(folder / "key.pem")


@pytest.fixture
def idp():
    """A fake identity provider (discovery, JWKS, key rotation, tokens of any shape): tests/fakes/idp.py."""
    fake = FakeIdP()
    yield fake
    fake.close()
