"""The Model Router to upstreams reached with the proxy's own cloud credentials, on the two-worker gunicorn:
Anthropic's and Amazon's models on Bedrock (InvokeModel and Converse, signed with SigV4: the fake checks each
signature) and Anthropic's on Vertex AI (the proxy's service account, its project and location), through the
openai SDK; a caller without proof of the profile never gets them."""
from __future__ import annotations

from urllib.parse import unquote

import openai
import pytest

from tests.fakes import anthropic_wire, bedrock_wire, invoke_wire
from tests.fakes.server import FakeUpstream, json_reply
from tests.live import _start
from tests.router_support import SECRET
from tests.test_claude_code_cloud import LOCATION, PROJECT, cloud_credentials
from tests.test_deployment import stop_gunicorn
from tests.test_vertex import write_service_account

HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    upstream = FakeUpstream()
    account = tmp_path_factory.mktemp("gcp") / "sa.json"
    write_service_account(account, f"{upstream.url}/token")
    env = {**cloud_credentials(account, upstream.url), "ARCHESTRA_ANTHROPIC_VERTEX_AI_LOCATION": LOCATION,
           "ARCHESTRA_SECRET_KEY": SECRET}
    upstream, process, log, proxy = _start(tmp_path_factory, None, env, upstream)
    yield proxy
    stop_gunicorn(process, log)
    upstream.close()


def handler(seen: list):
    def reply(request):
        if request.path == "/token":
            return json_reply({"access_token": "ya29.proxy", "expires_in": 3599, "token_type": "Bearer"})
        seen.append(request)
        if "/publishers/anthropic/" in request.path:
            assert request.headers["Authorization"] == "Bearer ya29.proxy"
            return json_reply(anthropic_wire.message([anthropic_wire.text("from vertex")]))
        invoke_wire.check_sigv4(request)
        if request.path.endswith("/converse"):
            return json_reply(bedrock_wire.converse([{"text": "from nova"}]))
        return json_reply(anthropic_wire.message([anthropic_wire.text("from bedrock")]))
    return reply


@pytest.mark.parametrize(("model", "text", "path"), [
    ("bedrock:anthropic.claude-sonnet-4-5-20250929-v1:0", "from bedrock",
     "/model/anthropic.claude-sonnet-4-5-20250929-v1:0/invoke"),
    ("bedrock:amazon.nova-pro-v1:0", "from nova", "/model/amazon.nova-pro-v1:0/converse"),
    ("anthropic-vertex:claude-sonnet-4-5", "from vertex",
     f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/anthropic/models/claude-sonnet-4-5:rawPredict"),
])
def test_cloud_upstreams_through_the_router(cloud, model, text, path):
    profile = cloud.profile()
    key = cloud.api("POST", "/virtual-keys", json={"profile_id": profile, "name": "app"}).json()["key"]
    seen: list = []
    cloud.upstream.reply_with(handler(seen))
    client = openai.OpenAI(api_key=key, base_url=f"{cloud.url}/v1/model-router/{profile}", max_retries=0)
    for _ in range(4):  # both workers
        assert client.chat.completions.create(model=model, messages=HELLO).choices[0].message.content == text
    assert {unquote(r.path) for r in seen} == {path}
    assert all(key not in str(r.headers) for r in seen)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="sk-mine", base_url=f"{cloud.url}/v1/model-router/{profile}",
                      max_retries=0).chat.completions.create(model=model, messages=HELLO)
