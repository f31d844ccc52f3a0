"""``AltCache``: what every django-altcache backend is, on top of Django's ``BaseCache``.

Every backend subclasses Django's own class for its kind where Django keys behaviour on the
class (isinstance checks in checks, createcachetable, test-db creation), and ``AltCache``
before it, so ``make_key``/``validate_key``/``get_backend_timeout`` keep Django's meaning.

The contract, written once here:

- ``spec``: the backend's declared options (``django_altcache.conf.Spec``). ``__new__`` parses
  the entry's OPTIONS with it (memoized per OPTIONS dict) into ``self._parsed``, so a bad
  option fails when the cache is built, naming the setting; ``__init__`` reads its values.
- the guard (``_shared/guard.py``): when the options ask for fail-soft, circuit breakers or
  metrics, the instance is of the class's *guarded variant*; ``__init__`` calls
  ``_init_guard(...)`` with its library's outage errors. Otherwise nothing wraps anything.
- health: ``servers_description()`` (the servers as configured, no secrets), ``ping()`` (a
  real round trip that bypasses fail-soft and breakers, raising the library's exception),
  ``breaker_states()``.
- async twins: each backend picks one policy per operation (``_shared/twins.py``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.cache.backends.base import BaseCache

from django_altcache.conf import CacheConfigError, Parsed, Spec
from django_altcache.codecs import Codec
from django_altcache.codecs.declared import NAMES as CODEC_NAMES
from django_altcache.codecs.declared import codec_of
from django_altcache.conf.alias import guess_alias
from django_altcache.conf.metrics import METRICS
from django_altcache.conf.resilience import Resilience, resilience_of
from django_altcache.local.timed import local_variant

from ._shared.breaker import logger
from ._shared.guard import Guard, bypass, guarded_variant

__all__ = ["AltCache", "PingResult", "logger"]


@dataclass
class PingResult:
    latency: float  # seconds for set + get + delete
    servers: list[str]  # what the round trip reached, as the user configured them


class _Building(type):
    """Names the alias in a configuration error raised while a cache is built."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except CacheConfigError as exc:
            location = args[0] if args else kwargs.get("location")
            params = args[1] if len(args) > 1 else kwargs.get("params")
            alias = exc.alias or (guess_alias(location, params) if isinstance(params, dict) else None)
            raise CacheConfigError(exc.detail, exc.path, location=location, alias=alias) from None


class AltCache(BaseCache, metaclass=_Building):
    spec: ClassVar[Spec]
    # The operations *this class defines* that call no other operation of the cache, so the
    # guard need not mark them as inside one (guard.py). Read from the defining class only: a
    # subclass's override is not a leaf unless that subclass declares it. Held true by the test
    # suite (DJANGO_ALTCACHE_CHECK_LEAVES=1): a declared leaf entering another operation fails it.
    leaf_operations: ClassVar[frozenset[str]] = frozenset()
    _parsed: Parsed
    _guard: Guard | None = None

    def __new__(cls, location: Any = None, params: Any = None, *args: Any, **kwargs: Any) -> AltCache:
        options = params.get("OPTIONS") if isinstance(params, dict) else None
        parsed = cls.spec.parse(options)
        # Memoized per parse: Django builds an instance per thread and per ASGI task.
        target = parsed.plans.get(cls)
        if target is None:
            target = parsed.plan(cls, lambda: cls._variant_for(parsed))
        self = super().__new__(target)
        self._parsed = parsed
        settings = parsed[METRICS]
        if settings is not None:
            self._attach_recorder(settings, location, params)
        return self

    @classmethod
    def _variant_for(cls, parsed: Parsed) -> type:
        """The class an instance built with these options is of: ``cls``, or the local tier's
        variant (time-bounded LOCAL_CACHE), then the guard's variant around it."""
        if "_bare" in cls.__dict__:
            return cls
        target = local_variant(cls, parsed)
        return guarded_variant(target) if cls.needs_guard(parsed) else target

    # -- metrics ---------------------------------------------------------------------------
    _recorder: Any = None

    def _attach_recorder(self, settings: Any, location: Any, params: Any) -> None:
        """The alias's recorder (one per alias per process); serverless backends, which never
        call ``_init_guard``, get a guard for the metrics alone here."""
        from django_altcache.metrics import recorder_for

        cls = type(self)
        family = cls.spec.family
        label = "memcached" if family in ("pymemcache", "pylibmc") else family  # django-prometheus' labels
        alias = (guess_alias(location, params) if isinstance(params, dict) else None) or f"{family}:{location}"
        self._recorder = recorder_for(alias, label, settings)
        if cls.spec.serverless:
            self._guard = Guard(f"{family} {location}", Resilience(), errors=(), make_error=RuntimeError,
                                breakers=False, recorder=self._recorder)

    # -- the guard -------------------------------------------------------------------------
    @classmethod
    def needs_guard(cls, parsed: Parsed) -> bool:
        """Whether these options ask for anything the guard does (else: no wrapper at all)."""
        return parsed[METRICS] is not None or (not cls.spec.serverless and cls.resilience_of(parsed).active)

    @classmethod
    def resilience_of(cls, parsed: Parsed) -> Resilience:
        """The fail-soft and breaker settings of these options (a backend may add its own sources)."""
        return parsed.derive(resilience_of)

    @property
    def resilience(self) -> Resilience:
        return type(self).resilience_of(self._parsed)

    def _init_guard(self, name: str | Callable[[], str], *,
                    errors: tuple[type[BaseException], ...] | Callable[[], tuple[type[BaseException], ...]],
                    make_error: Callable[[str], BaseException],
                    is_outage: Callable[[BaseException], bool] | None = None,
                    after_outage: Callable[[BaseException, bool], None] | None = None,
                    breakers: bool = True) -> None:
        """Called at the end of ``__init__`` by backends with a server; a no-op when unguarded.

        ``name`` identifies the servers (breakers are shared by every instance with the same name).
        ``name`` and ``errors`` may be callables, called only for a guarded instance (an
        unguarded one, the default, is built per thread and per ASGI task: it pays nothing).
        """
        if "_bare" not in type(self).__dict__:
            return
        if callable(name):
            name = name()
        if callable(errors):
            errors = errors()
        self._guard = Guard(name, self.resilience, errors=errors, make_error=make_error, is_outage=is_outage,
                            after_outage=after_outage, breakers=breakers, recorder=self._recorder)

    # -- codecs ----------------------------------------------------------------------------
    def _init_codec(self, location: Any, params: Any) -> Codec | None:
        """The codec the OPTIONS ask for (SERIALIZER, COMPRESSOR, SIGN_VALUES...), or None for
        Django's bytes; signed values are salted with the cache's alias."""
        if not self._parsed.given & CODEC_NAMES:
            return None
        salt = guess_alias(location, params, first=True) or "default"
        return codec_of(self._parsed, salt, params.get("OPTIONS"))

    # -- health ------------------------------------------------------------------------------
    def servers_description(self) -> list[str]:
        """The servers this cache talks to, as configured (no secrets)."""
        return []

    def ping(self) -> PingResult:
        """A set/get/delete round trip that bypasses fail-soft; the library's exception on failure."""
        return round_trip(self, self.servers_description())

    def breaker_states(self) -> dict[str, Any]:
        """``{"reads": "closed"|"open", "writes": ...}``, empty without a breaker."""
        return self._guard.states() if self._guard is not None else {}


def round_trip(cache: BaseCache, servers: list[str]) -> PingResult:
    """set/get/delete of a fresh probe key, unguarded.

    Raises the library's exception when the server cannot be reached, and ``RuntimeError``
    when it answers wrongly (a read that does not return what was written).
    """
    key = f"altcache-ping:{uuid.uuid4().hex}"
    value = uuid.uuid4().hex
    started = time.perf_counter()
    with bypass(cache):
        cache.set(key, value, 30)
        read = cache.get(key)
        cache.delete(key)
    latency = time.perf_counter() - started
    if read != value:
        raise RuntimeError(f"probe key written but read back as {read!r}")
    return PingResult(latency, servers)
