"""Settings of the django-altcache demo site.

Every cache backend is django-altcache's drop-in for Django's own: the only
difference from a stock Django project is the ``BACKEND`` prefix
``django_altcache.backends.`` instead of ``django.core.cache.backends.``.

Servers come from the environment (``demo.py`` starts them and sets these):

    ALTCACHE_REDIS_URL           redis://127.0.0.1:6379   -> CACHES["default"] is Redis
    ALTCACHE_MEMCACHED_LOCATION  127.0.0.1:11211          -> "pymemcache" and "pylibmc" aliases
    ALTCACHE_PG_HOST/PORT(/NAME) PostgreSQL (user postgres) instead of SQLite

Without them the site still runs, on in-process caches and SQLite.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime files (SQLite database, file cache); gitignored. Tests point it at a temp dir.
VAR_DIR = Path(os.environ.get("ALTCACHE_DEMO_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

REDIS_URL = os.environ.get("ALTCACHE_REDIS_URL", "")
MEMCACHED_LOCATION = os.environ.get("ALTCACHE_MEMCACHED_LOCATION", "")
PG_PORT = os.environ.get("ALTCACHE_PG_PORT", "")

SECRET_KEY = "django-altcache-demo-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.sessions",
    "django_altcache",  # optional: adds createcachetable and the cache system checks
    "demoapp",
]

MIDDLEWARE = [
    # Site-wide cache: Update first, Fetch last (Django's documented order).
    "django.middleware.cache.UpdateCacheMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.cache.FetchFromCacheMiddleware",
]

ROOT_URLCONF = "demosite.urls"
WSGI_APPLICATION = "demosite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]

if PG_PORT:
    _database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("ALTCACHE_PG_NAME", "postgres"),
        "USER": "postgres",
        "HOST": os.environ.get("ALTCACHE_PG_HOST", "127.0.0.1"),
        "PORT": PG_PORT,
    }
else:
    _database = {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "demo.sqlite3"}

DATABASES = {
    "default": _database,
    # A read replica as Django's multi-database docs set one up; here it is a second
    # connection to the same database, which is all a router can tell apart.
    "replica": {**_database, "TEST": {"MIRROR": "default"}},
}
# The CacheRouter from Django's cache docs: cache reads from the replica, writes
# and the cache table on the primary.
DATABASE_ROUTERS = ["demosite.routers.CacheRouter"]

if REDIS_URL:
    _default_cache = {
        "BACKEND": "django_altcache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "demo",
        # Fail-soft: if Redis goes down the site serves uncached pages instead of 500s, and
        # a circuit breaker stops trying it on every request (docs/resilience.md).
        "OPTIONS": {"IGNORE_EXCEPTIONS": True, "socket_timeout": 0.5, "socket_connect_timeout": 0.5},
    }
else:
    _default_cache = {"BACKEND": "django_altcache.backends.locmem.LocMemCache", "LOCATION": "default"}

CACHES: dict[str, dict[str, object]] = {
    "default": _default_cache,
    "db": {
        "BACKEND": "django_altcache.backends.db.DatabaseCache",
        "LOCATION": "demo_cache_table",
    },
    "files": {
        "BACKEND": "django_altcache.backends.filebased.FileBasedCache",
        "LOCATION": VAR_DIR / "filecache",
    },
    "locmem": {
        "BACKEND": "django_altcache.backends.locmem.LocMemCache",
        "LOCATION": "demo",
    },
}
if MEMCACHED_LOCATION:
    CACHES["pymemcache"] = {
        "BACKEND": "django_altcache.backends.memcached.PyMemcacheCache",
        "LOCATION": MEMCACHED_LOCATION,
        "KEY_PREFIX": "demo",
    }
    CACHES["pylibmc"] = {
        "BACKEND": "django_altcache.backends.memcached.PyLibMCCache",
        "LOCATION": MEMCACHED_LOCATION,
        "KEY_PREFIX": "demo-libmc",
    }

# Every cache counts its calls, hits, misses, errors and latency (docs/metrics.md): the
# /dashboard/ page charts them, and /metrics serves them to Prometheus.
for _entry in CACHES.values():
    _entry["OPTIONS"] = {**_entry.get("OPTIONS", {}), "METRICS": {"latency": True}}  # type: ignore[dict-item]

# Which cache each feature of the demo uses.
CACHE_MIDDLEWARE_ALIAS = "default"  # site-wide cache middleware
CACHE_MIDDLEWARE_SECONDS = 60
CACHE_MIDDLEWARE_KEY_PREFIX = "site"
PAGE_CACHE_ALIAS = "pymemcache" if MEMCACHED_LOCATION else "files"  # @cache_page
FRAGMENT_CACHE_ALIAS = "pylibmc" if MEMCACHED_LOCATION else "db"  # {% cache %}
COUNTER_CACHE_ALIAS = "locmem"  # how often each view really ran

# Sessions written through to the database and read from our default cache.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_CACHE_ALIAS = "default"

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
