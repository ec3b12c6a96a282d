"""/api/openapi.json: a valid OpenAPI document that describes every management route."""
from __future__ import annotations

import re

import requests
from openapi_spec_validator import validate


def test_document_is_valid_and_complete(proxy):
    response = requests.get(f"{proxy.url}/api/openapi.json", timeout=10)  # no token needed
    assert response.status_code == 200
    document = response.json()
    validate(document)
    described = {(path, method.upper()) for path, item in document["paths"].items()
                 for method in item if method in {"get", "post", "patch", "put", "delete"}}
    served = set()
    for rule in proxy.app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule == "/api/openapi.json":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule.removeprefix("/api"))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if method == "PUT" and (path, "PATCH") in described:
                continue  # PUT is an alias of PATCH
            served.add((path, method))
    assert served == described


def test_schemas_come_from_the_marshmallow_schemas(proxy):
    document = requests.get(f"{proxy.url}/api/openapi.json", timeout=10).json()
    policy = document["components"]["schemas"]["ToolCallPolicy"]
    assert policy["properties"]["action"]["enum"] == ["allow_when_context_is_untrusted",
                                                      "block_when_context_is_untrusted", "block_always",
                                                      "block_when_context_has_labels",
                                                      "block_unless_context_has_labels", "require_approval"]
    assert policy["properties"]["labels"]["items"]["pattern"] == "^[a-z0-9][a-z0-9_.:/@-]{0,63}$"
    assert set(policy["required"]) == {"tool_id", "action"}
    condition = document["components"]["schemas"]["Condition"]
    assert "regex" in condition["properties"]["operator"]["enum"]
