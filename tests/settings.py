"""Settings for our own test-suite (pytest-django). Server addresses come from runtests.py."""

from __future__ import annotations

import os
import tempfile

SECRET_KEY = "django-altcache-tests"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django_altcache",
]
DATABASES: dict[str, dict[str, object]] = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        # A file, not :memory:, so other processes (concurrency tests) see the same database.
        "NAME": os.path.join(tempfile.gettempdir(), f"altcache-tests-{os.getpid()}.sqlite3"),
        "TEST": {"NAME": os.path.join(tempfile.gettempdir(), f"altcache-test-{os.getpid()}.sqlite3")},
        "OPTIONS": {"timeout": 20},
    },
}
if os.environ.get("ALTCACHE_PG_PORT"):
    DATABASES["postgres"] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
        "USER": "postgres",
        "HOST": os.environ.get("ALTCACHE_PG_HOST", "127.0.0.1"),
        "PORT": os.environ["ALTCACHE_PG_PORT"],
    }
if os.environ.get("ALTCACHE_MYSQL_PORT"):
    DATABASES["mysql"] = {
        "ENGINE": "django.db.backends.mysql",
        "NAME": "altcache",
        "USER": "root",
        "HOST": os.environ.get("ALTCACHE_MYSQL_HOST", "127.0.0.1"),
        "PORT": os.environ["ALTCACHE_MYSQL_PORT"],
        "OPTIONS": {"charset": "utf8mb4"},
    }
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING_CONFIG = None
# pytest-django's live server wraps the site in a static-files handler built from this
# when the server starts (the demo dashboard's browser test); unused otherwise.
STATIC_URL = "/static/"
