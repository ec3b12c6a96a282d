"""A real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, installed by .ci/run) driven with
selenium, for the admin console's browser tests; screenshots go to ``test-output/console/``."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-output" / "console"


def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    paths = chromium_paths()
    if paths is None:
        message = "chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000", "--lang=en-US"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    driver.implicitly_wait(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def screenshot(driver, name: str) -> Path:
    """The whole page (not just the window) as ``test-output/console/{name}.png``."""
    path = SCREENSHOTS / f"{name}.png"
    width = driver.execute_script("return document.documentElement.scrollWidth")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    size = driver.get_window_size()
    driver.set_window_size(size["width"], max(size["height"], min(height + 140, 6000)))
    driver.save_screenshot(str(path))
    driver.set_window_size(size["width"], size["height"])
    assert width and path.stat().st_size > 1000
    return path
