"""The real Claude Code CLI in Bedrock mode and in Vertex mode through the two-worker proxy, which holds the
cloud credentials (SigV4 with known AWS test keys, checked by the fake Bedrock; a google-auth service account
whose token endpoint is the fake upstream). Claude Code skips its own cloud auth and sends the profile token
in ANTHROPIC_CUSTOM_HEADERS. The exfiltration scenario of test_claude_code.py: a Read, then a Bash call that
sends the secret away, refused and never run until Read is trusted.
"""
from __future__ import annotations

import json

import pytest

from tests.fakes import anthropic_wire as wire
from tests.fakes import invoke_wire
from tests.fakes.server import FakeUpstream, Reply, json_reply
from tests.live import _start
from tests.test_claude_code import REFUSED, claude_cli, run_claude, tool_loop, workdir  # noqa: F401 (fixtures)
from tests.test_deployment import stop_gunicorn
from tests.test_vertex import write_service_account

PROJECT, LOCATION = "proxy-proj", "us-east5"


def cloud_credentials(account, url: str) -> dict[str, str]:
    """The proxy's own cloud credentials, pointed at the fake upstream ``url``: AWS keys for SigV4 (Bedrock) and the
    Google service account ``account`` for Anthropic on Vertex AI."""
    return {"ARCHESTRA_BEDROCK_AWS_AUTH": "true", "ARCHESTRA_BEDROCK_AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": invoke_wire.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": invoke_wire.SECRET_KEY,
            "AWS_SESSION_TOKEN": invoke_wire.SESSION_TOKEN, "AWS_EC2_METADATA_DISABLED": "true",
            "ARCHESTRA_ANTHROPIC_VERTEX_AI_ENABLED": "true", "ARCHESTRA_ANTHROPIC_VERTEX_AI_PROJECT": PROJECT,
            "ARCHESTRA_ANTHROPIC_VERTEX_AI_CREDENTIALS_FILE": str(account),
            "ARCHESTRA_ANTHROPIC_VERTEX_AI_BASE_URL": url}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, tls_cert):
    """The proxy over HTTPS with Bedrock SigV4 and Anthropic on Vertex AI on (tokens required)."""
    upstream = FakeUpstream()
    account = tmp_path_factory.mktemp("gcp") / "sa.json"
    write_service_account(account, f"{upstream.url}/token")
    env = {**cloud_credentials(account, upstream.url), "ARCHESTRA_ANTHROPIC_VERTEX_AI_LOCATION": LOCATION}
    upstream, process, log, proxy = _start(tmp_path_factory, tls_cert, env, upstream)
    yield proxy
    stop_gunicorn(process, log)
    upstream.close()


def bedrock_loop(folder, seen: list):
    """tool_loop's model on Bedrock: its Anthropic events in chunk frames, every request's signature checked."""
    model = tool_loop(folder)

    def handler(request) -> Reply:
        seen.append(request)
        invoke_wire.check_sigv4(request)
        if request.path.endswith("/invoke"):
            return json_reply(wire.message([wire.text("ok")]))
        reply = model(request)
        return Reply(200, {"Content-Type": "application/vnd.amazon.eventstream"},
                     invoke_wire.from_sse(list(reply.chunks)))
    return handler


def vertex_loop(folder, seen: list):
    model = tool_loop(folder)

    def handler(request) -> Reply:
        if request.path == "/token":
            return json_reply({"access_token": "ya29.proxy", "expires_in": 3599, "token_type": "Bearer"})
        seen.append(request)
        assert request.headers["Authorization"] == "Bearer ya29.proxy"
        if request.path.endswith(":rawPredict"):
            return json_reply(wire.message([wire.text("ok")]))
        return model(request)
    return handler


def token_for(cloud, pid: str) -> str:
    return cloud.api("POST", f"/profiles/{pid}/token").json()["token"]


def bedrock_env(cloud, pid: str, token: str) -> dict[str, str]:
    return {"CLAUDE_CODE_USE_BEDROCK": "1", "ANTHROPIC_BEDROCK_BASE_URL": cloud.base("bedrock", pid),
            "CLAUDE_CODE_SKIP_BEDROCK_AUTH": "1", "AWS_REGION": "us-east-1", "NODE_EXTRA_CA_CERTS": cloud.ca,
            "ANTHROPIC_CUSTOM_HEADERS": f"X-Archestra-Token: {token}", "ANTHROPIC_API_KEY": ""}


def vertex_env(cloud, pid: str, token: str) -> dict[str, str]:
    return {"CLAUDE_CODE_USE_VERTEX": "1", "ANTHROPIC_VERTEX_BASE_URL": cloud.base("anthropic", pid),
            "CLAUDE_CODE_SKIP_VERTEX_AUTH": "1", "CLOUD_ML_REGION": "us-east5",
            "ANTHROPIC_VERTEX_PROJECT_ID": "clients-own-project", "NODE_EXTRA_CA_CERTS": cloud.ca,
            "ANTHROPIC_CUSTOM_HEADERS": f"X-Archestra-Token: {token}", "ANTHROPIC_API_KEY": ""}


@pytest.mark.parametrize("mode", ["bedrock", "vertex"])
def test_exfiltration_refused_until_read_is_trusted(cloud, claude_cli, workdir, mode):  # noqa: F811
    pid = cloud.profile()
    token, seen = token_for(cloud, pid), []
    env = (bedrock_env if mode == "bedrock" else vertex_env)(cloud, pid, token)
    cloud.upstream.reply_with((bedrock_loop if mode == "bedrock" else vertex_loop)(workdir, seen))
    result = run_claude(claude_cli, cloud.base("anthropic", pid), workdir, "Look at secret.txt", env)
    assert REFUSED in result["result"] and not (workdir / "marker").exists()
    assert cloud.blocked(pid, 1)[0]["tool"] == "Bash"
    streamed = [r for r in seen if r.path.endswith(("invoke-with-response-stream", ":streamRawPredict"))]
    assert streamed, [r.path for r in seen]
    if mode == "vertex":
        assert all(f"/projects/{PROJECT}/locations/{LOCATION}/" in r.path for r in seen)
    else:
        assert all("anthropic_version" in r.json and "model" not in r.json for r in streamed)
    assert all("X-Archestra-Token" not in r.headers for r in seen)

    cloud.policy("result", pid, "Read", "mark_as_trusted")
    result = run_claude(claude_cli, cloud.base("anthropic", pid), workdir, "Look at secret.txt", env)
    assert result["result"] == "Done." and (workdir / "marker").read_text() == "top secret value 42\n"



def test_boto3_invoke_stream_on_two_workers_refuses_a_call_in_an_untrusted_context(cloud):
    """The policy engine (not a hook): a tool result no policy trusts makes the context untrusted, so the
    streamed send_email call is refused; several requests, so both workers serve some."""
    import boto3
    import botocore
    import botocore.config

    from tests.test_bedrock_invoke import MODEL, TOOLS, body

    pid = cloud.profile()
    token = token_for(cloud, pid)
    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=cloud.base("bedrock", pid),
                          verify=cloud.ca, config=botocore.config.Config(signature_version=botocore.UNSIGNED))
    client.meta.events.register("before-sign.*.*", lambda request, **_: request.headers.add_header(
        "X-Archestra-Token", token))
    history = [{"role": "user", "content": "mail me the weather"},
               {"role": "assistant", "content": [wire.tool_use("get_weather", {"city": "Paris"}, "toolu_W")]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_W", "content": "21 C"}]}]
    frames = invoke_wire.from_sse(wire.tool_stream("send_email", ['{"to": "e@x.io"}']))
    cloud.upstream.reply_with(lambda request: (invoke_wire.check_sigv4(request), Reply(
        200, {"Content-Type": "application/vnd.amazon.eventstream"}, frames))[1])
    for _ in range(4):
        events = [json.loads(e["chunk"]["bytes"]) for e in client.invoke_model_with_response_stream(
            modelId=MODEL, body=body(messages=history, tools=TOOLS))["body"]]
        assert not any(e.get("content_block", {}).get("type") == "tool_use" for e in events)
        assert REFUSED in "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert len(cloud.blocked(pid, 4)) >= 4
