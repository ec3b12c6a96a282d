"""Console sign-in through the identity provider in a real headless Chromium, against the two-worker gunicorn and
the fake IdP with its sign-in page: one person per role (admin, operator, viewer) signs in, sees what the role
may do and nothing more, and the change log names them. The admin's part also answers the confirmation a
destructive button asks (dismissed: nothing happens; accepted: done), and checks the spend chart's axis labels
lie inside the chart at a small amount. The change log's screenshot is written over docs/console-changes.png."""
from __future__ import annotations

import openai
import pytest
from selenium.webdriver.common.alert import Alert
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions

from tests.browser import browser as browser_fixture
from tests.browser import screenshot
from tests.fakes import openai_wire as wire
from tests.fakes.idp_login import LoginIdP
from tests.fakes.server import json_reply
from tests.live import _start
from tests.test_console_browser import WIDER, documented, fill, text_of, wait_for
from tests.test_deployment import stop_gunicorn

browser = browser_fixture


@pytest.fixture(scope="module")
def idp():
    fake = LoginIdP()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory, idp):
    upstream, process, log, proxy = _start(tmp_path_factory, None, {
        "ARCHESTRA_OIDC_ISSUER": idp.issuer, "ARCHESTRA_OIDC_AUDIENCE": idp.audience,
        "ARCHESTRA_OIDC_CLIENT_ID": idp.client_id, "ARCHESTRA_OIDC_CLIENT_SECRET": idp.client_secret,
        "ARCHESTRA_OIDC_ADMIN_GROUPS": "platform-admins", "ARCHESTRA_OIDC_OPERATOR_GROUPS": "secops",
        "ARCHESTRA_OIDC_VIEWER_GROUPS": "engineering"})
    yield proxy
    stop_gunicorn(process, log)
    upstream.close()


def sign_in(driver, live, email: str, groups: str, page: str = "/console/", document: bool = False) -> None:
    driver.delete_all_cookies()
    driver.get(live.url + page)
    assert "/console/sign-in" in driver.current_url
    if document:  # the page docs/console-sign-in.md shows
        documented(screenshot(driver, "oidc-sign-in"), "sign-in")
    driver.find_element(By.ID, "oidc-sign-in").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "idp-email"))  # the identity provider's own page
    fill(driver, "idp-email", email)
    fill(driver, "idp-groups", groups)
    driver.find_element(By.ID, "idp-submit").click()
    wait_for(driver, lambda d: d.current_url.startswith(live.url + page) and email in d.find_element(
        By.CSS_SELECTOR, "header.top").text)


def answer_confirmation(driver, accept: bool) -> str:
    alert: Alert = wait_for(driver, expected_conditions.alert_is_present())
    question = alert.text
    alert.accept() if accept else alert.dismiss()
    return question


def test_each_role_signs_in_through_the_identity_provider(live, idp, browser):
    driver = browser
    profile = live.profile(slug="browser-oidc")
    tool = live.api("POST", "/tools", json={"profile_id": profile, "name": "send_email"}).json()
    live.api("POST", "/tool-call-policies", json={"tool_id": tool["id"], "action": "block_always"})
    key = live.api("POST", "/virtual-keys", json={"profile_id": profile, "name": "ci"}).json()

    # The viewer: reads everything, no form that changes anything.
    sign_in(driver, live, "linus@example.com", "engineering", f"/console/profiles/{profile}", document=True)
    assert "read-only" in driver.find_element(By.CSS_SELECTOR, "header.top").text
    assert not driver.find_elements(By.CSS_SELECTOR, "main button.danger")
    assert not driver.find_elements(By.XPATH, "//main//button[text()='Save']")
    screenshot(driver, "oidc-viewer")
    assert idp.requests[-1]["code_challenge_method"] == "S256"

    # The operator: the tool's policies and the profile's mode, not its keys or limits.
    sign_in(driver, live, "grace@example.com", "secops", f"/console/tools/{tool['id']}")
    assert "operator" in driver.find_element(By.CSS_SELECTOR, "header.top").text
    delete = driver.find_element(By.XPATH, "//button[text()='Delete policy']")
    delete.click()
    assert "Delete this call policy (block_always) of send_email?" in answer_confirmation(driver, accept=False)
    assert len(live.api("GET", "/tool-call-policies", params={"tool_id": tool["id"]}).json()["data"]) == 1
    driver.find_element(By.XPATH, "//button[text()='Delete policy']").click()
    answer_confirmation(driver, accept=True)
    wait_for(driver, lambda d: "Deleted." in text_of(d))
    assert live.api("GET", "/tool-call-policies", params={"tool_id": tool["id"]}).json()["data"] == []
    driver.get(f"{live.url}/console/profiles/{profile}")
    assert not driver.find_elements(By.XPATH, "//button[text()='Revoke']")
    assert not driver.find_elements(By.XPATH, "//button[text()='Issue virtual key']")
    assert not driver.find_element(By.NAME, "name").is_enabled()
    screenshot(driver, "oidc-operator")

    # The admin: everything; a revoke asks first.
    sign_in(driver, live, "ada@example.com", "platform-admins", f"/console/profiles/{profile}")
    driver.find_element(By.XPATH, "//button[text()='Revoke']").click()
    assert "Revoke the virtual key ci?" in answer_confirmation(driver, accept=False)
    assert live.api("GET", f"/virtual-keys/{key['id']}").json()["revoked_at"] is None
    driver.find_element(By.XPATH, "//button[text()='Revoke']").click()
    answer_confirmation(driver, accept=True)
    wait_for(driver, lambda d: "Revoked." in text_of(d))
    assert live.api("GET", f"/virtual-keys/{key['id']}").json()["revoked_at"] is not None

    # The change log names each person and role.
    driver.get(f"{live.url}/console/changes?profile_id={profile}")
    rows = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "table.changes tbody tr")]
    assert "ada@example.com admin" in rows[0] and "virtual key ci" in rows[0] and "revoked_at" in rows[0]
    assert "grace@example.com operator" in rows[1] and "delete" in rows[1]
    assert not any("linus@example.com" in row for row in rows)
    documented(screenshot(driver, "oidc-change-log"), "changes")
    driver.set_window_size(390, 844)  # a phone: nothing wider than the screen but the table's scrolling box
    driver.refresh()
    assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), \
        driver.execute_script(WIDER)
    driver.set_window_size(1280, 1000)

    # The spend chart at a small amount ($0.000075: gpt-4o, 10 tokens in, 5 out): fixed-point labels, all
    # inside the chart.
    live.upstream.reply_with(json_reply(wire.completion("Hi", usage=(10, 5))))
    openai.OpenAI(api_key="sk-client", base_url=live.base("openai", profile), max_retries=0).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    driver.get(f"{live.url}/console/spend?profile_id={profile}")
    wait_for(driver, lambda d: d.refresh() or d.find_elements(By.CSS_SELECTOR, "#chart-profiles rect.bar"))
    chart = driver.find_element(By.CSS_SELECTOR, "#chart-profiles svg")
    labels = chart.find_elements(By.TAG_NAME, "text")
    ticks = [label.text for label in labels if label.text.startswith("$")]
    assert ticks == ["$0", "$0.000025", "$0.000050", "$0.000075", "$0.000100"], ticks
    for label in labels:
        assert label.rect["x"] >= chart.rect["x"] - 0.5, label.text
        assert label.rect["x"] + label.rect["width"] <= chart.rect["x"] + chart.rect["width"] + 0.5, label.text
    screenshot(driver, "oidc-spend-small")


def test_the_admin_token_still_signs_in(live, browser):
    driver = browser
    driver.delete_all_cookies()
    driver.get(f"{live.url}/console/")
    fill(driver, "token", "t")
    driver.find_element(By.ID, "token").submit()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Profiles")
