"""The documentation works as written: every command (bash, sh, console) and Python snippet in README.md and
docs/*.md runs, page by page and in order, against fake upstream providers; the blocks that cannot run here are
listed in NOT_RUN with the reason. Relative links resolve, the generated pages are current.

A page's blocks share one proxy (the in-process one of ``make_proxy``, with admin token ``change-me`` as the docs
say), until a block starts gunicorn itself: that block runs, as written, on a free port, and the page's later blocks
talk to it. Placeholders are replaced with the running proxy's values: ``localhost:9000`` / ``HOST:9000``,
``<profile-id>`` (and ``$PROFILE`` in shell blocks: a profile the test created), ``.venv/bin/`` (this
interpreter's), a file name a Python block starts with (``# my_hooks.py``: the block is written there), the
PostgreSQL URL ``...@db-host/archestra`` (a fresh test database), ``https://proxy-host:9000``
and ``/path/to/ca.pem`` (the same proxy serving TLS, and its certificate; ``AWS_BEARER_TOKEN_BEDROCK`` is set).
Shell blocks run with ``set -euo pipefail``, ``curl`` failing on HTTP errors, and the variables a block sets kept
for the next block. Where a page says what a block shows, EXPECTED holds it.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from archestra import docs_gen
from tests.conftest import FAKED
from tests.fakes import anthropic_wire, bedrock_wire, cohere_wire, gemini_wire
from tests.fakes import openai_wire as wire
from tests.fakes import responses_wire
from tests.fakes.server import Received, Reply, json_reply, sse_reply
from tests.test_deployment import free_port

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = {"bash", "sh", "console", "shell", "python", "py"}
ADMIN_TOKEN = "change-me"
SERVER = "gunicorn -c gunicorn.conf.py app:app"
PG_URL = "postgresql+psycopg://archestra@db-host/archestra"

NETWORK_INSTALL = "creates a virtualenv and installs packages from PyPI"
#: Blocks that are not run, by (page, first line): why.
NOT_RUN: dict[tuple[str, str], str] = {
    ("README.md", "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && ARCHESTRA_ADMIN_TOKEN="
                  "change-me .venv/bin/gunicorn -c gunicorn.conf.py app:app"):
        NETWORK_INSTALL + "; its server part runs as written in docs/getting-started.md",
    ("README.md", "python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt && .venv/bin/python -m "
                  "pytest"): NETWORK_INSTALL + ", then runs the whole suite (this test included); .ci/run runs it",
    ("docs/getting-started.md", "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"):
        NETWORK_INSTALL,
    ("docs/claude-code.md", "ANTHROPIC_BASE_URL=http://HOST:9000/v1/anthropic/$PROFILE claude"):
        "starts the interactive Claude Code CLI (tests/test_claude_code.py replays its traffic)",
    ("docs/claude-code.md", "ANTHROPIC_BASE_URL=http://HOST:9000/v1/anthropic/$PROFILE ANTHROPIC_API_KEY="
                            "archestra-vk-... claude"):
        "starts the interactive Claude Code CLI (tests/test_virtual_keys_clients.py covers virtual keys)",
    ("docs/claude-code.md", "# Bedrock: the proxy serves HTTPS (ARCHESTRA_TLS_CERT/KEY) and signs with "
                            "ARCHESTRA_BEDROCK_AWS_AUTH=true"):
        "starts the interactive Claude Code CLI and needs AWS credentials (tests/test_claude_code_cloud.py)",
    ("docs/claude-code.md", "# Vertex AI: ARCHESTRA_ANTHROPIC_VERTEX_AI_ENABLED=true and _PROJECT on the proxy"):
        "starts the interactive Claude Code CLI and needs Google credentials (tests/test_claude_code_cloud.py)",
    ("docs/codex.md", "ARCHESTRA_VIRTUAL_KEY=archestra-vk-... codex"): "starts the interactive Codex CLI",
    ("docs/model-router.md", "ANTHROPIC_BASE_URL=http://HOST:9000/v1/model-router/$PROFILE ANTHROPIC_API_KEY="
                             "archestra-vk-... ANTHROPIC_MODEL=openai:gpt-4o ANTHROPIC_SMALL_FAST_MODEL=openai:gpt-4o-mini "
                             "claude"): "starts the interactive Claude Code CLI (tests/test_claude_code_router.py runs it "
                                        "through the router)",
    ("docs/chat-frontends.md", "OPENAI_API_BASE_URL=http://HOST:9000/v1/openai/$PROFILE OPENAI_API_KEY="
                               "archestra-vk-... open-webui serve"): "Open WebUI is not installed here",
    ("docs/identity.md", "import openai, anthropic"):
        "needs a token of a real identity provider (tests/test_identity_proxy.py sends the fake IdP's with the SDKs)",
    ("docs/identity.md", "ANTHROPIC_BASE_URL=http://HOST:9000/v1/anthropic/$PROFILE ANTHROPIC_CUSTOM_HEADERS="
                         "\"X-Archestra-Virtual-Key: archestra-vk-...\" claude"):
        "starts the interactive Claude Code CLI (tests/test_identity_proxy.py sends the same headers)",
    ("docs/benchmarks.md", "bash bench/run.sh            # installs wrk and LiteLLM (own venv) if missing; about "
                           "10 minutes"): "installs wrk and LiteLLM from the network and runs for ten minutes",
}
#: What a block's output must show, where the page says what it shows, by (page, first line).
EXPECTED: dict[tuple[str, str], str] = {
    ("README.md", 'client = OpenAI(base_url="http://localhost:9000/v1/openai/support-agent", api_key="sk-...")'):
        "None\nI tried to invoke the send_email tool",
    ("README.md", 'curl -s -H "Authorization: Bearer change-me" "localhost:9000/api/blocked-tool-calls?profile_id='
                  'support-agent"'): '"tool":"send_email"',
    ("docs/keys-and-identity.md", "# A profile with an access token: only requests that carry it get through"):
        '"content": "Hello!"',  # the upstream's own bytes
    ("docs/keys-and-identity.md", 'curl -s localhost:9000/v1/openai/$PROFILE/chat/completions -H "Authorization: '
                                  'Bearer $KEY" \\'): '"content": "Hello!"',
    ("docs/rolling-out.md", 'curl -s -X PATCH -H "$T" -H "Content-Type: application/json" localhost:9000/api/'
                            'profiles/support-agent \\'): '"mode":"enforce"',
    ("docs/agents-sdk.md", "import asyncio"): "Done.",
    ("docs/claude-code.md", 'curl -s -H "Authorization: Bearer change-me" "localhost:9000/api/interactions?'
                            'session_id=c0ffee-session" | jq .total'): "1",
    ("docs/codex.md", "from openai import OpenAI"): "Done.",
    ("docs/hooks.md", "import openai"): "403 Error code: 403 - Request blocked by policy: no passwords, please",
    ("docs/configuration-as-code.md", "cat > broken.yaml <<'EOF'"):
        "broken.yaml:4: profiles[0].mode: Must be one of: enforce, monitor\nbroken.yaml:7: profiles[0].tools[0]."
        "call_policies[0].action: Must be one of",
    ("docs/configuration-as-code.md", "python -m archestra.config plan archestra.yaml"):
        "exported.yaml: no differences: the database matches the file.",
    ("docs/configuration-as-code.md", "python -m archestra.config test policy-tests --config archestra.yaml"):
        "1 scenarios (6 decisions): 1 passed, 0 failed",
    ("docs/labels-and-approval.md", "import openai"): "However, I was denied by a tool invocation policy:\n\nThe "
        "context holds the label confidential, from the result of crm_lookup (call c_crm): a "
        "block_when_context_has_labels policy on send_email forbids this call while it does. Confidential data stays "
        "inside corp.com.",
    ("docs/labels-and-approval.md", 'PROFILE=$(curl -s -H "$T" localhost:9000/api/profiles/finance-agent | jq -r '
                                    '.id)'): '"confidential"',
    ("docs/labels-and-approval.md", "import re"): "This call awaits a person's approval (approval ",
    ("docs/labels-and-approval.md", "print(pay())"): "the payment call went through\nThis call awaits a person's "
                                                     "approval (approval ",
    ("docs/packs.md", 'T="Authorization: Bearer change-me"'):
        "claude-code\ncodex\nfetch\nclaude-code 1.0.0\ngithub 1.1.0\npack\nclaude-code@1.0.0\n204",
    ("docs/packs.md", "from archestra.packs.catalog import catalog"): "['claude-code', 'codex'] 1.0.0",
}
#: Blocks of EXPECTED whose output is wrong because of a bug in the proxy, not in the page: the test fails when the
#: bug is fixed, so that the entry goes.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


@dataclass
class Block:
    page: str
    index: int
    lang: str
    text: str

    @property
    def first_line(self) -> str:
        return next(line for line in self.text.splitlines() if line.strip()).strip()

    def __str__(self) -> str:
        return f"{self.page} block {self.index} ({self.first_line[:70]})"


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced code block of a page (indented ones in lists too), dedented."""
    found, lines, current = [], path.read_text().splitlines(), None
    for line in lines:
        fence = re.match(r"^( *)```(\S*)\s*$", line)
        if current is None and fence:
            current = (len(fence.group(1)), fence.group(2).lower(), [])
        elif current is not None and line.strip() == "```":
            indent, lang, body = current
            text = "\n".join(part[indent:] if part[:indent].strip() == "" else part for part in body)
            found.append(Block(str(path.relative_to(ROOT)), len(found), lang, text + "\n"))
            current = None
        elif current is not None:
            current[2].append(line)
    return found


#: A YAML block whose first line names a file (``# archestra.yaml``) is written there for the page's next blocks.
NAMED_FILE = re.compile(r"# ([\w./-]+\.ya?ml)\n")


def runnable_blocks(path: Path) -> list[Block]:
    return [block for block in fenced_blocks(path) if block.lang in RUNNABLE
            or (block.lang in {"yaml", "yml"} and NAMED_FILE.match(block.text))]


def listed(block: Block) -> bool:
    return (block.page, block.first_line) in NOT_RUN


# -- the fake upstream: a plausible answer to whatever the docs send ---------------------------------------------
def _arguments(tool: dict[str, Any]) -> dict[str, str]:
    parameters = tool.get("parameters") or tool.get("function", {}).get("parameters") or {}
    return {name: "example" for name in parameters.get("properties", {})}


def answer(request: Received) -> Reply:
    path = request.path.split("?")[0]
    body = request.json if request.body else {}
    if request.method == "GET" and path.endswith("/models"):
        return json_reply({"object": "list", "data": []})
    if path.endswith("/chat/completions"):
        tools = body.get("tools") or []
        calls = [wire.tool_call(tools[0]["function"]["name"], _arguments(tools[0]))] if tools else None
        if body.get("stream"):
            return sse_reply(wire.text_stream(["Hel", "lo!"]))
        return json_reply(wire.completion(None if calls else "Hello!", calls))
    if path.endswith("/responses"):
        items = body.get("input") if isinstance(body.get("input"), list) else []
        tools = [tool for tool in body.get("tools") or [] if tool.get("type") == "function"]
        answered = bool(items) and items[-1].get("type") == "function_call_output"
        output = [responses_wire.function_call(tools[0]["name"], _arguments(tools[0]))] if tools and not answered \
            else [responses_wire.message("Done.")]
        if body.get("stream"):
            return sse_reply(responses_wire.stream(output))
        return json_reply(responses_wire.response(output))
    if path.endswith("/v1/messages"):
        return json_reply(anthropic_wire.message([anthropic_wire.text("Hello!")]))
    if ":generateContent" in path:
        return json_reply(gemini_wire.response([gemini_wire.candidate([{"text": "Hello!"}], "STOP")]))
    if path.endswith("/converse"):
        return json_reply(bedrock_wire.converse([{"text": "Hello!"}]))
    if path.endswith("/v2/chat"):
        return json_reply(cohere_wire.response("Hello!"))
    return json_reply({"error": {"message": f"the docs' fake upstream has no answer for {path}"}}, 404)


def new_profile(url: str) -> str:
    """The profile ``$PROFILE`` and ``<profile-id>`` stand for."""
    answer = requests.post(f"{url}/api/profiles", json={"name": "docs-profile"}, timeout=10,
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


# -- running a page ------------------------------------------------------------------------------------------------
class PageRun:
    def __init__(self, request, tmp_path: Path, upstream, make_proxy, page: Path) -> None:
        from cryptography.fernet import Fernet

        upstream.reply_with(answer)
        self.tmp, self.upstream = tmp_path, upstream
        proxy = self.proxy = make_proxy(admin_token=ADMIN_TOKEN, secret_key=Fernet.generate_key().decode())
        self.url, self.database = proxy.url, proxy.app.config.get("SQLALCHEMY_DATABASE_URI")
        self.profile = new_profile(self.url)
        self.substitutions: dict[str, str] = {".venv/bin/": str(Path(sys.executable).parent) + "/"}
        if "https://proxy-host:9000" in page.read_text():  # boto3 sends Bedrock keys over HTTPS only
            cert, _ = tls = request.getfixturevalue("tls_cert")
            self.substitutions["https://proxy-host:9000"] = make_proxy(tls=tls, admin_token=ADMIN_TOKEN,
                                                                       database_url=self.database).url
            self.substitutions["/path/to/ca.pem"] = cert
            environment = request.getfixturevalue("monkeypatch")
            environment.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key")
            environment.setenv("AWS_EC2_METADATA_DISABLED", "true")
        if "db-host" in page.read_text():
            database = request.getfixturevalue("postgres_url")
            self.substitutions[PG_URL] = database
        self.servers: list[tuple[subprocess.Popen, Any]] = []
        self.python: dict[str, Any] = {"__name__": "__docs__"}
        self.shell_vars: dict[str, str] = {}

    def substitute(self, text: str) -> str:
        host = self.url.split("://", 1)[1]
        for placeholder in ("http://localhost:9000", "http://HOST:9000"):
            text = text.replace(placeholder, self.url)
        for placeholder in ("localhost:9000", "HOST:9000"):
            text = text.replace(placeholder, host)
        text = text.replace("<profile-id>", self.profile)
        for placeholder, value in self.substitutions.items():
            text = text.replace(placeholder, value)
        return text

    def environment(self) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("ARCHESTRA_", "PROMETHEUS_", "OTEL_"))}
        env.update(PROFILE=self.profile, ARCHESTRA_DATABASE_URL=self.database or "")
        env.update(self.shell_vars)
        env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(ROOT))
        return env

    def run(self, block: Block) -> str:
        """Run a block; what it printed."""
        if self.url == self.proxy.url:  # records are written off the request path: a reader is never this quick
            self.proxy.flush()
        text = self.substitute(block.text)
        if block.lang in {"yaml", "yml"}:  # a configuration or scenario file the next blocks use
            target = self.tmp / NAMED_FILE.match(text).group(1)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            return ""
        if block.lang in {"python", "py"}:
            return self.run_python(block, text)
        if SERVER in text:
            self.start_server(block, text)
            return ""
        return self.run_shell(block, text)

    def run_python(self, block: Block, text: str) -> str:
        named = re.match(r"# (\w+\.py)\n", text)
        if named:  # a file the page goes on to use: written where the later blocks find it
            path = self.tmp / named.group(1)
            path.write_text(text)
            self.substitutions[named.group(1)] = str(path)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(text, str(block), "exec"), self.python)
        if re.search(r"^def on_\w+\(", text, re.MULTILINE):  # a hook file: it must load as one
            from archestra.hooks.loader import load_hook_file

            path = self.tmp / f"hooks_{block.index}.py"
            path.write_text(text)
            assert load_hook_file(str(path))
        return printed.getvalue()

    def run_shell(self, block: Block, text: str) -> str:
        state = self.tmp / "shell-vars"
        script = ('set -euo pipefail\ncurl() { command curl -sS --fail-with-body "$@"; }\nset -a\n'
                  f"{text}\nset +a\nenv -0 > {state}\n")
        result = subprocess.run(["bash", "-c", script], cwd=self.tmp, env=self.environment(), capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, f"{block} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        keep = {}
        for entry in state.read_text().split("\0"):
            name, _, value = entry.partition("=")
            if name and name not in {"_", "PWD", "OLDPWD", "SHLVL", "PATH", "PYTHONPATH", "ARCHESTRA_DATABASE_URL"}:
                keep[name] = value
        self.shell_vars = keep
        return result.stdout

    def start_server(self, block: Block, text: str) -> None:
        port = free_port()
        env = self.environment()
        env.update({f"ARCHESTRA_{name.upper()}_BASE_URL": self.upstream.url for name in FAKED})
        env.update(ARCHESTRA_BIND=f"127.0.0.1:{port}", ARCHESTRA_WORKERS="1",
                   ARCHESTRA_DATABASE_URL=f"sqlite:///{self.tmp}/server-{block.index}.db")
        log = open(self.tmp / f"server-{block.index}.log", "w+")
        process = subprocess.Popen(["bash", "-c", "set -euo pipefail\n" + text], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.servers.append((process, log))
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{block} exited:\n" + (self.tmp / f"server-{block.index}.log").read_text()
            try:
                if requests.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"{block} did not start:\n" + (self.tmp / f"server-{block.index}.log").read_text())
        database = re.search(r"ARCHESTRA_DATABASE_URL=(\S+)", text)
        self.url = url
        self.shell_vars.pop("PROFILE", None)  # the previous server's
        self.database = database.group(1) if database else env["ARCHESTRA_DATABASE_URL"]
        self.profile = new_profile(url)

    def close(self) -> None:
        for process, log in self.servers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
            log.close()


PAGES_WITH_BLOCKS = [page for page in PAGES if runnable_blocks(page)]


@pytest.mark.parametrize("page", PAGES_WITH_BLOCKS, ids=[str(p.relative_to(ROOT)) for p in PAGES_WITH_BLOCKS])
def test_page_runs_as_written(page, request, tmp_path, upstream, make_proxy):
    blocks = [block for block in runnable_blocks(page) if not listed(block)]
    if not blocks:
        pytest.skip("every block of this page is listed in NOT_RUN")
    run = PageRun(request, tmp_path, upstream, make_proxy, page)
    try:
        for block in blocks:
            printed = run.run(block)
            expected, bug = EXPECTED.get((block.page, block.first_line)), KNOWN_BUGS.get((block.page, block.first_line))
            if bug:
                assert expected not in printed, f"{block} works now: take it out of KNOWN_BUGS ({bug})"
                warnings.warn(f"{block} does not show what the page says: {bug}")
            else:
                assert expected is None or expected in printed, f"{block} printed:\n{printed}"
    finally:
        run.close()


def test_lists_name_existing_blocks_once():
    keys = [(block.page, block.first_line) for page in PAGES for block in runnable_blocks(page)]
    assert not set(NOT_RUN) - set(keys), "NOT_RUN names blocks that no page has"
    assert not set(EXPECTED) - set(keys) and not set(EXPECTED) & set(NOT_RUN), "EXPECTED names a block not run"
    assert not set(KNOWN_BUGS) - set(EXPECTED), "KNOWN_BUGS entries need what the block should show in EXPECTED"
    assert all(keys.count(key) == 1 for key in {**NOT_RUN, **EXPECTED}), "a listed first line must name one block"


def block_counts() -> tuple[int, int]:
    blocks = [block for page in PAGES for block in runnable_blocks(page)]
    return sum(not listed(block) for block in blocks), sum(listed(block) for block in blocks)


# -- links ---------------------------------------------------------------------------------------------------------
def _without_code(text: str) -> str:
    text = re.sub(r"^ *```.*?^ *```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} +(.+?) *$", _without_code(path.read_text()), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        if seen[slug]:
            seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve(page):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", _without_code(page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        relative = os.path.relpath(file, ROOT)
        if not file.exists():
            broken.append(f"{target}: no such file")
            continue
        if anchor and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {relative}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_readme_is_the_front_door():
    assert len((ROOT / "README.md").read_text().splitlines()) < 200


# -- generated pages -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted(docs_gen.PAGES))
def test_generated_page_is_current(path):
    assert (ROOT / path).read_text() == docs_gen.PAGES[path](), f"{path} is stale: run python -m archestra.docs_gen"


def test_every_variable_is_documented():
    assert docs_gen.read_variables() == docs_gen.documented_variables()


def test_api_page_lists_every_operation():
    from archestra.api.openapi import build_spec

    page = (ROOT / "docs/api.md").read_text()
    for path, item in build_spec()["paths"].items():
        for method in set(item) - {"parameters"}:
            assert f"`{method.upper()} /api{path}`" in page


def test_every_hook_stage_is_documented():
    from archestra.hooks.stages import STAGES

    page = (ROOT / "docs/hooks.md").read_text()
    for name, stage in STAGES.items():
        assert f"| `{name}` | {', '.join(f'`{p}`' for p in stage.params)} |" in page


if __name__ == "__main__":
    run, skipped = block_counts()
    print(json.dumps({"run": run, "listed": skipped}))
