"""Ollama's native streams through the proxy: NDJSON, one answer chunk per line, decided line by line.

A tool call arrives whole in one line's ``message.tool_calls``, so holding a call until it is decided is holding
that line: its calls are decided before it is relayed, and a refused line is rewritten (the calls out, the
refusal text as its content). Once a call of the answer was refused, later lines lose their calls too: the
answer was refused. A line holding a key the table does not hold cuts the stream with an error line, which
is how Ollama itself ends a stream that failed (``{"error": "..."}``, HTTP status still 200).
"""
from __future__ import annotations

from typing import Any, Iterable

from ..exchange import Exchange
from ..strict_json import loads_strict
from ..streaming.ndjson import NDJSONDecoder, NDJSONLine
from .chat_context import empty
from .held import Decide
from .ollama_native_table import FAMILY, answer_calls, refused_keys, usage
from .relay import StreamRelay
from .shapes import refused_reason
from .wire import compact_json


def ndjson_line(value: dict[str, Any]) -> bytes:
    """One line of an NDJSON stream, as Ollama writes it."""
    return (compact_json(value) + "\n").encode()


class OllamaStreamRelay(StreamRelay):
    """Relays the lines of ``/api/chat`` (``endpoint="chat"``) or ``/api/generate`` (``"generate"``)."""

    framing = "ndjson"

    def __init__(self, exchange: Exchange, decide: Decide, endpoint: str) -> None:
        super().__init__(exchange)
        self._decide = decide
        self._endpoint = endpoint
        self._refused = False

    def make_decoder(self) -> NDJSONDecoder:
        return NDJSONDecoder()

    def feed(self, event: NDJSONLine) -> Iterable[bytes]:
        if event.data is None:
            return [event.raw]  # white space between lines: nothing to read
        data = loads_strict(event.data)  # what is relayed must be what every client reads
        if not isinstance(data, dict):
            raise ValueError("an NDJSON line that is not a JSON object")
        if "error" in data:
            # Ollama's error mid-stream: the client raises it (and reads nothing else of the line).
            if any(key != "error" and not empty(value) for key, value in data.items()):
                raise ValueError("an error line that carries more than its error")
            self.ended = True
            self.response.finish_reason = "error"
            return [event.raw]
        unknown = refused_keys(self._endpoint, data)
        if unknown:
            raise ValueError(refused_reason(FAMILY, f"{self._endpoint} answer field", unknown[0]))
        out = self._chat(data, event.raw) if self._endpoint == "chat" else self._generate(data, event.raw)
        if data.get("done") is True:
            self.ended = True
            self.response.usage = usage(data)
            self.response.finish_reason = self.response.finish_reason or data.get("done_reason")
        return out

    def _chat(self, data: dict[str, Any], raw: bytes) -> list[bytes]:
        message = data.get("message")
        message = {} if message is None else message
        calls = answer_calls(message)
        if calls and self._refused:
            # The answer's calls were refused: these go with them, the line's text stays.
            return self._rewritten(data, message, message.get("content") if isinstance(message.get("content"), str)
                                   else "")
        refusal = self._decide(calls) if calls else None
        if refusal is not None:
            # The calls (and every part the proxy does not understand) go; the refusal says why.
            self._refused = True
            self.response.finish_reason = "stop"
            return self._rewritten(data, message, refusal)
        self.response.tool_calls += calls
        content = message.get("content")
        if isinstance(content, str):
            self.text.append(content)
        return [raw]

    def _rewritten(self, data: dict[str, Any], message: dict[str, Any], text: str) -> list[bytes]:
        self.text.append(text)
        return [ndjson_line({**data, "message": {"role": message.get("role") or "assistant", "content": text}})]

    def _generate(self, data: dict[str, Any], raw: bytes) -> list[bytes]:
        text = data.get("response")
        if isinstance(text, str):
            self.text.append(text)
        return [raw]

    def error_bytes(self, message: str) -> bytes:
        return ndjson_line({"error": message})
