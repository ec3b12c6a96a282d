"""Policy replay over Model Router traffic: an exchange is replayed by the family of its client (its front), whatever
provider answered it, and the replay's verdicts equal what enforcing the candidate does on the same requests."""
from __future__ import annotations

from dataclasses import dataclass

from tests.router_fronts import FRONTS, upstream_for
from tests.router_support import HELD, SECRET, Routed
from tests.test_policy_replay import replay_scenario


@dataclass
class RouterDriver:
    """A test_policy_replay driver: a router client of ``front`` asking ``model``."""

    front: str
    model: str
    routed: Routed

    @property
    def provider(self) -> str:
        return self.model.partition(":")[0]

    def ask(self, proxy, stream: bool, with_result: bool):
        return FRONTS[self.front](self.routed, self.model, stream, with_result)

    def reply(self, stream: bool, args: dict):
        driver = upstream_for(self.front, self.model)
        return lambda request: driver.reply(stream, args)


def test_router_traffic_replays_as_its_client_family_decided_it(make_proxy, upstream):
    proxy = make_proxy(provider_keys=HELD, secret_key=SECRET)
    profile = proxy.api("GET", "/profiles").json()["data"][0]["id"]
    key = proxy.api("POST", "/virtual-keys", json={"profile_id": profile, "name": "replay"}).json()["key"]
    routed = Routed(proxy, profile, key)
    drivers = [RouterDriver("chat", "anthropic:claude-sonnet-4-5", routed),
               RouterDriver("messages", "gemini:gemini-2.5-pro", routed),
               RouterDriver("responses", "cohere:command-a", routed)]
    replay_scenario(proxy, upstream, drivers)
