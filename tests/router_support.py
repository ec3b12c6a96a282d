"""What the Model Router tests share: a proxy holding a key for every provider, a profile with a virtual key,
and a fake upstream that answers in whichever provider's format a request was meant for."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest
from cryptography.fernet import Fernet

from archestra.config import provider_variable
from tests.conftest import FAKED, RunningProxy
from tests.live import _start
from tests.test_deployment import stop_gunicorn
from tests.fakes.server import Received, Reply

SECRET = Fernet.generate_key().decode()
HELD = {name: f"held-{name}-KEY-0001" for name in FAKED}
#: The settings of a deployed proxy holding ``HELD`` for every provider.
HELD_ENV = {**{provider_variable(name, "CHAT_API_KEY"): key for name, key in HELD.items()},
            "ARCHESTRA_SECRET_KEY": SECRET}


@pytest.fixture(scope="module")
def live_router(tmp_path_factory):
    """The two-worker gunicorn (tests/live.py) holding a key for every provider."""
    upstream, process, log, proxy = _start(tmp_path_factory, None, HELD_ENV)
    yield proxy
    stop_gunicorn(process, log)
    upstream.close()


@dataclass
class Routed:
    proxy: RunningProxy
    profile: str
    key: str  # a virtual key of the profile

    @property
    def base(self) -> str:
        return f"{self.proxy.url}/v1/model-router/{self.profile}"

    def interactions(self, count: int) -> list[dict]:
        self.proxy.flush()
        rows = self.proxy.api("GET", "/interactions", params={"profile_id": self.profile}).json()["data"]
        assert len(rows) >= count, rows
        return rows

    def interaction(self, interaction_id: str) -> dict:
        self.proxy.flush()
        return self.proxy.api("GET", f"/interactions/{interaction_id}").json()


def family_of(request: Received) -> str:
    """Which upstream family a request to the fake was written in, by its path."""
    path = request.path
    if "/publishers/anthropic/" in path or "/invoke" in path or path.endswith("/v1/messages"):
        return "anthropic"
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return "gemini"
    if path.startswith("/v2/chat"):
        return "cohere"
    if "/converse" in path:
        return "bedrock"
    return "openai"


@pytest.fixture
def routed(make_proxy) -> Callable[..., Routed]:
    """Start a proxy (settings as keyword arguments) with a profile and a virtual key for the router."""
    def start(**settings) -> Routed:
        proxy = make_proxy(**{"provider_keys": HELD, "secret_key": SECRET, **settings})
        created = proxy.api("POST", "/profiles", json={"name": "router"})
        assert created.status_code == 201, created.text
        profile = created.json()["id"]
        key = proxy.api("POST", "/virtual-keys", json={"profile_id": profile, "name": "app"})
        assert key.status_code == 201, key.text
        return Routed(proxy, profile, key.json()["key"])
    return start


def by_family(replies: dict[str, Callable[[Received], Reply]]) -> Callable[[Received], Reply]:
    """A fake upstream handler answering each request with the reply of its family."""
    return lambda request: replies[family_of(request)](request)
