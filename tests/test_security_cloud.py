"""test_security.py's lethal-trifecta scenario (every policy kind, streamed and not) on the cloud routes of the
Anthropic family: InvokeModel through AnthropicBedrock (with a Bedrock API key over TLS, and signed by the
proxy's own AWS credentials) and ``:rawPredict`` / ``:streamRawPredict`` through AnthropicVertex."""
from __future__ import annotations

import ssl

import anthropic
import httpx2
import pytest

from archestra.providers import aws_auth, vertex
from tests.fakes import bedrock_wire, invoke_wire
from tests.fakes.server import Reply, json_reply
from tests.security_drivers import AnthropicDriver
from tests.test_bedrock_invoke import ProxySignedBedrock
from tests.test_dual_llm import test_result_replaced_by_the_privileged_summary as dual_llm_summary
from tests.test_security import test_lethal_trifecta as lethal_trifecta
from tests.test_vertex import write_service_account

PROJECT = "proxy-proj"


class BedrockDriver(AnthropicDriver):
    """AnthropicBedrock: InvokeModel with Anthropic bodies, streams in event-stream chunk frames."""

    provider = "bedrock"

    def __init__(self, signed_by_proxy: bool) -> None:
        self.signed_by_proxy = signed_by_proxy
        self.tls = not signed_by_proxy  # boto3-style API keys travel over HTTPS only

    def client(self, proxy) -> anthropic.AnthropicBedrock:
        if self.signed_by_proxy:
            return ProxySignedBedrock(aws_region="us-east-1", base_url=proxy.base("bedrock"), max_retries=0)
        return anthropic.AnthropicBedrock(api_key="bedrock-key", aws_region="us-east-1", max_retries=0,
                                          base_url=proxy.base("bedrock"),
                                          http_client=httpx2.Client(verify=ssl.create_default_context(cafile=proxy.ca)))

    def reply(self, stream: bool, args: dict) -> Reply:
        reply = super().reply(stream, args)
        if not stream:
            return reply
        return Reply(200, {"Content-Type": "application/vnd.amazon.eventstream"},
                     invoke_wire.from_sse(list(reply.chunks)))

    def text_reply(self, text: str) -> Reply:
        return json_reply(bedrock_wire.converse([{"text": text}]))  # the proxy's own questions use Converse


class VertexDriver(AnthropicDriver):
    def client(self, proxy) -> anthropic.AnthropicVertex:
        return anthropic.AnthropicVertex(region="us-east5", project_id="clients-project", access_token="t",
                                         base_url=proxy.base("anthropic"), max_retries=0)


@pytest.fixture(autouse=True)
def clouds(monkeypatch, tmp_path, upstream):
    """AWS credentials for the proxy (environment), and a Google token fetched once from the fake upstream."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", invoke_wire.ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", invoke_wire.SECRET_KEY)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    aws_auth.reset()
    account = tmp_path / "sa.json"
    write_service_account(account, f"{upstream.url}/token")
    vertex.reset()
    upstream.reply_with(json_reply({"access_token": "ya29.proxy", "expires_in": 3599, "token_type": "Bearer"}))
    vertex.vertex_headers(str(account))  # cached for the process: the scenario's replies need not serve /token
    upstream.received.clear()
    yield str(account)
    aws_auth.reset()
    vertex.reset()


def cloud_proxy(make_proxy, upstream, credentials_file: str, mode: str):
    """``make_proxy`` with the settings of ``mode``, and the driver for it."""
    settings = {"bedrock-api-key": {},
                "bedrock-sigv4": {"bedrock_aws_auth": True, "bedrock_aws_region": "us-east-1",
                                  "cloud_auth_open": True},
                "vertex": {"anthropic_vertex_ai_enabled": True, "anthropic_vertex_ai_project": PROJECT,
                           "anthropic_vertex_ai_credentials_file": credentials_file,
                           "anthropic_vertex_ai_base_url": upstream.url, "cloud_auth_open": True}}[mode]
    driver = VertexDriver() if mode == "vertex" else BedrockDriver(signed_by_proxy=mode == "bedrock-sigv4")
    return (lambda **tls: make_proxy(**tls, **settings)), driver


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("mode", ["bedrock-api-key", "bedrock-sigv4", "vertex"])
def test_lethal_trifecta_on_the_cloud_routes(make_proxy, tls_cert, upstream, clouds, mode, stream):
    start, driver = cloud_proxy(make_proxy, upstream, clouds, mode)
    lethal_trifecta(start, tls_cert, upstream, driver, stream)
    for received in upstream.received:
        assert "model" not in received.json  # named by the path, also in bodies the proxy rewrote
        if mode == "bedrock-sigv4":
            invoke_wire.check_sigv4(received)
        elif mode == "vertex":
            assert received.headers["Authorization"] == "Bearer ya29.proxy" and f"/projects/{PROJECT}/" in \
                received.path
        else:
            assert received.headers["Authorization"] == "Bearer bedrock-key"


@pytest.mark.parametrize("mode", ["bedrock-api-key", "vertex"])
def test_dual_llm_asks_where_the_exchange_went(make_proxy, tls_cert, upstream, clouds, mode):
    """test_dual_llm's scenario: the proxy's own questions go to the same place with the same credentials (Vertex
    AI: rawPredict in the proxy's project; Bedrock: Converse)."""
    start, driver = cloud_proxy(make_proxy, upstream, clouds, mode)
    dual_llm_summary(start, tls_cert, upstream, driver, True)
    questions = [r for r in upstream.received if "publishers/anthropic" in r.path and ":rawPredict" in r.path]
    assert mode != "vertex" or questions and all(f"/projects/{PROJECT}/" in r.path for r in questions)
