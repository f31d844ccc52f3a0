"""OpenTelemetry spans (the ``[otel]`` extra: opentelemetry-api only).

No monkeypatching: the operation pipeline asks the recorder for a span around each
call when ``recorder.tracing`` is True::

    with recorder.span(op, args, kwargs) as span:   # op "get" or "aget"; args without self
        result = ...                                # the rest of the pipeline
        span.set_result(result)                     # reads: the item size (optional)
        recorder.record(op, seconds, hits, misses, error, fallback)

``record`` puts the hit/miss and the fail-soft answer on the span it runs inside.
With no tracer provider configured, opentelemetry-api hands out non-recording spans
and nothing below computes an attribute.

Attributes are the ones cache views read: Sentry's (``cache.hit``, ``cache.key``,
``cache.item_size``, ``network.peer.address``/``port``, and ``sentry.op`` =
``cache.get``/``cache.put``/``cache.remove``/``cache.flush``) and OpenTelemetry's
database conventions (``db.system.name``, ``db.operation.name``, ``server.address``,
``server.port``, ``error.type``). Keys follow ``trace_keys`` ("raw", "hash", "omit"
or a function).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .recorder import OPERATIONS, Recorder, error_name
from .settings import MetricsSettings, redact

_BASE = {**{op: (op, False) for op in OPERATIONS}, **{"a" + op: (op, True) for op in OPERATIONS}}
SENTRY_OP = {
    "get": "cache.get", "get_many": "cache.get", "has_key": "cache.get", "get_or_set": "cache.get",
    "set": "cache.put", "add": "cache.put", "set_many": "cache.put", "touch": "cache.put",
    "incr": "cache.put", "decr": "cache.put", "incr_version": "cache.put", "decr_version": "cache.put",
    "delete": "cache.remove", "delete_many": "cache.remove", "clear": "cache.flush",
}
READS = frozenset({"get", "get_many", "has_key", "get_or_set"})
MANY_KEYS = frozenset({"get_many", "delete_many"})
SYSTEMS = {"redis": "redis", "memcached": "memcached"}  # backend label -> db.system.name
NETWORK = frozenset({"redis", "memcached", "db"})

_active: contextvars.ContextVar[CacheSpan | None] = contextvars.ContextVar("django_altcache_span", default=None)


def server_of(backend: str, location: Any) -> tuple[str | None, int | None]:
    """The first server of a Redis/Memcached LOCATION, without credentials."""
    if backend not in SYSTEMS or not location:
        return None, None
    first = location[0] if isinstance(location, (list, tuple)) else str(location).replace(";", ",").split(",")[0]
    first = str(first).strip()
    if "://" in first:
        parts = urlsplit(first)
        if parts.scheme == "unix":
            return parts.path or None, None
        return parts.hostname, parts.port or (6379 if backend == "redis" else None)
    if first.startswith("unix:") or first.startswith("/"):
        return first.removeprefix("unix:"), None
    host, sep, port = first.rpartition(":")
    if sep and port.isdigit():
        return host.strip("[]"), int(port)
    return first, None


def _size(value: Any) -> int:
    # Sentry's measure (len of the value's text); the stored size depends on the codec.
    if isinstance(value, (bytes, str)):
        return len(value)
    return len(str(value))


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


class TracingRecorder(Recorder):
    tracing = True

    def __init__(self, alias: str, backend: str, settings: MetricsSettings) -> None:
        super().__init__(alias, backend, settings)
        from django_altcache import __version__

        self._tracer = trace.get_tracer("django_altcache", __version__)
        self._kind = SpanKind.CLIENT if backend in NETWORK else SpanKind.INTERNAL
        self._base: dict[str, Any] = {"django_altcache.alias": alias, "django_altcache.backend": backend}
        if backend in SYSTEMS:
            self._base["db.system.name"] = SYSTEMS[backend]
        address, port = server_of(backend, _location(alias))
        if address is not None:
            self._base["server.address"] = self._base["network.peer.address"] = address
        if port is not None:
            self._base["server.port"] = self._base["network.peer.port"] = port

    def span(self, op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CacheSpan:
        return CacheSpan(self, op, args, kwargs)

    def record(self, op: str, seconds: float, hits: int, misses: int,
               error: type[BaseException] | None, fallback: bool) -> None:
        super().record(op, seconds, hits, misses, error, fallback)
        handle = _active.get()
        if handle is not None and handle.recorder is self and handle.name == op:
            handle.annotate(hits, misses, error, fallback)

    def attributes(self, op: str, is_async: bool, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        attributes = dict(self._base)
        attributes["db.operation.name"] = op
        attributes["sentry.op"] = SENTRY_OP.get(op, "cache")
        if is_async:
            attributes["django_altcache.async"] = True
        keys = self._keys(op, args, kwargs)
        if keys:
            attributes["cache.key"] = keys
        if op in ("set", "add"):
            attributes["cache.item_size"] = _size(_arg(args, kwargs, 1, "value"))
        elif op == "set_many":
            data = _arg(args, kwargs, 0, "data") or {}
            attributes["cache.item_size"] = sum(_size(v) for v in data.values())
        return attributes

    def _keys(self, op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
        mode = self.settings.trace_keys
        if mode == "omit" or op == "clear":
            return []
        raw: Iterable[Any]
        if op in MANY_KEYS:
            raw = _arg(args, kwargs, 0, "keys") or ()
        elif op == "set_many":
            raw = _arg(args, kwargs, 0, "data") or {}
        else:
            key = _arg(args, kwargs, 0, "key")
            raw = () if key is None else (key,)
        shown = [redact(mode, str(key)) for key in raw]
        return [key for key in shown if key is not None]


def _location(alias: str) -> Any:
    from django.conf import settings

    return (getattr(settings, "CACHES", {}).get(alias) or {}).get("LOCATION")


class CacheSpan:
    """The span of one cache call; the current span while the call runs, so spans of
    the client library (redis-py's instrumentation, a database query) nest under it."""

    __slots__ = ("recorder", "name", "op", "is_async", "_span", "_recording", "_token", "_mine", "_args", "_kwargs")

    def __init__(self, recorder: TracingRecorder, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.recorder = recorder
        self.name = name
        self.op, self.is_async = _BASE.get(name, (name, False))
        self._args = args
        self._kwargs = kwargs

    def __enter__(self) -> CacheSpan:
        recorder = self.recorder
        span = recorder._tracer.start_span(f"{self.op} {recorder.alias}", kind=recorder._kind)
        self._span = span
        self._recording = span.is_recording()
        if self._recording:
            span.set_attributes(recorder.attributes(self.op, self.is_async, self._args, self._kwargs))
        self._token = otel_context.attach(trace.set_span_in_context(span))
        self._mine = _active.set(self)
        return self

    def set_result(self, value: Any) -> None:
        """The operation's return value: reads get ``cache.item_size`` from it."""
        if not self._recording or self.op not in ("get", "get_or_set", "get_many"):
            return
        if self.op == "get_many":
            if value:
                self._span.set_attribute("cache.item_size", sum(_size(v) for v in value.values()))
        elif value is not None:
            self._span.set_attribute("cache.item_size", _size(value))

    def annotate(self, hits: int, misses: int, error: type[BaseException] | None, fallback: bool) -> None:
        if not self._recording:
            return
        span = self._span
        if self.op in READS:
            span.set_attribute("cache.hit", hits > 0)  # get_many: any key found, as Sentry's
            if self.op == "get_many":
                span.set_attribute("django_altcache.hits", hits)
                span.set_attribute("django_altcache.misses", misses)
        if error is not None:
            span.set_attribute("error.type", error_name(error))
            span.set_status(Status(StatusCode.ERROR, f"{error.__name__}" + (" (answered by fail-soft)" if fallback else "")))
        if fallback:
            span.set_attribute("django_altcache.fallback", True)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        span = self._span
        try:
            if exc is not None and self._recording:
                span.record_exception(exc)
                span.set_attribute("error.type", error_name(type(exc)))
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        finally:
            _active.reset(self._mine)
            otel_context.detach(self._token)
            span.end()
