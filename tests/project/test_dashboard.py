"""The demo's /dashboard/ in a real headless Chromium: charts draw and show the counters."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import Client

from django_altcache.metrics.recorder import _recorders

from .browser import chromium, screenshot, wait_for

# A real browser: on the main Python/Django pairs only (tests/conftest.py, ALTCACHE_LIGHT).
pytestmark = pytest.mark.heavy

FED = ("default", "locmem", "files")  # aliases this test uses; the others show as "not counted"


class Feeder:
    """Real cache calls on a few aliases, a few hundred a second, from one thread: each
    counted by the operation pipeline into the alias's recorder, as in the running site."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.outage = threading.Event()
        self.recorders: dict[str, Any] = {}
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        rng = random.Random(7)
        stores = {alias: caches[alias] for alias in FED}
        self.recorders = {alias: store._recorder for alias, store in stores.items()}
        self.ready.set()
        deadline = time.monotonic() + 120  # bounded even if the test forgets to stop it
        while not self.stop.is_set() and time.monotonic() < deadline:
            for alias, store in stores.items():
                if alias == "default" and self.outage.is_set():
                    # The outage drill as the pipeline reports it with fail-soft on (breaker open:
                    # answered at once, as misses). Simulated here: the shared Redis stays up;
                    # the real kill is ./dev demo --load's (test_demo.py) and tests/redis'.
                    for _ in range(10):
                        self.recorders[alias].record("get", 0.000004, 0, 1, ConnectionError, True)
                    continue
                for _ in range(10):
                    key = f"dash:{int(60 * rng.random() ** 2)}"
                    if store.get(key) is None:
                        store.set(key, "x" * 200, timeout=2)
            time.sleep(0.02)

    def __enter__(self) -> Feeder:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture
def dashboard_site(site: ModuleType, live_server: Any) -> Any:
    # Fresh recorders for this test's caches (the registry outlives a settings override).
    for alias in settings.CACHES:
        _recorders.pop(alias, None)
    yield live_server
    for alias in settings.CACHES:
        _recorders.pop(alias, None)


def shown(driver: Any, alias: str, attribute: str, key: str) -> str:
    return driver.execute_script(
        "const n = document.querySelector(`[data-alias='${arguments[0]}'] [data-${arguments[1]}='${arguments[2]}']`);"
        "return n ? n.textContent : null;", alias, attribute, key)


def test_the_json_feeds_every_alias(site: ModuleType) -> None:
    _recorders.pop("locmem", None)
    caches["locmem"].get("nothing-here")  # counted by the pipeline (METRICS in the demo settings)
    recorder = _recorders["locmem"]
    recorder.record("get", 0.00001, 1, 0, None, False)  # and one the test times itself
    try:
        response = Client().get("/dashboard.json")
        assert response.status_code == 200 and "no-cache" in response["Cache-Control"]
        data = response.json()
        by_alias = {c["alias"]: c for c in data["caches"]}
        assert set(by_alias) == set(settings.CACHES)
        assert by_alias["locmem"]["metrics"]["calls"] == 2
        assert (by_alias["locmem"]["metrics"]["hits"], by_alias["locmem"]["metrics"]["misses"]) == (1, 1)
        assert by_alias["locmem"]["metrics"]["latency_buckets"][0] >= 1  # le="1e-05"
        page = Client().get("/dashboard/")
        assert page.status_code == 200 and b"/assets/demoapp/dashboard.js" in page.content
        assert b"//" not in page.content.split(b"<script src=")[1][:5]  # no CDN: a path on this site
        assert Client().get("/assets/demoapp/dashboard.js").status_code == 200
    finally:
        _recorders.pop("locmem", None)


def test_dashboard_in_chromium(dashboard_site: Any, tmp_path: Path) -> None:
    from demoapp import events

    events.clear()
    with chromium(tmp_path / "profile") as driver, Feeder() as feeder:
        driver.get(f"{dashboard_site.url}/dashboard/?window=20")
        wait_for(lambda: driver.execute_script("return +document.body.dataset.polls") >= 4, timeout=20,
                 what="the first polls")
        # The outage drill as the pipeline reports it: breakers open, fail-soft answers.
        events.note("Redis killed: outage drill", "outage")
        feeder.outage.set()
        feeder.recorders["default"].breaker("read", "open")
        wait_for(lambda: driver.execute_script(
            "return document.querySelector(`[data-alias='default'] [data-breaker]`).dataset.breaker") == "open",
            timeout=10, what="the breaker shown open")
        polls = driver.execute_script("return +document.body.dataset.polls")
        wait_for(lambda: driver.execute_script("return +document.body.dataset.polls") >= polls + 3, timeout=10,
                 what="3 polls during the outage")
        feeder.outage.clear()
        feeder.recorders["default"].breaker("read", "closed")
        events.note("Redis restarted: breaker closed", "recovery")

        def charts_drawn() -> bool:
            counts = driver.execute_script(
                "return [...document.querySelectorAll('canvas[data-chart]')].map(c => +(c.dataset.drawn || 0));")
            return len(counts) == 4 * len(FED) and min(counts) >= 12

        try:
            # ~12 s of polls, so the screenshot shows lines rather than dots.
            wait_for(charts_drawn, timeout=60, what="every chart to draw at least 12 points")
        except AssertionError:
            screenshot(driver, "dashboard-failed")
            print(driver.get_log("browser"), driver.execute_script("return document.body.dataset.polls"))
            raise
        feeder.stop.set()
        feeder.thread.join(10)
        stopped = time.time()
        # The next poll after the feeder stopped shows the final counters.
        wait_for(lambda: all(float(driver.execute_script(
            "return document.querySelector(`[data-alias='${arguments[0]}']`).dataset.taken || 0", alias)) > stopped
            for alias in FED), timeout=10, what="a poll after the feeder stopped")
        for alias in FED:
            snap = feeder.recorders[alias].snapshot()
            assert snap.calls > 100, (alias, snap.calls)
            for key in ("calls", "hits", "misses", "errors", "fallbacks"):
                assert shown(driver, alias, "total", key).replace(",", "") == str(getattr(snap, key)), (alias, key)
            assert shown(driver, alias, "total", "hit_rate") == f"{snap.hit_rate * 100:.1f}%"
            assert shown(driver, alias, "kpi", "p50") not in ("–", None)
            assert shown(driver, alias, "kpi", "calls") not in ("–", None)
        unfed = [a for a in settings.CACHES if a not in FED]
        for alias in unfed:
            assert driver.execute_script(
                "return document.querySelector(`[data-alias='${arguments[0]}']`).dataset.metrics", alias) == "off"
        assert "Redis killed" in driver.find_element("id", "events").text
        assert "Redis restarted" in driver.find_element("id", "events").text
        assert feeder.recorders["default"].snapshot().fallbacks > 0
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, json.dumps(errors, indent=1)
        path = screenshot(driver, "dashboard")
        assert path.stat().st_size > 10_000
