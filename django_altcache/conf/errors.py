"""``CacheConfigError``: a CACHES entry is wrong, and the error says where as data.

Django calls ``Backend(location, params)`` without the alias, so an error raised while a
backend is built carries the *path* of the setting at fault (``("OPTIONS", "CIRCUIT_BREAKER")``,
``("LOCATION",)``) and the LOCATION; the system checks and ``for_alias`` name the alias
without rewriting message text.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

_NO_LOCATION: Any = object()


def setting_path(path: tuple[Any, ...], alias: str | None = None) -> str:
    """``CACHES['alias']['OPTIONS']['x']`` (``CACHES[...]`` while the alias is unknown)."""
    head = f"CACHES[{alias!r}]" if alias is not None else "CACHES[...]"
    return head + "".join(f"[{key!r}]" for key in path)


class CacheConfigError(ImproperlyConfigured):
    """A CACHES entry is wrong; ``path`` is the setting at fault, ``detail`` what is wrong with it."""

    def __init__(self, detail: str, path: tuple[Any, ...] = (), *, location: Any = _NO_LOCATION,
                 alias: str | None = None) -> None:
        self.detail = detail
        self.path = tuple(path)
        self.location = location
        self.alias = alias
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.location is not _NO_LOCATION and self.location not in (None, "") and self.path[:1] != ("LOCATION",):
            where = f" (LOCATION={self.location!r})"
        if not self.path:
            return f"{setting_path((), self.alias)}{where}: {self.detail}"
        return f"{setting_path(self.path, self.alias)}{where}: {self.detail}"

    def __str__(self) -> str:
        return self.render()

    def for_alias(self, alias: str) -> CacheConfigError:
        """The same error naming ``alias`` (for checks and for errors raised at the first call)."""
        return CacheConfigError(self.detail, self.path, location=self.location, alias=alias)

    def under(self, *prefix: Any) -> CacheConfigError:
        """The same error one level deeper: a value converter's error placed under its option."""
        return CacheConfigError(self.detail, (*prefix, *self.path), location=self.location, alias=self.alias)
