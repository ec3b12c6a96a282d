"""Console fixes from trying it: destructive buttons ask first (a script file, no inline script: the CSP allows
none), an unconditional policy explained in plain words."""
from __future__ import annotations

import re

import requests

from tests.test_console import signed_in

DESTRUCTIVE = ("Delete profile", "Revoke", "Delete policy", "Remove token", "Rotate token")


def test_every_destructive_form_asks_first_and_the_script_is_allowed_by_the_csp(make_proxy):
    proxy = make_proxy()
    profile = proxy.api("POST", "/profiles", json={"name": 'Quote " agent'}).json()
    tool = proxy.api("POST", "/tools", json={"profile_id": profile["id"], "name": "send_email"}).json()
    proxy.api("POST", "/tool-call-policies", json={"tool_id": tool["id"], "action": "block_always"})
    proxy.api("POST", f"/profiles/{profile['id']}/token")
    key = proxy.api("POST", "/virtual-keys", json={"profile_id": profile["id"], "name": "ci"}).json()
    proxy.api("POST", "/limits", json={"scope": "profile", "profile_id": profile["id"], "max_cost_usd": 3})
    proxy.api("POST", "/token-prices", json={"model": "m", "input_per_million": 1, "output_per_million": 1})
    console = signed_in(proxy.url)
    pages = [console.get(f"/console/profiles/{profile['id']}"), console.get(f"/console/tools/{tool['id']}"),
             console.get("/console/spend")]
    forms = [form for page in pages for form in re.findall(r"<form\b[^>]*>.*?</form>", page.text, re.S)]
    dangerous = [form for form in forms if 'class="danger' in form]
    kinds = {re.sub(r"[0-9a-f-]{36}", "ID", re.search(r'action="([^"]+)"', form).group(1)) for form in dangerous}
    assert kinds == {"/console/profiles/ID/delete", "/console/profiles/ID/token/delete",
                     "/console/virtual-keys/ID/revoke", "/console/limits/ID/delete",
                     "/console/policies/call/ID/delete", "/console/token-prices/ID/delete"}
    assert 'data-confirm="Rotate the access token' in pages[0].text
    for form in dangerous:
        question = re.search(r'data-confirm="([^"]+)"', form)
        assert question and "?" in question.group(1), form
    assert "Revoke the virtual key ci?" in pages[0].text
    assert "over 0 interactions, 0 tokens" in pages[0].text  # no spend yet: 0, not "None"
    assert "Quote &#34; agent" in pages[0].text and 'Quote " agent' not in pages[0].text  # escaped in attributes
    for page in pages:
        assert "<script>" not in page.text and "onclick" not in page.text and "onsubmit" not in page.text
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert '<script src="/console/static/console.js" defer></script>' in page.text
    script = requests.get(f"{proxy.url}/console/static/console.js", timeout=10)
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]
    assert "window.confirm" in script.text and "data-confirm" in script.text
    assert key["key"] not in "".join(page.text for page in pages)


def test_an_unconditional_policy_reads_plainly(make_proxy):
    proxy = make_proxy()
    profile = proxy.api("POST", "/profiles", json={"name": "plain"}).json()
    tool = proxy.api("POST", "/tools", json={"profile_id": profile["id"], "name": "Bash"}).json()
    for kind, action in (("call", "block_always"), ("result", "mark_as_trusted")):
        assert proxy.api("POST", f"/tool-{kind}-policies", json={"tool_id": tool["id"], "action": action}) \
            .status_code == 201
    other = proxy.api("POST", "/tools", json={"profile_id": profile["id"], "name": "fetch"}).json()
    proxy.api("POST", "/tool-call-policies", json={"tool_id": other["id"], "action": "block_always",
                                                   "conditions": [{"key": "url", "operator": "contains",
                                                                   "value": "evil"}]})
    console = signed_in(proxy.url)
    text = " ".join(re.sub(r"<[^>]+>", " ", console.get(f"/console/tools/{tool['id']}").text).split())
    assert "Calls are always blocked." in text and "Results are trusted (the context stays trusted)." in text
    assert "always." not in text.replace("Calls are always blocked.", "")
    text = " ".join(re.sub(r"<[^>]+>", " ", console.get(f"/console/tools/{other['id']}").text).split())
    assert 'Calls are always blocked when url contains &#34;evil&#34;.' in text
