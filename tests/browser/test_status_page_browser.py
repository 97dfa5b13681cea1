"""The status page in headless Chromium (Debian's), served by `dnsd serve` on the real engine.

A container started while the page is open appears without a reload, and one removed
disappears; typing filters the names; values from outside render as text, never as markup.
Chromium may resolve no host name at all (only the page on 127.0.0.1 is reachable), and
a screenshot is saved under the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.docker_support import DockerLab, docker
from tests.serve_process import Served, dnsd_serve

pytestmark = pytest.mark.docker

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HOSTILE_FILE = "<img src=x onerror=window.pwned=1>.hosts"
WAIT = 30.0


def chromium_options(profile: Path) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in CI
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # nothing else resolves
    ):
        options.add_argument(argument)
    return options


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        message = "needs Debian's chromium and chromium-driver (scripts/install-system-packages)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    monkeypatch.setenv("SE_AVOID_STATS", "true")  # Selenium Manager: never phone home
    service = Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=chromium_options(tmp_path / "profile"))
    try:
        yield driver
    finally:
        driver.quit()


def wait_ready(served: Served) -> str:
    """The API base URL, once /ready says every source has synced."""
    base = f"http://127.0.0.1:{served.http_port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(base + "/ready", timeout=2) as response:
                return bool(json.loads(response.read())["ready"])
        except (urllib.error.URLError, OSError, ValueError):
            return False

    end = time.monotonic() + WAIT
    while not ready():
        if time.monotonic() > end:
            pytest.fail(f"dnsd did not become ready within {WAIT}s:\n{served.log()}")
        time.sleep(0.1)
    return base


def rows(driver: webdriver.Chrome) -> dict[str, WebElement]:
    return {
        str(row.get_attribute("data-n")): row
        for row in driver.find_elements(By.CSS_SELECTOR, "#names > div")
    }


def until(driver: webdriver.Chrome, what: str, check: Callable[[], object]) -> None:
    def attempt(_: object) -> object:
        try:
            return check()
        except StaleElementReferenceException:  # a row was replaced under us: look again
            return False

    WebDriverWait(driver, WAIT, poll_frequency=0.1).until(attempt, message=what)


def visible(driver: webdriver.Chrome, lab: DockerLab) -> set[str]:
    return {name for name, row in rows(driver).items() if lab.tag in name and row.is_displayed()}


def change_rows(driver: webdriver.Chrome) -> list[str]:
    return [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#changes tr")]


def test_the_status_page_follows_containers_live_and_filters(
    lab: DockerLab, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    network = lab.network("net")  # own network: does not depend on the default bridge
    first = lab.run("first", "--network", network)
    records = tmp_path / HOSTILE_FILE
    records.write_text("10.250.0.1 static-one\n")
    with dnsd_serve(["--records", str(records)], tmp_path, http=True) as served:
        browser.get(wait_ready(served) + "/")
        assert first in rows(browser)
        until(browser, "the page follows /v1/events", lambda: browser.find_element(
            By.ID, "live").text == "live")  # fmt: skip
        browser.execute_script("window.loadedOnce = 42")

        second = lab.run("second", "--network", network)
        until(browser, f"{second} appears", lambda: second in rows(browser))
        until(browser, f"{second} in the history", lambda: any(
            f"{second}.docker. added" in line for line in change_rows(browser)))  # fmt: skip
        assert browser.execute_script("return window.loadedOnce") == 42, "the page reloaded"
        assert "connected" in browser.find_element(By.ID, "summary").text

        box = browser.find_element(By.ID, "filter")
        box.send_keys(second)
        until(browser, "only the second", lambda: visible(browser, lab) == {second})
        assert browser.find_element(By.ID, "shown").text == "1"
        box.clear()
        box.send_keys(lab.tag.upper())
        until(browser, "both", lambda: visible(browser, lab) == {first, second})
        box.clear()
        box.send_keys("no-such-name-anywhere")
        until(browser, "none", lambda: browser.find_element(By.ID, "shown").text == "0")
        box.clear()
        box.send_keys(" ")
        until(browser, "all again", lambda: visible(browser, lab) == {first, second})

        docker("rm", "-f", second)
        until(browser, f"{second} disappears", lambda: second not in rows(browser))
        until(browser, f"{second} removal in the history", lambda: any(
            f"{second}.docker. removed" in line for line in change_rows(browser)))  # fmt: skip

        with records.open("a") as handle:
            handle.write("10.250.0.2 static-two\n")
        until(browser, "the records file change", lambda: "static-two" in rows(browser))
        assert f"file:{records}" in rows(browser)["static-two"].text
        assert browser.execute_script("return window.pwned") is None
        assert browser.execute_script("return document.images.length") == 0

        shot = tmp_path / "status-page.png"
        assert browser.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
