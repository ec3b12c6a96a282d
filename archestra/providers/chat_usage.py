"""The usage of a chat completions answer or stream chunk, as the servers of that family count it."""
from __future__ import annotations

from typing import Any

from ..exchange import Usage


def usage_of(usage: Any) -> Usage | None:
    """An answer's ``usage``. Reasoning tokens are output tokens: xAI counts them apart from
    ``completion_tokens`` (its ``total_tokens`` is prompt + completion + reasoning), OpenAI within them."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    numbers = [value for value in (prompt, completion, reasoning, usage.get("total_tokens"))
               if isinstance(value, int) and not isinstance(value, bool)]
    if len(numbers) == 4 and reasoning and usage["total_tokens"] == prompt + completion + reasoning:
        completion += reasoning
    return Usage(prompt, completion)
