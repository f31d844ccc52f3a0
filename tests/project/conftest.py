"""The demo project (testproject/) under test, against the real servers.

pytest-django runs with tests.settings, so the in-process tests overlay the project's
own settings with override_settings: caches, middleware, URLs, templates, sessions.
Only DATABASES cannot be swapped in a running process; what depends on them (the
CacheRouter, manage.py) is tested in subprocesses with the project's settings as is.
"""

from __future__ import annotations

import copy
import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]
PROJECT_DIR = ROOT / "testproject"
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

# Settings the in-process tests take from the project unchanged.
PROJECT_SETTINGS = (
    "MIDDLEWARE", "ROOT_URLCONF", "TEMPLATES", "ALLOWED_HOSTS", "SESSION_ENGINE", "SESSION_CACHE_ALIAS",
    "CACHE_MIDDLEWARE_ALIAS", "CACHE_MIDDLEWARE_SECONDS", "CACHE_MIDDLEWARE_KEY_PREFIX",
    "PAGE_CACHE_ALIAS", "FRAGMENT_CACHE_ALIAS", "COUNTER_CACHE_ALIAS",
)
SERVER_VARS = ("ALTCACHE_REDIS_URL", "ALTCACHE_MEMCACHED_LOCATION", "ALTCACHE_PG_HOST", "ALTCACHE_PG_PORT")


@pytest.fixture(scope="session")
def project_settings(redis_url: str, memcached_location: str, postgres_port: str,
                     tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """demosite.settings as it reads with every server available."""
    saved = os.environ.get("ALTCACHE_DEMO_VAR_DIR")
    os.environ["ALTCACHE_DEMO_VAR_DIR"] = str(tmp_path_factory.mktemp("demo-var"))
    try:
        module = importlib.import_module("demosite.settings")
    finally:
        if saved is None:
            del os.environ["ALTCACHE_DEMO_VAR_DIR"]
        else:
            os.environ["ALTCACHE_DEMO_VAR_DIR"] = saved
    return module


def isolated_caches(caches: dict[str, dict[str, Any]], tmp_path: Path) -> dict[str, dict[str, Any]]:
    """The project's CACHES with a key prefix of this test's own, so shared servers need no flush."""
    run = uuid.uuid4().hex[:10]
    isolated = copy.deepcopy(caches)
    for alias, params in isolated.items():
        params["KEY_PREFIX"] = f"{params.get('KEY_PREFIX', '')}{run}"
        if params["BACKEND"].endswith(".FileBasedCache"):
            params["LOCATION"] = str(tmp_path / f"filecache-{alias}")
        elif params["BACKEND"].endswith(".LocMemCache"):
            params["LOCATION"] = f"{params.get('LOCATION', '')}-{run}"
    return isolated


@pytest.fixture
def site(project_settings: ModuleType, tmp_path: Path) -> Iterator[ModuleType]:
    """The project's caches, middleware, URLs, templates and sessions, in this process."""
    overrides = {name: getattr(project_settings, name) for name in PROJECT_SETTINGS}
    overrides["CACHES"] = isolated_caches(project_settings.CACHES, tmp_path)
    overrides["INSTALLED_APPS"] = [*settings.INSTALLED_APPS, "demoapp"]
    with override_settings(**overrides):
        yield project_settings


@pytest.fixture
def site_db(site: ModuleType, db: None) -> ModuleType:
    """``site`` plus the test database: cached_db sessions and the "db" cache table."""
    call_command("createcachetable", database="default", verbosity=0)
    return site


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the project's manage.py with its own settings (not tests.settings)."""
    env = {**env, "DJANGO_SETTINGS_MODULE": "demosite.settings"}
    env.pop("PYTHONPATH", None)  # the project must run as a user runs it: from its own directory
    return subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def project_env(redis_url: str, memcached_location: str, postgres_port: str,
                tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for the project in a subprocess: the shared servers, and a database of its own."""
    import psycopg

    host = os.environ.get("ALTCACHE_PG_HOST", "127.0.0.1")
    name = f"altcache_project_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(host=host, port=postgres_port, user="postgres", dbname="postgres", autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**os.environ, "ALTCACHE_PG_NAME": name, "ALTCACHE_DEMO_VAR_DIR": str(tmp_path)}
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
