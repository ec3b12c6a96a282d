"""The console's pack actions in a real browser (headless Chromium, tests/browser.py) on the two-worker proxy:
apply a pack from a profile's page, apply one to every profile from the Packs page and take it off again; the
management API sees each change at once."""
from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser import browser as browser_fixture
from tests.browser import screenshot
from tests.live import live as live_fixture
from tests.test_console_browser import fill, text_of, wait_for

live, browser = live_fixture, browser_fixture


def row(driver, pack: str):
    return driver.find_element(By.ID, f"pack-{pack}")


def test_packs_from_the_console_in_a_browser(live, browser):
    driver = browser
    pid = live.profile(slug="browser-coder")
    driver.get(f"{live.url}/console/sign-in")
    fill(driver, "token", "t")
    driver.find_element(By.ID, "token").submit()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Profiles")

    driver.get(f"{live.url}/console/profiles/{pid}")
    section = driver.find_element(By.ID, "packs")
    assert "None:" in section.text
    Select(section.find_element(By.NAME, "pack")).select_by_visible_text("claude-code")
    section.find_element(By.XPATH, ".//button[text()='Apply pack']").click()
    wait_for(driver, lambda d: "claude-code 1.0.0" in d.find_element(By.ID, "packs").text)
    assert "Saved." in text_of(driver)
    screenshot(driver, "packs-profile")
    assert [p["name"] for p in live.api("GET", f"/profiles/{pid}/packs").json()["data"]] == ["claude-code"]

    driver.find_element(By.LINK_TEXT, "Packs").click()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Policy packs")
    assert "browser-coder" in row(driver, "claude-code").text
    row(driver, "fetch").find_element(By.XPATH, ".//button[text()='Apply to every profile']").click()
    wait_for(driver, lambda d: "every profile (1.1.0)" in row(d, "fetch").text)
    screenshot(driver, "packs-page")
    assert [p["name"] for p in live.api("GET", "/template-packs").json()["data"]] == ["fetch"]
    row(driver, "fetch").find_element(By.XPATH, ".//button[text()='Take off every profile']").click()
    wait_for(driver, lambda d: "nowhere" in row(d, "fetch").text)
    assert live.api("GET", "/template-packs").json()["data"] == []

    driver.get(f"{live.url}/console/profiles/{pid}")
    driver.find_element(By.ID, "packs").find_element(By.XPATH, ".//button[text()='Take off']").click()
    wait_for(driver, lambda d: "None:" in d.find_element(By.ID, "packs").text)
    assert live.api("GET", f"/profiles/{pid}/packs").json()["data"] == []
