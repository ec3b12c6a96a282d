"""The proxy as deployed, for tests that must hold on it: gunicorn with two gevent workers (from
gunicorn.conf.py), every provider pointed at one scripted fake upstream. Started once per test module.

Use the ``live`` fixture (plain HTTP) or ``live_tls`` (HTTPS: boto3 sends Bedrock API keys only over TLS).
Records are written by each worker's background recorder, so reads of the management API poll briefly.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from tests.conftest import FAKED, ProxyClient
from tests.fakes.server import FakeUpstream
from tests.test_deployment import start_gunicorn, stop_gunicorn


@dataclass
class LiveProxy(ProxyClient):
    url: str
    upstream: FakeUpstream
    ca: str | None = None
    admin_headers: dict[str, str] = field(default_factory=lambda: {"Authorization": "Bearer t"})

    def eventually(self, read: Callable[[], Any], timeout: float = 10) -> Any:
        """Poll ``read`` until it returns something truthy (records land off the request path)."""
        deadline = time.monotonic() + timeout
        while True:
            value = read()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.05)

    def profile(self, **fields: Any) -> str:
        """A new profile (isolates a test's tools and policies from the module's other tests): its id."""
        created = self.api("POST", "/profiles", json={"name": f"p{time.monotonic_ns()}", **fields})
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def tool_id(self, profile_id: str, name: str) -> str:
        """The id of a tool the profile's traffic declared (waits for discovery to be written)."""
        def find() -> list[dict]:
            return self.api("GET", "/tools", params={"profile_id": profile_id, "name": name}).json()["data"]
        tools = self.eventually(find)
        assert len(tools) == 1, tools
        return tools[0]["id"]

    def policy(self, kind: str, profile_id: str, tool: str, action: str, conditions: list | None = None,
               reason: str | None = None) -> dict:
        """Create a tool-call (``kind="call"``) or tool-result (``"result"``) policy on a discovered tool."""
        return self.tool_policy(kind, self.tool_id(profile_id, tool), action, conditions, reason=reason or None)

    def blocked(self, profile_id: str, count: int) -> list[dict]:
        """The profile's recorded refusals, once there are at least ``count``."""
        def read() -> list[dict]:
            rows = self.api("GET", "/blocked-tool-calls", params={"profile_id": profile_id}).json()["data"]
            return rows if len(rows) >= count else []
        return self.eventually(read)


def _start(tmp_path_factory, tls: tuple[str, str] | None, extra_env: dict[str, str] | None = None,
           upstream: FakeUpstream | None = None):
    """The two-worker proxy over a fake upstream (``upstream``, or a new one); ``extra_env`` adds settings."""
    upstream = upstream or FakeUpstream()
    folder = tmp_path_factory.mktemp("live")
    env = {f"ARCHESTRA_{name.upper()}_BASE_URL": upstream.url for name in FAKED}
    env.update({"ARCHESTRA_WORKERS": "2", "ARCHESTRA_ACCESS_LOG": "", **(extra_env or {})})
    if tls:
        env.update({"ARCHESTRA_TLS_CERT": tls[0], "ARCHESTRA_TLS_KEY": tls[1]})
    process, log, url = start_gunicorn(folder, env, "https" if tls else "http", verify=tls[0] if tls else None)
    return upstream, process, log, LiveProxy(url, upstream, tls[0] if tls else None)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    upstream, process, log, proxy = _start(tmp_path_factory, None)
    yield proxy
    stop_gunicorn(process, log)
    upstream.close()


@pytest.fixture(scope="module")
def live_tls(tmp_path_factory, tls_cert):
    upstream, process, log, proxy = _start(tmp_path_factory, tls_cert)
    yield proxy
    stop_gunicorn(process, log)
    upstream.close()
