"""Issue 30: a pending approval approved in the admin console (a real headless Chromium, the two-worker gunicorn),
the agent's retry passing once, then refused again with a new pending approval; a rejection with a reason from the
console reaching the agent; a read-only session cannot decide. Screenshots: test-output/console/."""
from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.browser import browser as browser_fixture
from tests.browser import screenshot
from tests.test_approvals import PayingAgent, awaiting
from tests.test_approvals import live as live_fixture
from tests.test_approvals import receiver as receiver_fixture
from tests.test_console_browser import fill, reload_until, text_of, wait_for

live, browser, receiver = live_fixture, browser_fixture, receiver_fixture


def sign_in(driver, live, token: str = "t") -> None:
    driver.delete_all_cookies()
    driver.get(f"{live.url}/console/approvals")
    fill(driver, "token", token)
    driver.find_element(By.ID, "token").submit()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Approvals")


def test_a_pending_approval_approved_in_the_console_lets_the_retry_pass_once(live, browser):
    driver = browser
    agent = PayingAgent(live)
    approval_id = awaiting(agent.pay())
    sign_in(driver, live)
    row = reload_until(driver, lambda: driver.find_elements(By.ID, f"approval-{approval_id}"))[0]
    assert "send_payment" in row.text and '"amount":1200' in row.text.replace(" ", "")
    assert "confidential" in row.text and "alice" in row.text and "pending" in row.text
    screenshot(driver, "approvals-pending")
    fill(driver, f"approve-reason-{approval_id}", "Invoice 42 checked")
    driver.find_element(By.ID, f"approve-{approval_id}").click()
    wait_for(driver, lambda d: "Approved: the same call passes once" in text_of(d))
    decided = live.api("GET", f"/approvals/{approval_id}").json()
    assert (decided["status"], decided["decided_by"], decided["decision_reason"]) == (
        "approved", "admin token", "Invoice 42 checked")

    assert agent.pay() == "called send_payment"
    again = awaiting(agent.pay())
    assert again != approval_id
    driver.get(f"{live.url}/console/approvals?status=")
    assert "approved, used by admin token" in driver.find_element(By.ID, f"approval-{approval_id}").text
    assert "pending" in driver.find_element(By.ID, f"approval-{again}").text
    screenshot(driver, "approvals-used")

    # Rejected from the console: the agent reads the reason.
    driver.get(f"{live.url}/console/approvals")
    fill(driver, f"reject-reason-{again}", "Paid twice already")
    driver.find_element(By.ID, f"reject-{again}").click()
    wait_for(driver, lambda d: "Rejected: the call stays refused" in text_of(d))
    assert f"rejected by admin token (approval {again}): Paid twice already." in agent.pay()


def test_deciding_needs_a_console_session_that_may_change_things(live, browser):
    agent = PayingAgent(live)
    approval_id = awaiting(agent.pay())
    sign_in(browser, live)
    cookie = browser.get_cookie("archestra_console")["value"]
    # A form post without the page's CSRF token is refused, and decides nothing.
    forged = requests.post(f"{live.url}/console/approvals/{approval_id}/approve", data={"reason": "x"},
                           cookies={"archestra_console": cookie}, timeout=10, allow_redirects=False)
    assert forged.status_code == 403
    assert live.api("GET", f"/approvals/{approval_id}").json()["status"] == "pending"


@pytest.fixture(autouse=True)
def _signed_out(browser):
    yield
    browser.delete_all_cookies()
