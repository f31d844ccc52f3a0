"""System checks, registered by AltCacheConfig.ready().

Two layers, neither touching the network:

- every CACHES entry whose backend is ours or Django's own gets its OPTIONS judged by the
  same declared ``Spec`` our backend parses them with (``django_altcache.conf``): unknown names
  with the likely intended one, wrong types and values, contradicting options. An error id is
  only for settings that certainly fail at run time; Django's own documented settings pass;
- each of our caches is built (a failure is ``E001``, unless the same setting was already
  reported) and asked for its own backend-specific checks (``check_backend(alias)``, optional).

Ids:
    E001  the cache cannot be created (its error names the setting)
    E300  OPTIONS is not a dict
    E301  unknown option the client library rejects (TypeError at the first cache call)
    W301  unknown option that is ignored
    E302  wrong type or value
    W302  valid option with no effect on this backend
    E303  options that contradict each other or the LOCATION
    W303  option with no effect given the other options or the LOCATION
    W304  a timeout turned off (a stalled server would block requests)
    W300  the OPTIONS could not be validated (a bug here; the check itself never raises)
    W401  a cache writes django-altcache's tagged values (codecs) where an entry with Django's own
          backend reads: Django's backend cannot decode them
Backend-specific: W010 (filebased).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core import checks
from django.core.cache import caches

from .conf import CacheConfigError, Spec
from .conf.errors import setting_path
from .conf.families import Backend, identify
from .conf.findings import CONFLICT, ERROR, NO_EFFECT, OPTIONS_TYPE, UNBOUNDED, UNKNOWN, VALUE, WARNING, Finding

IDS: dict[tuple[str, str], str] = {
    (ERROR, OPTIONS_TYPE): "django_altcache.E300",
    (ERROR, UNKNOWN): "django_altcache.E301",
    (WARNING, UNKNOWN): "django_altcache.W301",
    (ERROR, VALUE): "django_altcache.E302",
    (WARNING, NO_EFFECT): "django_altcache.W302",
    (ERROR, CONFLICT): "django_altcache.E303",
    (WARNING, CONFLICT): "django_altcache.W303",
    (WARNING, UNBOUNDED): "django_altcache.W304",
}


def spec_for(backend: Backend) -> Spec:
    """The declared options of a backend family (ours and Django's share them)."""
    family = backend.family
    if family == "redis":
        from .backends.redis.options import SPEC
        return SPEC
    if family in ("pymemcache", "pylibmc"):
        from .backends.memcached.options import PYLIBMC_SPEC, PYMEMCACHE_SPEC
        return PYMEMCACHE_SPEC if family == "pymemcache" else PYLIBMC_SPEC
    if family == "db":
        from .backends.db.options import SPEC as DB_SPEC
        return DB_SPEC
    from .conf import common
    return {"locmem": common.LOCMEM, "filebased": common.FILEBASED, "dummy": common.DUMMY}[family]


def to_message(alias: str, finding: Finding) -> checks.CheckMessage:
    cls = checks.Error if finding.level == ERROR else checks.Warning
    return cls(f"{setting_path(finding.setting, alias)}: {finding.message}", hint=finding.hint,
               obj=f"CACHES[{alias!r}]", id=IDS[(finding.level, finding.kind)])


def check_options(alias: str, params: Any) -> tuple[list[checks.CheckMessage], set[tuple[Any, ...]]]:
    """Messages for one entry's OPTIONS, and the settings (paths) already reported as errors,
    so the same mistake, met again when the cache is built, is not reported twice."""
    if not isinstance(params, Mapping):
        return [], set()
    backend = identify(str(params.get("BACKEND", "")))
    if backend is None:
        return [], set()
    try:
        findings = spec_for(backend).check(params, backend)
    except Exception as exc:  # noqa: BLE001 - a check must never crash `manage.py check`
        return [checks.Warning(f"CACHES[{alias!r}]['OPTIONS'] could not be validated: {type(exc).__name__}: {exc}",
                               obj=f"CACHES[{alias!r}]", id="django_altcache.W300")], set()
    reported = {finding.setting[:2] for finding in findings if finding.level == ERROR}
    return [to_message(alias, finding) for finding in findings], reported


def _already_reported(exc: BaseException, reported: set[tuple[Any, ...]]) -> bool:
    return isinstance(exc, CacheConfigError) and exc.path[:2] in reported


@checks.register(checks.Tags.caches)
def check_altcache_caches(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from django.conf import settings

    messages: list[checks.CheckMessage] = []
    for alias, params in settings.CACHES.items():
        option_messages, reported = check_options(alias, params)
        messages.extend(option_messages)
        backend = str(params.get("BACKEND", "")) if isinstance(params, Mapping) else ""
        if not backend.startswith("django_altcache."):
            continue
        try:
            cache = caches[alias]
        except Exception as exc:  # noqa: BLE001 - any construction error, never a crash of the check
            if not _already_reported(exc, reported):
                text = str(exc.for_alias(alias) if isinstance(exc, CacheConfigError) else exc)
                messages.append(checks.Error(text, obj=f"CACHES[{alias!r}]", id="django_altcache.E001"))
            continue
        check = getattr(cache, "check_backend", None)
        if check is None:
            continue
        try:
            messages.extend(check(alias))
        except Exception as exc:  # noqa: BLE001 - as above
            messages.append(checks.Error(f"CACHES[{alias!r}]: its backend check failed: {type(exc).__name__}: {exc}",
                                         obj=f"CACHES[{alias!r}]", id="django_altcache.E001"))
    messages.extend(check_tagged_values_shared(settings.CACHES))
    return messages


def _writes_tagged(params: Mapping[str, Any]) -> bool:
    from .codecs.declared import COMPRESSOR, NAMES, SERIALIZER, SIGN_VALUES, WRITE_FORMAT

    options = params.get("OPTIONS")
    if not isinstance(options, Mapping) or not NAMES & set(options) or options.get(WRITE_FORMAT.name) == "django":
        return False
    return (options.get(SERIALIZER.name, "pickle") not in ("pickle", "django_redis.serializers.pickle.PickleSerializer")
            or options.get(COMPRESSOR.name) not in (None, "django_redis.compressors.identity.IdentityCompressor")
            or options.get(SIGN_VALUES.name) not in (None, False))


def _where(params: Mapping[str, Any]) -> tuple[Any, ...]:
    location = params.get("LOCATION", "")
    return (repr(location), params.get("KEY_PREFIX", ""))


def check_tagged_values_shared(entries: Mapping[str, Any]) -> list[checks.CheckMessage]:
    """W401: one of our caches writes tagged values (docs/codecs.md) where an entry with Django's
    own backend of the same kind, same LOCATION and KEY_PREFIX, reads them: Django's backend
    cannot decode them (its get raises, or misses on pymemcache)."""
    found: list[checks.CheckMessage] = []
    identified = {alias: identify(str(params.get("BACKEND", ""))) for alias, params in entries.items()
                  if isinstance(params, Mapping)}
    for alias, backend in identified.items():
        params = entries[alias]
        if backend is None or not backend.ours or not _writes_tagged(params):
            continue
        readers = [other for other, theirs in identified.items()
                   if theirs is not None and not theirs.ours and theirs.family == backend.family
                   and _where(entries[other]) == _where(params)]
        if readers:
            names = ", ".join(f"CACHES[{other!r}]" for other in readers)
            found.append(checks.Warning(
                f"CACHES[{alias!r}]: values are written in django-altcache's tagged format (SERIALIZER, COMPRESSOR "
                f"or SIGN_VALUES), which {names}, Django's own backend on the same location, cannot read",
                hint="Use django-altcache's backend for those entries too, or set WRITE_FORMAT='django' here; "
                     "see docs/codecs.md, 'Turning it off again'.",
                obj=f"CACHES[{alias!r}]", id="django_altcache.W401"))
    return found
