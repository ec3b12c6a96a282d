"""Fuzzing: the management API from its own OpenAPI document (schemathesis), and the proxy routes of every
provider with arbitrary JSON (hypothesis). No 500s, no stack traces, errors in the expected shape."""
from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_management_api_conforms_to_its_document(make_proxy):
    # Driven through schemathesis' core API: its pytest plugin does not load under pytest 9.
    proxy = make_proxy()
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", proxy.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30

    for operation in operations:
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def exercise(case):
            response = case.call(headers=ADMIN)
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)
            assert "Traceback" not in response.text
            # positive_data_acceptance is left out: a well-formed body naming a profile or tool that does not
            # exist is rightly a 400, which that check cannot tell from a rejected valid request.
            case.validate_response(response, headers=ADMIN, excluded_checks=[positive_data_acceptance])

        exercise()


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                  max_size=4), max_leaves=20)
FIELDS = ["model", "messages", "contents", "tools", "stream", "system", "role", "content", "parts", "tool_calls",
          "toolConfig", "functionCall", "functionResponse", "toolUse", "toolResult", "text", "type", "input",
          "anthropic_version", "prompt", "schemaVersion"]
BODIES = JSON | st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=5) | st.fixed_dictionaries({
    "model": st.text(min_size=1, max_size=10), "messages": st.lists(st.dictionaries(
        st.sampled_from(FIELDS), JSON, max_size=4), max_size=3)})
ROUTES = [("openai", "/chat/completions"), ("mistral", "/v1/chat/completions"), ("anthropic", "/v1/messages"),
          ("cohere", "/v2/chat"), ("gemini", "/v1beta/models/m:generateContent"),
          ("bedrock", "/model/m/converse"), ("bedrock", "/model/m/invoke"),
          ("bedrock", "/model/m/invoke-with-response-stream")]


@pytest.fixture
def fuzz_client(make_proxy, upstream):
    from tests.fakes.server import json_reply

    upstream.reply_with(json_reply({"error": {"message": "fake upstream says no"}}, status=400))
    proxy = make_proxy()
    return proxy.app.test_client()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(ROUTES), body=BODIES)
def test_proxy_routes_never_fail_on_arbitrary_json(fuzz_client, route, body):
    provider, path = route
    response = fuzz_client.post(f"/v1/{provider}{path}", data=json.dumps(body),
                                headers={"Content-Type": "application/json", "Authorization": "Bearer k"})
    assert response.status_code < 500, (response.status_code, response.data[:300])
    assert response.is_json and b"Traceback" not in response.data
