"""``manage.py cachecheck`` against real servers: live ones, a dead port, a frozen server.

The servers are started here (``dedicated``), so the core group needs none from the
runner. In process through ``call_command`` (output and SystemExit), and as a user
runs it: the demo project's manage.py in a subprocess, for the exit status.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_altcache.backends._shared.breaker import reset_breakers
from django_altcache.management.commands.cachecheck import mask
from tests._servers.base import free_port
from tests._servers.memcached import MemcachedServer, memcached_server
from tests._servers.redis import RedisServer, redis_server
from tests.conftest import dedicated

ROOT = Path(__file__).resolve().parents[2]
PROJECT_DIR = ROOT / "testproject"
OURS = "django_altcache.backends"
FIELDS = re.compile(r"\s{2,}")


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    yield from dedicated(redis_server)


@pytest.fixture(scope="module")
def memcached() -> Iterator[MemcachedServer]:
    yield from dedicated(memcached_server)


@pytest.fixture(autouse=True)
def fresh_breakers() -> Iterator[None]:
    reset_breakers()
    yield
    reset_breakers()


def dead_url(password: str = "") -> str:
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{free_port()}"


def run(caches_setting: dict[str, Any], *args: str) -> tuple[int, str, str]:
    """call_command("cachecheck") under these CACHES: (exit status, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    with override_settings(CACHES=caches_setting):
        try:
            call_command("cachecheck", *args, stdout=out, stderr=err)
            status = 0
        except SystemExit as exc:
            status = int(exc.code or 0)
        finally:
            for alias in caches_setting:  # instances are per thread: do not leak into other tests
                with contextlib.suppress(Exception):  # a cache that cannot be built has nothing to close
                    caches[alias].close()
    return status, out.getvalue(), err.getvalue()


def rows(output: str) -> dict[str, list[str]]:
    """alias -> [status, latency, servers, (backend), details...]."""
    parsed = {}
    for line in output.splitlines():
        alias, *fields = FIELDS.split(line.strip())
        parsed[alias] = fields
    return parsed


def test_one_line_per_cache_and_exit_status_one_when_a_cache_fails(redis: RedisServer, tmp_path: Path) -> None:
    setting = {
        "default": {"BACKEND": f"{OURS}.redis.RedisCache", "LOCATION": redis.url},
        "dead": {"BACKEND": f"{OURS}.redis.RedisCache", "LOCATION": dead_url("s3cret")},
        "django": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis.url},
        "files": {"BACKEND": f"{OURS}.filebased.FileBasedCache", "LOCATION": str(tmp_path / "files")},
        "local": {"BACKEND": f"{OURS}.locmem.LocMemCache", "LOCATION": "cachecheck"},
        "dummy": {"BACKEND": f"{OURS}.dummy.DummyCache"},
    }
    status, out, err = run(setting)
    assert status == 1
    table = rows(out)
    assert list(table) == list(setting)  # configured order, one line each
    for alias in ("default", "django", "files", "local"):
        state, latency, servers, backend, *_ = table[alias]
        assert state == "OK", table[alias]
        assert re.fullmatch(r"\d+\.\d ms", latency)
        assert backend == f"({setting[alias]['BACKEND']})"
    assert table["default"][2] == redis.url and table["django"][2] == redis.url
    assert table["files"][2] == str(tmp_path / "files")
    state, latency, servers, backend, error = table["dead"]
    assert state == "FAIL" and re.fullmatch(r"\d+\.\d ms", latency)
    assert servers.startswith("redis://:***@127.0.0.1:") and "ConnectionError" in error
    assert table["dummy"] == ["SKIP", "-", "-", f"({OURS}.dummy.DummyCache)", "dummy cache: nothing to check"]
    assert "s3cret" not in out + err  # never a password, in servers nor in errors
    assert err.strip() == "cachecheck: 1 of 6 cache(s) failed: dead"


def test_aliases_select_and_order_the_caches_and_all_ok_exits_zero(redis: RedisServer) -> None:
    setting = {
        "default": {"BACKEND": f"{OURS}.redis.RedisCache", "LOCATION": redis.url},
        "dead": {"BACKEND": f"{OURS}.redis.RedisCache", "LOCATION": dead_url()},
        "dummy": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }
    status, out, err = run(setting, "dummy", "default", "dummy")
    assert status == 0 and err == ""
    assert [(alias, fields[0]) for alias, fields in rows(out).items()] == [("dummy", "SKIP"), ("default", "OK")]
    # Verbosity 0: only the exit status.
    status, out, _ = run(setting, "default", "--verbosity", "0")
    assert (status, out) == (0, "")
    status, out, _ = run(setting, "dead", "--verbosity", "0")
    assert (status, out) == (1, "")


def test_unknown_alias_is_a_usage_error_naming_it() -> None:
    with override_settings(CACHES={"default": {"BACKEND": f"{OURS}.locmem.LocMemCache"}}), \
            pytest.raises(CommandError, match=r"unknown cache alias 'nope'; CACHES has 'default'") as raised:
        call_command("cachecheck", "default", "nope", stdout=StringIO())
    assert raised.value.returncode == 2


def test_json_output(redis: RedisServer) -> None:
    setting = {
        "default": {"BACKEND": f"{OURS}.redis.RedisCache", "LOCATION": redis.url},
        "dead": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead_url("pw")},
    }
    status, out, _ = run(setting, "--json")
    assert status == 1
    document = json.loads(out)
    assert document["ok"] is False
    live, dead = document["caches"]
    assert live["alias"] == "default" and live["status"] == "OK" and live["error"] is None
    assert isinstance(live["latency_ms"], float) and 0 < live["latency_ms"] < 5000
    assert live["servers"] == [redis.url]
    assert dead["status"] == "FAIL" and dead["backend"] == "django.core.cache.backends.redis.RedisCache"
    assert dead["servers"][0].startswith("redis://:***@") and "ConnectionError" in dead["error"]
    status, out, _ = run(setting, "default", "--json")
    assert status == 0 and json.loads(out)["ok"] is True


@pytest.mark.parametrize("backend", [f"{OURS}.memcached.PyMemcacheCache", f"{OURS}.memcached.PyLibMCCache",
                                     "django.core.cache.backends.memcached.PyMemcacheCache"])
def test_memcached_live_and_dead(backend: str, memcached: MemcachedServer) -> None:
    dead = f"127.0.0.1:{free_port()}"
    setting = {"live": {"BACKEND": backend, "LOCATION": memcached.location},
               "dead": {"BACKEND": backend, "LOCATION": dead}}
    status, out, _ = run(setting)
    table = rows(out)
    assert status == 1
    assert table["live"][0] == "OK" and table["live"][2] == memcached.location
    assert table["dead"][0] == "FAIL" and table["dead"][2] == dead


@pytest.mark.django_db
def test_database_caches(redis: RedisServer) -> None:
    setting = {
        "ours": {"BACKEND": f"{OURS}.db.DatabaseCache", "LOCATION": "cachecheck_ours"},
        "django": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "cachecheck_django"},
    }
    with override_settings(CACHES=setting):
        call_command("createcachetable", verbosity=0)
    missing = {"BACKEND": f"{OURS}.db.DatabaseCache", "LOCATION": "cachecheck_no_such_table"}
    status, out, _ = run({**setting, "missing": missing})
    table = rows(out)
    assert status == 1
    assert table["ours"][0] == "OK" and "default" in table["ours"][2]
    assert table["django"][0] == "OK" and table["django"][2] == "database default, table cachecheck_django"
    assert table["missing"][0] == "FAIL" and "cachecheck_no_such_table" in table["missing"][-1]


def test_a_frozen_server_fails_within_the_backend_timeout_or_within_timeout() -> None:
    for server in dedicated(redis_server):
        setting = {
            "short": {"BACKEND": f"{OURS}.redis.RedisCache", "LOCATION": server.url,
                      "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}},
            "default": {"BACKEND": f"{OURS}.redis.RedisCache", "LOCATION": server.url},
        }
        server.freeze()
        try:
            started = time.monotonic()
            status, out, _ = run(setting, "short")
            elapsed = time.monotonic() - started
            assert status == 1 and rows(out)["short"][0] == "FAIL" and "Timeout" in out
            assert elapsed < 3, elapsed  # the 0.5 s socket timeout, not a hang
            # --timeout bounds a probe whose own timeouts are longer (5 s here).
            started = time.monotonic()
            status, out, _ = run(setting, "default", "--timeout", "0.3")
            elapsed = time.monotonic() - started
            assert status == 1 and rows(out)["default"][-1] == "no answer within 0.3 s (--timeout)"
            assert elapsed < 2, elapsed
        finally:
            server.thaw()
        status, out, _ = run(setting, "--timeout", "5")
        assert status == 0, out


def test_breaker_states_are_shown_and_ping_bypasses_an_open_breaker(redis: RedisServer) -> None:
    breaker = {"IGNORE_EXCEPTIONS": True, "CIRCUIT_BREAKER": {"failures": 1, "cooldown": 60}}
    setting = {
        "live": {"BACKEND": f"{OURS}.redis.RedisCache", "LOCATION": redis.url, "OPTIONS": breaker},
        "dead": {"BACKEND": f"{OURS}.redis.RedisCache", "LOCATION": dead_url(), "OPTIONS": breaker},
    }
    with override_settings(CACHES=setting):
        assert caches["dead"].get("key", "fallback") == "fallback"  # fail-soft; opens the read breaker
        status, out, _ = run(setting)
    table = rows(out)
    assert status == 1
    assert table["live"][0] == "OK" and "breakers: reads=closed writes=closed" in table["live"]
    assert table["dead"][0] == "FAIL" and "breakers: reads=open writes=closed" in table["dead"]
    # The probe went to the server (a refused connection), not to the open breaker.
    assert "Connection refused" in table["dead"][-1] and "circuit breaker" not in table["dead"][-1]


def test_a_cache_that_cannot_be_created_fails_without_a_traceback() -> None:
    setting = {"bad": {"BACKEND": f"{OURS}.memcached.PyMemcacheCache", "LOCATION": "127.0.0.1:99999"}}
    out, err = StringIO(), StringIO()
    with override_settings(CACHES=setting), pytest.raises(SystemExit) as raised:
        call_command("cachecheck", stdout=out, stderr=err)
    assert raised.value.code == 1
    [fields] = rows(out.getvalue()).values()
    assert fields[0] == "FAIL" and "cannot create the cache" in fields[-1] and "99999" in fields[-1]


def test_mask_hides_passwords_in_urls() -> None:
    assert mask("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    assert mask("rediss://:pw@h:1") == "rediss://:***@h:1"
    assert mask("sentinel://secret@h:26379/svc") == "sentinel://***@h:26379/svc"  # a lone userinfo is a password
    assert mask("Error connecting to redis://u:pw@h:1.") == "Error connecting to redis://u:***@h:1."
    assert mask("redis://h:1/0?password=pw&db=1") == "redis://h:1/0?password=***&db=1"
    assert mask("127.0.0.1:11211") == "127.0.0.1:11211"


# -- as a user runs it: the demo project's manage.py, in a subprocess ------------------------
def manage(*args: str, redis_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("ALTCACHE_") and key != "PYTHONPATH"}
    env.update(DJANGO_SETTINGS_MODULE="demosite.settings", ALTCACHE_REDIS_URL=redis_url,
               ALTCACHE_DEMO_VAR_DIR=str(tmp_path))
    return subprocess.run([sys.executable, "manage.py", "cachecheck", *args], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_manage_py_exit_status(redis: RedisServer, tmp_path: Path) -> None:
    ok = manage("default", "locmem", "files", redis_url=redis.url, tmp_path=tmp_path)
    assert ok.returncode == 0, ok.stderr
    table = rows(ok.stdout)
    assert [(alias, fields[0]) for alias, fields in table.items()] == [
        ("default", "OK"), ("locmem", "OK"), ("files", "OK")]
    assert table["default"][3] == f"({OURS}.redis.RedisCache)"

    down = manage("default", "locmem", redis_url=dead_url("s3cret"), tmp_path=tmp_path)
    assert down.returncode == 1
    assert rows(down.stdout)["default"][0] == "FAIL" and rows(down.stdout)["locmem"][0] == "OK"
    assert "cachecheck: 1 of 2 cache(s) failed: default" in down.stderr
    assert "s3cret" not in down.stdout + down.stderr

    unknown = manage("default", "nope", redis_url=redis.url, tmp_path=tmp_path)
    assert unknown.returncode == 2 and "unknown cache alias 'nope'" in unknown.stderr and unknown.stdout == ""

    document = json.loads(manage("default", "--json", redis_url=redis.url, tmp_path=tmp_path).stdout)
    assert document["ok"] is True and document["caches"][0]["servers"] == [redis.url]
