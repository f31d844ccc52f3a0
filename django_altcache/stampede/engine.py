"""``Stampede``: single-flight get_or_set, early refresh, refresh and invalidate for one cache.

One instance per cache (scope) and settings per process, shared by every thread's and
task's instance of that cache (Django builds one backend instance per thread), so the
in-process coalescing and the early-refresh knowledge are shared too.

The hit path is one cache read: ``get`` (early refresh off), or ``get`` plus a dict
lookup and a float comparison (on; knowledge.py).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from . import flights
from .drivers import run_async, run_sync
from .events import emit
from .keys import LOCK, META, STALE, derived, granularity, lock_ttl, seconds_of
from .knowledge import Known, Knowledge
from .protocol import (
    BUSY,
    MISSING,
    REFRESHED,
    SKIPPED,
    STALE as HOW_STALE,
    TIMED_OUT,
    Plan,
    early,
    fill,
    unlocked,
)
from .settings import StampedeSettings

logger = logging.getLogger("django_altcache")

FOLLOWED = "followed"
_RETRY: Any = object()


class Stampede:
    def __init__(self, settings: StampedeSettings, scope: Hashable) -> None:
        self.settings = settings
        self.scope = scope
        self.threads = flights.ThreadFlights()
        self.tasks = flights.TaskFlights()
        flights.register(self.threads)
        flights.register(self.tasks)
        self.knowledge = Knowledge(settings.beta)

    def __repr__(self) -> str:
        return f"Stampede({self.settings!r})"

    # -- shared helpers ---------------------------------------------------------------

    def plan(self, cache: BaseCache, key: Any, timeout: Any, version: Any) -> Plan:
        settings = self.settings
        seconds = seconds_of(cache, timeout)
        early_by = granularity(cache)
        finite = seconds is not None and seconds > 0
        # Early refresh needs a logical lifetime: on memcached a 1 s entry has none to spare.
        refreshable = settings.early_refresh and seconds is not None and seconds > early_by
        return Plan(
            key=key, version=version, timeout=timeout, seconds=seconds, settings=settings,
            lock_key=derived(cache, LOCK, key, version),
            meta_key=derived(cache, META, key, version) if refreshable else None,
            stale_key=derived(cache, STALE, key, version) if settings.stale > 0 and finite else None,
            lock_ttl=lock_ttl(cache, settings.lock_timeout),
            granularity=early_by,
        )

    # -- sync -------------------------------------------------------------------------

    def get_or_set(self, cache: BaseCache, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT,
                   version: Any = None) -> Any:
        if self.settings.early_refresh:
            return self._get_or_set_early(cache, key, default, timeout, version)
        value = cache.get(key, MISSING, version=version)
        if value is not MISSING:
            return value
        return self._miss(cache, key, default, timeout, version)

    def _get_or_set_early(self, cache: BaseCache, key: Any, default: Any, timeout: Any, version: Any) -> Any:
        slot = (key, version)
        known = self.knowledge.get(slot)
        now = time.time()
        if known is None or now >= known.recheck_at:
            meta_key = derived(cache, META, key, version)
            got = cache.get_many([key, meta_key], version=version)
            value = got.get(key, MISSING)
            if value is MISSING:
                return self._miss(cache, key, default, timeout, version)
            known = self.knowledge.learn(slot, got.get(meta_key), now)
        else:
            value = cache.get(key, MISSING, version=version)
            if value is MISSING:
                return self._miss(cache, key, default, timeout, version)
        if now >= known.draw_from and self.knowledge.draw(known, now) and callable(default):
            return self._refresh_early(cache, key, default, timeout, version, known, value)
        return value

    def _refresh_early(self, cache: BaseCache, key: Any, default: Callable[[], Any], timeout: Any,
                       version: Any, known: Known, value: Any) -> Any:
        plan = self.plan(cache, key, timeout, version)
        if plan.meta_key is None or known.expiry is None:
            return value  # this call asks for no expiry: nothing to refresh early
        try:
            result, how = run_sync(early(plan, known.expiry), cache, default)
        except Exception:  # noqa: BLE001 - the current value is still valid: serve it
            return self._refresh_failed(key, known, value)
        return self._refreshed(key, version, known, value, plan, result, how)

    def _refresh_failed(self, key: Any, known: Known, value: Any) -> Any:
        logger.warning("early refresh of cache key %r failed; serving the current value until it "
                       "expires", key, exc_info=True)
        known.pause(time.time() + max(self.settings.poll, known.spent))
        emit("refresh_failed", key)
        return value

    def _refreshed(self, key: Any, version: Any, known: Known, value: Any, plan: Plan,
                   result: Any, how: str) -> Any:
        emit(how, key)
        if how == REFRESHED:
            self.knowledge.learned((key, version), plan.new_meta)
            return result
        if how == SKIPPED:
            self.knowledge.learn((key, version), result, time.time())
        elif how == BUSY:  # someone is refreshing: no more draws for a moment
            known.pause(time.time() + self.settings.poll)
        return value

    def _miss(self, cache: BaseCache, key: Any, default: Any, timeout: Any, version: Any) -> Any:
        if not callable(default):
            # Nothing to compute, nothing to protect: Django's own steps.
            cache.add(key, default, timeout=timeout, version=version)
            return cache.get(key, default, version=version)
        emit("miss", key)
        deadline = time.monotonic() + self.settings.wait_seconds
        slot = (key, version)
        while True:
            flight, leader = self.threads.join(slot)
            if leader:
                ok, value, plan = False, None, None
                try:
                    plan = self.plan(cache, key, timeout, version)
                    value, how = run_sync(fill(plan, deadline), cache, default)
                    ok = True
                finally:
                    self.threads.land(slot, flight, ok, value)
                self.knowledge.learned(slot, plan.new_meta if plan is not None else None)
                emit(how, key)
                return value
            answer = self._follow(cache, flight, key, default, timeout, version, deadline)
            if answer is not _RETRY:
                return answer

    def _follow(self, cache: BaseCache, flight: flights.Flight, key: Any, default: Callable[[], Any],
                timeout: Any, version: Any, deadline: float) -> Any:
        if self.settings.stale > 0:
            stale = cache.get(derived(cache, STALE, key, version), MISSING, version=version)
            if stale is not MISSING:
                emit(HOW_STALE, key)
                return stale
        left = deadline - time.monotonic()
        if left > 0 and flight.event.wait(left):
            if not flight.ok:
                return _RETRY  # the leader's own call raised: the next computation decides
            value = cache.get(key, MISSING, version=version)
            emit(FOLLOWED, key)
            return flight.value if value is MISSING else value
        plan = self.plan(cache, key, timeout, version)
        value, how = run_sync(unlocked(plan, TIMED_OUT, overwrite=False), cache, default)
        emit(how, key)
        return value

    def refresh(self, cache: BaseCache, key: Any, compute: Callable[[], Any], timeout: Any = DEFAULT_TIMEOUT,
                version: Any = None) -> Any:
        """Compute now and overwrite, after any computation already running (lock-protected)."""
        plan = self.plan(cache, key, timeout, version)
        deadline = time.monotonic() + self.settings.wait_seconds
        value, how = run_sync(fill(plan, deadline, refresh=True), cache, compute)
        self.knowledge.learned((key, version), plan.new_meta)
        emit(how, key)
        return value

    def invalidate(self, cache: BaseCache, key: Any, version: Any = None) -> None:
        """Delete the entry and what is kept beside it (metadata, stale copy)."""
        self.knowledge.forget((key, version))
        cache.delete_many([key, derived(cache, META, key, version), derived(cache, STALE, key, version)],
                          version=version)

    # -- async (the same steps; the drivers differ) -----------------------------------

    async def aget_or_set(self, cache: BaseCache, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT,
                          version: Any = None) -> Any:
        if self.settings.early_refresh:
            return await self._aget_or_set_early(cache, key, default, timeout, version)
        value = await cache.aget(key, MISSING, version=version)
        if value is not MISSING:
            return value
        return await self._amiss(cache, key, default, timeout, version)

    async def _aget_or_set_early(self, cache: BaseCache, key: Any, default: Any, timeout: Any,
                                 version: Any) -> Any:
        slot = (key, version)
        known = self.knowledge.get(slot)
        now = time.time()
        if known is None or now >= known.recheck_at:
            meta_key = derived(cache, META, key, version)
            got = await cache.aget_many([key, meta_key], version=version)
            value = got.get(key, MISSING)
            if value is MISSING:
                return await self._amiss(cache, key, default, timeout, version)
            known = self.knowledge.learn(slot, got.get(meta_key), now)
        else:
            value = await cache.aget(key, MISSING, version=version)
            if value is MISSING:
                return await self._amiss(cache, key, default, timeout, version)
        if now >= known.draw_from and self.knowledge.draw(known, now) and callable(default):
            plan = self.plan(cache, key, timeout, version)
            if plan.meta_key is None or known.expiry is None:
                return value
            try:
                result, how = await run_async(early(plan, known.expiry), cache, default)
            except Exception:  # noqa: BLE001 - the current value is still valid: serve it
                return self._refresh_failed(key, known, value)
            return self._refreshed(key, version, known, value, plan, result, how)
        return value

    async def _amiss(self, cache: BaseCache, key: Any, default: Any, timeout: Any, version: Any) -> Any:
        if not callable(default):
            await cache.aadd(key, default, timeout=timeout, version=version)
            return await cache.aget(key, default, version=version)
        emit("miss", key)
        deadline = time.monotonic() + self.settings.wait_seconds
        slot = (key, version)
        while True:
            flight, leader = self.tasks.join(slot)
            if leader:
                ok, value, plan = False, None, None
                try:
                    plan = self.plan(cache, key, timeout, version)
                    value, how = await run_async(fill(plan, deadline), cache, default)
                    ok = True
                finally:
                    self.tasks.land(slot, flight, ok, value)
                self.knowledge.learned(slot, plan.new_meta if plan is not None else None)
                emit(how, key)
                return value
            answer = await self._afollow(cache, flight, key, default, timeout, version, deadline)
            if answer is not _RETRY:
                return answer

    async def _afollow(self, cache: BaseCache, flight: flights.TaskFlight, key: Any,
                       default: Callable[[], Any], timeout: Any, version: Any, deadline: float) -> Any:
        import asyncio

        if self.settings.stale > 0:
            stale = await cache.aget(derived(cache, STALE, key, version), MISSING, version=version)
            if stale is not MISSING:
                emit(HOW_STALE, key)
                return stale
        left = deadline - time.monotonic()
        if left > 0:
            try:
                # shield: a follower's timeout must not cancel the leader's future.
                ok = await asyncio.wait_for(asyncio.shield(flight.future), left)
            except asyncio.TimeoutError:
                pass
            else:
                if not ok:
                    return _RETRY
                value = await cache.aget(key, MISSING, version=version)
                emit(FOLLOWED, key)
                return flight.value if value is MISSING else value
        plan = self.plan(cache, key, timeout, version)
        value, how = await run_async(unlocked(plan, TIMED_OUT, overwrite=False), cache, default)
        emit(how, key)
        return value

    async def arefresh(self, cache: BaseCache, key: Any, compute: Callable[[], Any],
                       timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Any:
        plan = self.plan(cache, key, timeout, version)
        deadline = time.monotonic() + self.settings.wait_seconds
        value, how = await run_async(fill(plan, deadline, refresh=True), cache, compute)
        self.knowledge.learned((key, version), plan.new_meta)
        emit(how, key)
        return value

    async def ainvalidate(self, cache: BaseCache, key: Any, version: Any = None) -> None:
        self.knowledge.forget((key, version))
        await cache.adelete_many([key, derived(cache, META, key, version), derived(cache, STALE, key, version)],
                                 version=version)


# -- one Stampede per (scope, settings) and process -------------------------------------
_runtimes: dict[tuple[Hashable, StampedeSettings], Stampede] = {}
_runtimes_lock = threading.Lock()


def runtime(settings: StampedeSettings, scope: Hashable) -> Stampede:
    slot = (scope, settings)
    found = _runtimes.get(slot)
    if found is None:
        with _runtimes_lock:
            found = _runtimes.get(slot)
            if found is None:
                found = _runtimes[slot] = Stampede(settings, scope)
    return found


def _after_fork_in_child() -> None:
    global _runtimes_lock
    _runtimes_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
