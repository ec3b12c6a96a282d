"""Policy replay (issue 19) over the Anthropic family's cloud routes: InvokeModel (AnthropicBedrock, the proxy
signing with its own AWS credentials) and Vertex AI ``:rawPredict`` / ``:streamRawPredict`` (AnthropicVertex). The
interactions keep the path they came by, so the replay parses them with the route's own family: the scenario of
test_policy_replay.py, checked against enforcing the candidate on the same requests."""
from __future__ import annotations

import pytest

from tests.test_policy_replay import replay_scenario
from tests.test_security_cloud import cloud_proxy, clouds  # noqa: F401 - clouds is a fixture

pytestmark = pytest.mark.usefixtures("clouds")


@pytest.mark.parametrize("mode", ["bedrock-sigv4", "vertex"])
def test_replay_over_the_cloud_routes(make_proxy, tls_cert, upstream, clouds, mode):  # noqa: F811
    start, driver = cloud_proxy(make_proxy, upstream, clouds, mode)
    proxy = start()
    replay_scenario(proxy, upstream, [driver])
    paths = {row["path"] for row in proxy.api("GET", "/interactions", params={"limit": 500}).json()["data"]}
    if mode == "vertex":
        assert any(path.endswith(":rawPredict") for path in paths)
        assert any(path.endswith(":streamRawPredict") for path in paths)
    else:
        assert any(path.endswith("/invoke") for path in paths)
        assert any(path.endswith("/invoke-with-response-stream") for path in paths)
