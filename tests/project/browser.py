"""A real headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by Selenium.

Browsers cannot be downloaded here, so Selenium is pointed at the system binaries and
never asked to fetch one. A missing Chromium skips (fails under CI=true), as a missing
server does.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from tests.conftest import missing_server

CHROMIUM = os.environ.get("ALTCACHE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ALTCACHE_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"  # gitignored
T = TypeVar("T")


@contextmanager
def chromium(profile: Path, width: int = 1440, height: int = 1000) -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        missing_server(f"Chromium is not installed ({CHROMIUM}, {CHROMEDRIVER}): "
                       "apt-get install -y chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()


def wait_for(check: Callable[[], T], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; bounded in time."""
    import time

    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
        last = check()
    return last


def screenshot(driver: Any, name: str) -> Path:
    """Save a full-page PNG under test-artifacts/ and print where it is."""
    import base64

    ARTIFACTS.mkdir(exist_ok=True)
    # Chrome's own full-page capture: the whole document, whatever the window's height.
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path = ARTIFACTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    print(f"\n[screenshot] {path}")
    return path
