"""One-off questions to an exchange's own model (``Exchange.complete``), used by the dual LLM."""
from __future__ import annotations

import json
from typing import Any

from .metering.interactions import Trace
from .providers.base import Provider
from .routing import Route
from .upstream_calls import read_upstream, send_upstream


def complete(runtime: Any, provider: Provider, route: Route, model: str, headers: dict[str, str],
             query: str, prompt: str, system: str, calls: list[dict[str, Any]] | None = None,
             trace: Any = None) -> str:
    """One non-streamed question to ``model``, with the client's own credentials; its text answer.

    Each call answered is appended to ``calls`` (model and tokens): the exchange it served pays for it. Its time
    counts as the upstream's in the exchange's ``trace`` (and it is traced as an upstream call of its own)."""
    trace = trace if trace is not None else Trace()
    completion_route, body = provider.completion_request(model, system, prompt, route)
    url, headers, query = provider.upstream_request(runtime.settings, completion_route, None,
                                                    {**headers, "Content-Type": "application/json"}, query)
    upstream = send_upstream(runtime, provider, trace, "POST", url, json.dumps(body).encode(), headers, query)
    content = read_upstream(runtime, upstream, trace)
    if upstream.status_code >= 400:
        raise RuntimeError(f"the upstream answered HTTP {upstream.status_code} to a proxy-made completion")
    response = completion_route.family.parse_response(json.loads(content), None)  # type: ignore[arg-type]
    if calls is not None:
        calls.append({"purpose": "dual_llm", "model": response.model or model,
                      "input_tokens": response.usage.input_tokens, "output_tokens": response.usage.output_tokens})
    return response.text
