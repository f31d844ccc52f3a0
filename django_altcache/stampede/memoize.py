"""``memoize``: cache a function's results, one computation per key and expiry.

    @memoize(timeout=300)
    def price(product_id: int, currency: str = "EUR") -> Decimal: ...

    @memoize(timeout=60, cache="shared", key=lambda user: f"feed:{user.pk}")
    async def feed(user): ...

    price(3)                  # cached; concurrent callers wait for one computation
    price.invalidate(3)       # delete the entry (and its metadata and stale copy)
    price.refresh(3)          # recompute now, store, return the new value
    await feed.ainvalidate(u); await feed.arefresh(u)

The cache is looked up by alias at each call (``django.core.cache.caches[cache]``),
never at import or decoration time, so decorating needs no settings. Single flight
holds whether or not that cache has ``OPTIONS["STAMPEDE"]``: the cache's own settings
are used when it has them, ``stampede=`` (``True`` or a dict, as the option) or the
defaults otherwise, on any backend, Django's own included.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from .argkey import PREFIX, call_digest, function_name
from .engine import Stampede, runtime
from .settings import StampedeSettings, parse_stampede

KeyFunction = Callable[..., Any]


class _Memo:
    """What a memoized function's wrapper and its helpers share."""

    def __init__(self, func: Callable[..., Any], timeout: Any, alias: str, key: str | KeyFunction | None,
                 version: int | None, stampede: Any) -> None:
        self.func = func
        self.timeout = timeout
        self.alias = alias
        self.version = version
        self.name = key if isinstance(key, str) else function_name(func)
        self.key_function = key if callable(key) else None
        if key is not None and not isinstance(key, str) and not callable(key):
            raise TypeError(f"memoize(key=...) must be a string or a function, got {key!r}")
        try:
            self.signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):  # some builtins have none
            self.signature = None
        if stampede is False:
            raise ValueError("memoize(stampede=False): memoize is always single-flight; pass True, "
                             "a dict of tunables or nothing")
        try:
            self.settings = None if stampede is None else parse_stampede(stampede)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"memoize(stampede=...): {exc}") from None
        self.where = f"memoize({self.name})"

    def key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.key_function is not None:
            return self.key_function(*args, **kwargs)
        return f"{PREFIX}{self.name}:{call_digest(self.signature, args, kwargs, self.where)}"

    def cache(self) -> tuple[BaseCache, Stampede]:
        from django.core.cache import caches

        cache = caches[self.alias]
        own = getattr(cache, "_stampede", None)
        if self.settings is None and isinstance(own, Stampede):
            return cache, own
        settings = self.settings or StampedeSettings()
        cls = type(cache)
        return cache, runtime(settings, ("memoize", self.alias, cls.__module__, cls.__qualname__))


def memoize(timeout: Any = DEFAULT_TIMEOUT, cache: str = "default", key: str | KeyFunction | None = None,
            version: int | None = None, stampede: Any = None) -> Any:
    """Decorate a function or ``async def`` function; see the module docstring.

    ``timeout``: seconds, as for ``cache.set`` (the cache's default when omitted; None =
    forever). ``key``: a string replaces ``<module>.<qualname>`` in the key (survives
    renames), a function of the same arguments returns the whole key. ``version``: the
    cache key version. ``stampede``: settings when the cache has no STAMPEDE option.
    ``@memoize`` without parentheses uses the defaults.
    """
    if callable(timeout) and not isinstance(timeout, (int, float)):
        return memoize()(timeout)  # bare @memoize

    def decorate(func: Callable[..., Any]) -> Any:
        memo = _Memo(func, timeout, cache, key, version, stampede)
        if inspect.iscoroutinefunction(func):
            return _async_wrapper(memo)
        return _sync_wrapper(memo)

    return decorate


def _sync_wrapper(memo: _Memo) -> Callable[..., Any]:
    func = memo.func

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cache, stampede = memo.cache()
        return stampede.get_or_set(cache, memo.key(args, kwargs), lambda: func(*args, **kwargs),
                                   memo.timeout, memo.version)

    def refresh(*args: Any, **kwargs: Any) -> Any:
        """Recompute now (after any computation in progress), store and return the value."""
        cache, stampede = memo.cache()
        return stampede.refresh(cache, memo.key(args, kwargs), lambda: func(*args, **kwargs),
                                memo.timeout, memo.version)

    _common(wrapper, memo)
    wrapper.refresh = refresh  # type: ignore[attr-defined]
    return wrapper


def _async_wrapper(memo: _Memo) -> Callable[..., Any]:
    func = memo.func

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        cache, stampede = memo.cache()
        return await stampede.aget_or_set(cache, memo.key(args, kwargs), lambda: func(*args, **kwargs),
                                          memo.timeout, memo.version)

    async def arefresh(*args: Any, **kwargs: Any) -> Any:
        """Recompute now (after any computation in progress), store and return the value."""
        cache, stampede = memo.cache()
        return await stampede.arefresh(cache, memo.key(args, kwargs), lambda: func(*args, **kwargs),
                                       memo.timeout, memo.version)

    _common(wrapper, memo)
    wrapper.arefresh = arefresh  # type: ignore[attr-defined]
    return wrapper


def _common(wrapper: Any, memo: _Memo) -> None:
    def invalidate(*args: Any, **kwargs: Any) -> None:
        """Delete the cached result for these arguments."""
        cache, stampede = memo.cache()
        stampede.invalidate(cache, memo.key(args, kwargs), memo.version)

    async def ainvalidate(*args: Any, **kwargs: Any) -> None:
        cache, stampede = memo.cache()
        await stampede.ainvalidate(cache, memo.key(args, kwargs), memo.version)

    def key_for(*args: Any, **kwargs: Any) -> Any:
        """The cache key these arguments are stored under (before KEY_PREFIX/VERSION)."""
        return memo.key(args, kwargs)

    wrapper.invalidate = invalidate
    wrapper.ainvalidate = ainvalidate
    wrapper.key_for = key_for
    wrapper.memo = memo
