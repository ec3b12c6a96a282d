"""What a passthrough call (embeddings, model lists, token counts) is metered by: its model and its tokens,
read from the answer where the provider reports them."""
from __future__ import annotations

import json
from typing import Any

from ..exchange import Usage

#: Answers larger than this are relayed without being read for usage (a model list, a batch of vectors).
MAX_READ_BYTES = 4 * 1024 * 1024


def passthrough_model(route_model: str | None, body: bytes | None) -> str:
    """The model named in the path (Gemini) or in the JSON body (``"model"``), else an empty string."""
    if route_model:
        return route_model
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return ""
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, str) else ""


def passthrough_usage(content: bytes) -> Usage:
    """Input and output tokens of the answers that report them: OpenAI-style ``usage`` (OpenAI, Mistral,
    Ollama embeddings), Ollama's native ``prompt_eval_count``, Cohere ``meta.billed_units``. Gemini's embeddings report none."""
    try:
        data = json.loads(content) if content else None
    except ValueError:
        return Usage()
    if not isinstance(data, dict):
        return Usage()
    usage = data.get("usage")
    if isinstance(usage, dict):
        return Usage(_int(usage, "prompt_tokens", "input_tokens"), _int(usage, "completion_tokens", "output_tokens"))
    if "prompt_eval_count" in data:  # Ollama's /api/embed
        return Usage(_int(data, "prompt_eval_count"), None)
    meta = data.get("meta")
    billed = meta.get("billed_units") if isinstance(meta, dict) else None
    if isinstance(billed, dict):
        return Usage(_int(billed, "input_tokens"), _int(billed, "output_tokens"))
    return Usage()


def _int(values: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = values.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
