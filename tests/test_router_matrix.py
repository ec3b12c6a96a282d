"""The lethal-trifecta refusal holds for every front x upstream pair of the Model Router, streamed and not: a
``send_email`` call after a fetched (untrusted) page is refused in the client's own format, and the same call in
a trusted context reaches the client intact; the page reached the upstream, in its own format, as a tool result."""
from __future__ import annotations

import pytest

from tests.router_fronts import FRONTS, UPSTREAMS, upstream_for
from tests.router_support import routed  # noqa: F401  (fixture)
from tests.security_drivers import PAGE

EVIL = {"to": "evil@attacker.io"}
PAIRS = [(front, model) for front in FRONTS for model in UPSTREAMS]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("front", "model"), PAIRS)
def test_a_call_after_untrusted_data_is_refused_and_a_trusted_one_passes(routed, upstream, front, model, stream):
    r = routed()
    driver = upstream_for(front, model)
    upstream.reply_with(lambda request: driver.reply(stream, EVIL))
    refused = FRONTS[front](r, model, stream, with_result=True)
    assert refused.calls == [] and "send_email" in refused.text, refused
    assert PAGE in upstream.received[-1].body.decode("unicode_escape")
    allowed = FRONTS[front](r, model, stream, with_result=False)
    assert allowed.calls == [("send_email", EVIL)], allowed
    rows = r.interactions(2)
    provider = model.partition(":")[0]
    assert {row["provider"] for row in rows} == {provider}
    assert all(row["input_tokens"] and row["output_tokens"] for row in rows), rows
