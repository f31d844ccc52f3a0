"""Django's own ``tests/cache`` run against django-altcache's backends.

``python -m tests.conformance --summary PATH`` fetches the Django sdist matching the
installed Django (never committed here), rewrites its backend paths to ours, runs it
with the real servers runtests.py started, and compares the outcome with the allowed
failures listed in docs/compat.md. Modules: ``fetch`` (sdist -> pristine tests dir),
``rewrite`` (the path table), ``groups`` (which test classes belong to which backend),
``settings`` (the settings module and run plan), ``recorder`` (copied next to Django's
runtests.py: records every outcome as JSON), ``results`` (compare and report).
"""
