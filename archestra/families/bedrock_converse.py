"""The Amazon Bedrock Converse upstream codec (issue 26): a neutral request written as a Converse body
(``bedrock_converse_request``), the answer and the ConverseStream event stream read back
(``bedrock_converse_answer``, ``bedrock_converse_stream``), and Bedrock's error answers.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .bedrock_converse_answer import error_message, read_answer
from .bedrock_converse_request import DROPPED_FIELDS, write_request
from .bedrock_converse_stream import ConverseStreamReader
from .neutral import ChatAnswer, ChatRequest, UpstreamError

__all__ = ["BEDROCK_CONVERSE", "BedrockConverse", "DROPPED_FIELDS"]

#: Converse(Stream) error statuses (service-2.json) -> neutral kinds. 408 ModelTimeoutException and 424
#: ModelErrorException are the model failing, not the caller: ``api_error``.
ERROR_KINDS = {400: "invalid_request", 401: "authentication", 403: "permission", 404: "not_found",
               429: "rate_limit", 503: "overloaded"}


class BedrockConverse:
    name = "bedrock_converse"

    def write_request(self, request: ChatRequest) -> dict[str, Any]:
        return write_request(request)

    def path(self, model: str, stream: bool) -> tuple[str, str]:
        """The model id quoted as boto3 quotes it (``:`` and ``/`` of ARNs escaped): the Bedrock provider's route
        table reads ``model/{id}/converse[-stream]`` once the path is URL-decoded, as Flask does for a request."""
        return f"model/{quote(model, safe='-._~')}/{'converse-stream' if stream else 'converse'}", ""

    def read_answer(self, body: dict[str, Any]) -> ChatAnswer:
        return read_answer(body)

    def stream_reader(self) -> ConverseStreamReader:
        return ConverseStreamReader()

    def read_error(self, status: int, body: bytes) -> UpstreamError:
        message = error_message(body)
        if message is None:
            text = body.decode("utf-8", "replace").strip()[:500]
            message = text or f"Bedrock answered HTTP {status}"
        kind = ERROR_KINDS.get(status) or ("invalid_request" if 400 <= status < 500 and status not in (408, 424)
                                           else "api_error")
        return UpstreamError(status=status, message=message, kind=kind)


BEDROCK_CONVERSE = BedrockConverse()
