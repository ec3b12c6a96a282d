"""Bedrock InvokeModel wire data: model events in ``chunk`` frames, and a SigV4 check of what the proxy sent
(botocore computes the signature it expects with the test's known credentials)."""
from __future__ import annotations

import base64
import json
import re

from tests.fakes.bedrock_wire import frame

ACCESS_KEY, SECRET_KEY, SESSION_TOKEN = "AKIDTESTPROXY", "test-secret-key/for+signing", "test-session-token"
METRICS = {"inputTokenCount": 377, "outputTokenCount": 65, "invocationLatency": 812, "firstByteLatency": 301}
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/bedrock/"
                   r"aws4_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})")


def chunk(event: dict | str, padding: str = "abcdefghijklmn") -> bytes:
    """One ``chunk`` event carrying a model stream event (its JSON text as given, base64)."""
    text = event if isinstance(event, str) else json.dumps(event, separators=(",", ":"))
    payload = {"bytes": base64.b64encode(text.encode()).decode(), "p": padding}
    # Compact, as Bedrock writes it (a captured frame: aws-doc-sdk-examples issue 5541, ``{"bytes":"eyJj..."}``).
    return frame({":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"},
                 json.dumps(payload, separators=(",", ":")).encode())


def from_sse(events: list[bytes], metrics: dict | None = METRICS) -> list[bytes]:
    """An Anthropic SSE stream (tests.fakes.anthropic_wire) as Bedrock streams it: each event's data in a
    chunk; the last one (message_stop) also carries the invocation metrics."""
    out = []
    for raw in events:
        data = next(line[6:] for line in raw.decode().split("\n") if line.startswith("data: "))
        if json.loads(data).get("type") == "ping":
            continue  # Bedrock does not relay pings
        if json.loads(data).get("type") == "message_stop" and metrics:
            data = json.dumps({**json.loads(data), "amazon-bedrock-invocationMetrics": metrics},
                              separators=(",", ":"))
        out.append(chunk(data))
    return out


def decoded(frames: bytes) -> list[dict]:
    """Every event of an event-stream body: ``{"type": event type, "event": the model event or payload}``."""
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    buffer.add_data(frames)
    out = []
    for message in buffer:
        headers, payload = message.headers, json.loads(message.payload or b"{}")
        if headers.get(":event-type") == "chunk":
            payload = json.loads(base64.b64decode(payload["bytes"]))
        out.append({"type": headers.get(":event-type") or headers.get(":exception-type"), "event": payload})
    return out


def check_sigv4(received, region: str = "us-east-1", secret: str = SECRET_KEY) -> str:
    """Assert that ``received`` carries a valid SigV4 signature by the test credentials; the access key id."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = _AUTH.fullmatch(received.headers["Authorization"])
    assert auth is not None, received.headers["Authorization"]
    assert auth["region"] == region
    signed = auth["signed"].split(";")
    assert "host" in signed and "x-amz-date" in signed
    headers = {name: received.headers[name] for name in signed}
    request = AWSRequest(method=received.method, url=f"http://{received.headers['Host']}{received.path}",
                         data=received.body, headers=headers)
    request.context["timestamp"] = received.headers["X-Amz-Date"]
    token = received.headers.get("X-Amz-Security-Token")
    signer = SigV4Auth(Credentials(auth["key"], secret, token), "bedrock", region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    assert auth["signature"] == expected, "SigV4 signature mismatch"
    return auth["key"]
