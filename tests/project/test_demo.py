"""``./dev demo``: testproject/demo.py starts its own servers, checks the site, and stops them."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests._servers import free_port
from tests.project.conftest import PROJECT_DIR, SERVER_VARS

DEMO = PROJECT_DIR / "demo.py"


def demo_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVER_VARS and k != "DJANGO_SETTINGS_MODULE"}
    return {**env, "ALTCACHE_DEMO_VAR_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def started_ports(output: str) -> list[int]:
    return [int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", output.split("Database")[0])]


def test_demo_self_check_passes_and_stops_its_servers(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(DEMO)], env=demo_env(tmp_path), capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "All checks passed." in out
    for alias in ("default", "db", "files", "locmem", "pymemcache", "pylibmc"):
        assert re.search(rf"✔ {alias}\s", out), f"{alias} missing or failing:\n{out}"
    assert "✘" not in out
    ports = started_ports(out)
    assert len(ports) == 3, out  # redis, memcached, postgres
    assert not any(port_open(port) for port in ports), "a server outlived the demo"


def test_demo_serve_runs_the_site_until_interrupted(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(DEMO), "--serve", "--port", str(port)], env=demo_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, page = time.monotonic() + 120, ""
        while time.monotonic() < deadline and proc.poll() is None and not page:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/caches/", timeout=10) as response:
                    page = response.read().decode()
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert page, f"the site never answered on port {port}"
        assert "FAILED" not in page and page.count(">OK<") == 6
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        stop(proc)
    assert proc.returncode == 0, out
    assert "Stopped redis, memcached, postgres." in out
    ports = started_ports(out)
    assert len(ports) == 3 and not any(port_open(p) for p in ports), out


def stop(proc: subprocess.Popen[str]) -> None:
    """A demo still running after a failure: SIGTERM first, which it handles by stopping its
    servers (a SIGKILL would leave them running), then SIGKILL if that is not enough."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _json(url: str) -> dict:
    import json

    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read().decode())


def test_demo_load_drives_the_dashboard_through_an_outage_drill(tmp_path: Path) -> None:
    """``./dev demo --load``: requests flow, Redis is killed and restarted, the dashboard's
    JSON shows both events, and Ctrl-C still stops every server."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(DEMO), "--load", "--port", str(port), "--drill", "2,1.5,1000"],
                            env=demo_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/dashboard.json"
    try:
        deadline, texts = time.monotonic() + 150, []
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                texts = [event["text"] for event in _json(url)["events"]]
            except (urllib.error.URLError, ConnectionError):
                pass
            if any(text.startswith("Redis restarted") for text in texts):
                break
            time.sleep(0.3)
        if proc.poll() is not None:
            raise AssertionError(proc.communicate()[0][-3000:])
        assert any(text.startswith("Redis killed") for text in texts), texts
        assert any(text.startswith("Redis restarted") for text in texts), texts
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/dashboard/", timeout=10) as response:
            assert b"dashboard.js" in response.read()
        # The site's own counters saw the load and the outage (fail-soft answers while Redis was down).
        default = {c["alias"]: c for c in _json(url)["caches"]}["default"]["metrics"]
        assert default["calls"] > 0 and default["fallbacks"] > 0, default
        assert default["breakers"]["reads"]["opens"] >= 1, default
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        stop(proc)
    assert proc.returncode == 0, out
    assert "Load: ~40 requests/s" in out and "[load] Redis restarted" in out, out
    assert "Stopped redis, memcached, postgres." in out
    ports = started_ports(out)
    assert len(ports) == 3 and not any(port_open(p) for p in ports), out
