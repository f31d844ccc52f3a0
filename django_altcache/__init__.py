"""Drop-in replacements for Django's cache backends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["memoize"]

if TYPE_CHECKING:
    from .stampede.memoize import memoize


def __getattr__(name: str) -> Any:
    # Imported on first use: ``import django_altcache`` (from settings.py, or as an app
    # before the registry is ready) must not pull in Django's cache machinery.
    if name == "memoize":
        from .stampede.memoize import memoize

        return memoize
    raise AttributeError(f"module 'django_altcache' has no attribute {name!r}")
