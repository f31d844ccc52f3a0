"""The single-flight protocol, written once for sync and async callers.

Each function here is a generator that *describes* the cache calls, pauses and the
computation it needs (``Call``, ``Sleep``, ``COMPUTE``) and receives their results; a
driver (``drivers.run_sync`` / ``drivers.run_async``) performs them with the cache's
public methods or their ``a*`` twins. Errors of a step are thrown back into the
generator at the point it yielded, so lock release on failure is written once too.

Only the cache's public API is used (``add`` is the lock), so every backend works, and
fail-soft answers are seen as such: a cache that misses everything and refuses every
``add`` while showing no lock is recognised as unavailable (``REFUSED``) and the caller
computes without a lock instead of waiting for nobody.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .settings import StampedeSettings

MISSING: Any = object()  # never stored: the default passed to get() to tell a miss apart

# How a call got its value (events.py passes these on).
FOUND = "found"  # another caller's computation, read from the cache
STALE = "stale"  # the stale copy, while someone else computes
COMPUTED = "computed"  # computed by this caller under the lock
TIMED_OUT = "timed_out"  # waited ``wait`` seconds, then computed without the lock
REFUSED = "refused"  # the cache refused the lock but showed none: computed without it
REFRESHED = "refreshed"  # early refresh done by this caller
SKIPPED = "skipped"  # early refresh not needed: someone else already refreshed
BUSY = "busy"  # early refresh not done: another caller holds the lock

POLL_START = 0.005  # first pause while waiting; doubles up to settings.poll
RELEASE_SAFETY = 0.5  # seconds before a lock's earliest expiry after which we check the owner


class Call(NamedTuple):
    name: str  # a public cache method; the async driver calls "a" + name
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class Sleep(NamedTuple):
    seconds: float


class _Compute:
    def __repr__(self) -> str:
        return "COMPUTE"


COMPUTE = _Compute()

Op = Call | Sleep | _Compute
Step = Generator[Op, Any, Any]


@dataclass
class Plan:
    """One get_or_set/refresh call: its keys and the backend-adjusted times."""

    key: Any
    version: Any
    timeout: Any  # as the caller passed it (DEFAULT_TIMEOUT allowed)
    seconds: float | None  # the entry's lifetime, None = forever
    settings: StampedeSettings
    lock_key: str
    meta_key: str | None  # early refresh with a finite lifetime only
    stale_key: str | None  # stale > 0 with a finite lifetime only
    lock_ttl: float
    granularity: float
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    new_meta: tuple[float, float] | None = None  # (compute seconds, logical expiry) once stored

    def add_lock(self) -> Call:
        return Call("add", (self.lock_key, self.token), {"timeout": self.lock_ttl, "version": self.version})

    def get(self, key: Any, default: Any = None) -> Call:
        return Call("get", (key, default), {"version": self.version})


def fill(plan: Plan, deadline: float, *, refresh: bool = False) -> Step:
    """Get the lock and compute, or wait for whoever holds it; returns ``(value, how)``.

    ``refresh=False`` (a miss): while waiting, a value that appears (or the stale copy)
    ends the wait. ``refresh=True`` (an explicit refresh): only the lock matters, and
    the value is always computed by this caller, after any computation in progress.
    """
    watch = [plan.lock_key] if refresh else [plan.key, plan.lock_key, *([plan.stale_key] if plan.stale_key else [])]
    pause = POLL_START
    try_lock = True
    refused = 0
    while True:
        if try_lock:
            sent = time.monotonic()
            if (yield plan.add_lock()):
                return (yield from hold(plan, sent, recheck=not refresh))
        got = yield Call("get_many", (watch,), {"version": plan.version})
        if not refresh:
            if plan.key in got:
                return got[plan.key], FOUND
            if plan.stale_key is not None and plan.stale_key in got:
                return got[plan.stale_key], STALE
        if plan.lock_key not in got:
            if try_lock:
                # add() said the lock exists, get_many() says it does not. Once is a race
                # (its holder just finished); twice running is a cache answering misses and
                # refusing writes (fail-soft during an outage): nobody will ever finish.
                refused += 1
                if refused >= 2:
                    return (yield from unlocked(plan, REFUSED, overwrite=refresh))
            try_lock = True
            continue
        refused = 0
        try_lock = False
        left = deadline - time.monotonic()
        if left <= 0:
            return (yield from unlocked(plan, TIMED_OUT, overwrite=refresh))
        yield Sleep(min(left, pause * random.uniform(0.8, 1.2)))
        pause = min(pause * 2, plan.settings.poll)


def hold(plan: Plan, sent: float, *, recheck: bool) -> Step:
    """We hold the lock (taken by an ``add`` sent at ``sent``): compute, store, release."""
    try:
        if recheck:
            # Whoever held the lock before us stored the value before releasing it; without
            # this look a caller that missed just before that would compute a second time.
            current = yield plan.get(plan.key, MISSING)
            if current is not MISSING:
                result = (current, FOUND)
            else:
                result = yield from compute_and_store(plan)
        else:
            result = yield from compute_and_store(plan)
    except GeneratorExit:
        raise  # the driver is gone: nothing can be sent any more; the lock will expire
    except BaseException:
        yield from release(plan, sent)
        raise
    yield from release(plan, sent)
    return result


def compute_and_store(plan: Plan) -> Step:
    started = time.monotonic()
    value = yield COMPUTE
    spent = time.monotonic() - started
    yield from store(plan, value, spent)
    return value, COMPUTED


def store(plan: Plan, value: Any, spent: float) -> Step:
    """Write the value in Django's format, with its metadata and stale copy beside it."""
    if plan.meta_key is not None and plan.seconds is not None and plan.seconds > plan.granularity:
        # The logical expiry: the earliest the backend may drop the entry.
        expiry = time.time() + plan.seconds - plan.granularity
        plan.new_meta = (spent, expiry)
        # One round trip for both: on every backend set_many is one command or statement.
        # A list, not a tuple: every serializer stores it as it is (JSON has no tuples).
        yield Call("set_many", ({plan.key: value, plan.meta_key: list(plan.new_meta)},),
                   {"timeout": plan.timeout, "version": plan.version})
    else:
        yield Call("set", (plan.key, value), {"timeout": plan.timeout, "version": plan.version})
    if plan.stale_key is not None and plan.seconds is not None and plan.seconds > 0:
        yield Call("set", (plan.stale_key, value),
                   {"timeout": plan.seconds + plan.settings.stale, "version": plan.version})


def unlocked(plan: Plan, how: str, *, overwrite: bool) -> Step:
    """Compute without the lock (cache unavailable, or waited long enough).

    Stored with ``add`` then read back, as Django's ``get_or_set`` does, so a value
    stored meanwhile by the lock holder wins and every caller returns the same one.
    An explicit refresh overwrites instead.
    """
    started = time.monotonic()
    value = yield COMPUTE
    if overwrite:
        yield from store(plan, value, time.monotonic() - started)
        return value, how
    if not (yield Call("add", (plan.key, value), {"timeout": plan.timeout, "version": plan.version})):
        value = yield plan.get(plan.key, value)
    return value, how


def release(plan: Plan, sent: float) -> Step:
    """Delete the lock if it is still ours; errors here never hide the caller's result."""
    try:
        # Written at ``sent`` or later with ``lock_ttl``: it cannot have expired (and been
        # taken by someone else) before ``sent + lock_ttl - granularity``.
        if time.monotonic() - sent < plan.lock_ttl - plan.granularity - RELEASE_SAFETY:
            yield Call("delete", (plan.lock_key,), {"version": plan.version})
        else:
            # Our computation outlived the lock: delete only our own token. A get and a
            # delete are not atomic; the window is one round trip at the very end of a
            # lock that already expired (docs/stampede.md, "Bounds").
            owner = yield plan.get(plan.lock_key)
            if owner == plan.token:
                yield Call("delete", (plan.lock_key,), {"version": plan.version})
    except Exception:  # noqa: BLE001 - the lock expires by itself within lock_ttl
        pass


def early(plan: Plan, expected_expiry: float) -> Step:
    """XFetch fired: refresh under the lock unless someone already did; ``(value, how)``.

    The metadata is read again under the lock: a caller that drew its early refresh
    from metadata another caller has since renewed must not compute a second time.
    """
    # A look first: in a process whose knowledge is older than another process's
    # refresh, one read settles it, without taking and releasing the lock.
    meta = yield plan.get(plan.meta_key)
    if not _same(meta, expected_expiry):
        return meta, SKIPPED
    sent = time.monotonic()
    if not (yield plan.add_lock()):
        return None, BUSY
    try:
        meta = yield plan.get(plan.meta_key)
        if not _same(meta, expected_expiry):
            result: tuple[Any, str] = (meta, SKIPPED)
        else:
            result = yield from compute_and_store(plan)
            result = (result[0], REFRESHED)
    except GeneratorExit:
        raise
    except BaseException:
        yield from release(plan, sent)
        raise
    yield from release(plan, sent)
    return result


def valid_meta(meta: Any) -> bool:
    """Two numbers, as a list (what ``store`` writes) or a tuple (written by an earlier release)."""
    return (type(meta) in (tuple, list) and len(meta) == 2
            and all(type(part) in (float, int) for part in meta))


def _same(meta: Any, expected_expiry: float) -> bool:
    return valid_meta(meta) and meta[1] == expected_expiry
