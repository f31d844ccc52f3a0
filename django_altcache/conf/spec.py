"""Options declared once: ``Option`` and ``Spec``.

Each option a backend reads is declared once, as an ``Option`` (name, value rule, default,
one line of doc, whether Django's own backend takes it too). A backend's ``Spec`` is its
list of options plus what it does with names it does not declare (hand them to the client
library, or ignore them, as Django's backends do) and the rules between options. The same
declaration serves three readers:

- the backend: ``SPEC.parse(params)`` returns a frozen ``Parsed`` (values by option, plus the
  undeclared names for the client library), or raises ``CacheConfigError`` with the path;
- the system checks: ``SPEC.check(params, backend)`` returns ``Finding``s;
- the docs: docs/options.md is generated from the declarations (``conf/docs.py``).
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Generic, TypeVar

from .errors import CacheConfigError
from .families import LIBRARY, Backend
from .findings import ERROR, NO_EFFECT, OPTIONS_TYPE, UNBOUNDED, UNKNOWN, VALUE, WARNING, Finding, unknown_finding
from .values import Rule

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
D = TypeVar("D")
# A rule between options, or between options and the rest of the entry: (OPTIONS, params, backend) -> findings.
Relation = Callable[[Mapping[str, Any], Mapping[str, Any], Backend], list[Finding]]
# What to say about names a spec does not declare: (undeclared OPTIONS, params, backend, declared names).
Undeclared = Callable[[Mapping[str, Any], Mapping[str, Any], Backend, Iterable[str]], list[Finding]]

_MEMO_SIZE = 64
_SPECS: weakref.WeakSet[Spec] = weakref.WeakSet()


@dataclass(frozen=True, eq=False)
class Option(Generic[T_co]):
    """One option: its name in OPTIONS, the rule converting its value, its default, its doc.

    ``django``: Django's own backend of the family takes it too, with the same meaning (so the
    checks accept it under Django's BACKEND path). ``keys``: for a dict value, the keys it
    accepts (others are reported by name). ``bound``: a time bound that ``None`` turns off
    (a warning: a stalled server would block requests). ``network``: only has an effect where
    there is a server to lose (a warning on locmem, filebased and dummy).
    """

    name: str
    convert: Callable[[Any], T_co]
    default: T_co
    doc: str
    django: bool = False
    keys: tuple[str, ...] = ()
    bound: bool = False
    network: bool = False
    group: str = ""  # the docs' section

    def __post_init__(self) -> None:
        if not self.keys:  # a settings_of() rule knows the keys of its dict
            object.__setattr__(self, "keys", tuple(getattr(self.convert, "keys", ())))

    def parse(self, value: Any) -> T_co:
        try:
            return self.convert(value)
        except CacheConfigError as exc:
            raise exc.under("OPTIONS", self.name) from None
        except (TypeError, ValueError) as exc:
            raise CacheConfigError(str(exc), ("OPTIONS", self.name)) from None


class Parsed:
    """The options of one CACHES entry: ``parsed[OPTION]`` (typed), ``given``, ``rest``."""

    __slots__ = ("_values", "given", "rest", "_derived", "plans")

    def __init__(self, values: dict[Option[Any], Any], given: frozenset[str], rest: dict[str, Any]) -> None:
        self._values = values
        self.given = given  # names present in OPTIONS
        self.rest = rest  # undeclared names, for the client library (a copy: never the user's dict)
        self._derived: dict[Callable[[Parsed], Any], Any] = {}
        # What backends make of these options once, not per instance (Django builds one per
        # thread and per ASGI task): the class to build (keyed by the backend class), and what
        # a backend derives from the options with its LOCATION (see ``plan``).
        self.plans: dict[Any, Any] = {}

    def derive(self, make: Callable[[Parsed], D]) -> D:
        """``make(self)``, made once per parse (parses are shared by every instance of an entry)."""
        try:
            return self._derived[make]  # type: ignore[no-any-return]
        except KeyError:
            value = self._derived[make] = make(self)
            return value

    def plan(self, key: Any, make: Callable[[], D]) -> D:
        """``make()``, made once per parse and ``key`` (bounded: a test suite builds caches for
        many LOCATIONs from one OPTIONS dict; a site has one per alias)."""
        plans = self.plans
        try:
            return plans[key]  # type: ignore[no-any-return]
        except KeyError:
            if len(plans) >= _MEMO_SIZE:
                plans.clear()
            value = plans[key] = make()
            return value

    def __getitem__(self, option: Option[T]) -> T:
        return self._values[option]  # type: ignore[no-any-return]

    def __contains__(self, option: Option[Any]) -> bool:
        return option.name in self.given


class Spec:
    """The options of one backend family."""

    def __init__(self, family: str, options: Iterable[Option[Any]], *, passthrough: bool = False,
                 undeclared: Undeclared | None = None, relations: Iterable[Relation] = (),
                 serverless: bool = False) -> None:
        self.family = family
        self.options: dict[str, Option[Any]] = {}
        for option in options:
            if option.name in self.options:
                raise AssertionError(f"{family}: option {option.name!r} declared twice")
            self.options[option.name] = option
        # True: undeclared names go to the client library (redis-py, pymemcache, pylibmc), as
        # Django's backends pass OPTIONS on; False: they are ignored, as Django's other backends do.
        self.passthrough = passthrough
        self.undeclared = undeclared
        self.relations = tuple(relations)
        self.serverless = serverless  # locmem, filebased, dummy: no server to lose
        self._memo: dict[int, tuple[Any, Any, Parsed]] = {}
        self._memo_lock = threading.Lock()
        self._no_options: dict[str, Any] = {}  # an entry without OPTIONS: one dict, so one memo entry
        _SPECS.add(self)

    def extend(self, *options: Option[Any], **changes: Any) -> Spec:
        kwargs = {"passthrough": self.passthrough, "undeclared": self.undeclared,
                  "relations": self.relations, "serverless": self.serverless, **changes}
        family = kwargs.pop("family", self.family)
        return Spec(family, [*self.options.values(), *options], **kwargs)

    # -- the backend's side ------------------------------------------------------------------
    @staticmethod
    def forget_all() -> None:
        """Drop every memoized parse: what was made from them (``Parsed.derive``, the variant
        class) may depend on a global setting that just changed (django-redis's globals)."""
        for spec in list(_SPECS):
            with spec._memo_lock:
                spec._memo.clear()

    def parse(self, raw: Any) -> Parsed:
        """The options of one entry, converted; raises ``CacheConfigError`` naming the option.

        Memoized by the identity of the OPTIONS dict (Django copies ``params`` per instance, but
        not the OPTIONS inside): under ASGI a backend instance is built per task, and parsing
        again each time would cost more than the cache call.
        """
        if raw is None:
            raw = self._no_options
        if not isinstance(raw, Mapping):
            raise CacheConfigError(f"must be a dict, not {type(raw).__name__}", ("OPTIONS",))
        memo = self._memo.get(id(raw))
        if memo is not None and memo[0] is raw and memo[1] == raw:
            return memo[2]
        parsed = self._parse(raw)
        try:
            snapshot = copy.deepcopy(dict(raw))  # a later change made in place is seen as a change
        except Exception:  # noqa: BLE001 - an option value that cannot be copied: do not memoize
            return parsed
        with self._memo_lock:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[id(raw)] = (raw, snapshot, parsed)
        return parsed

    def _parse(self, raw: Mapping[str, Any]) -> Parsed:
        values: dict[Option[Any], Any] = {}
        for name, option in self.options.items():
            values[option] = option.parse(raw[name]) if name in raw else option.default
        rest = {key: value for key, value in raw.items() if key not in self.options}
        return Parsed(values, frozenset(key for key in raw if key in self.options), rest)

    # -- the system checks' side -------------------------------------------------------------
    def check(self, params: Mapping[str, Any], backend: Backend) -> list[Finding]:
        """Every problem with the OPTIONS of one entry, without touching the network."""
        raw = params.get("OPTIONS")
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            return [Finding(ERROR, OPTIONS_TYPE, (), f"must be a dict, not {type(raw).__name__}")]
        findings: list[Finding] = []
        declared: list[str] = []
        rest: dict[str, Any] = {}
        for key, value in raw.items():
            option = self.options.get(key)
            if option is None:
                rest[key] = value
            elif backend.ours or option.django:
                declared.append(key)
                findings += check_option(option, value)
                if self.serverless and option.network and backend.ours:
                    findings.append(Finding(WARNING, NO_EFFECT, (key,),
                                            f"has no effect on the {backend.family} backend (no server to lose)"))
            else:
                findings.append(not_djangos(option, backend))
        if self.undeclared is not None:
            findings += self.undeclared(rest, params, backend, self.candidates(backend))
        else:
            findings += ignored_names(rest, backend, self.candidates(backend))
        for relation in self.relations:
            findings += relation(raw, params, backend)
        return findings

    def candidates(self, backend: Backend) -> list[str]:
        """Declared names a misspelling may have meant (only those this backend takes)."""
        return [name for name, option in self.options.items() if backend.ours or option.django]


def check_option(option: Option[Any], value: Any) -> list[Finding]:
    """Unknown keys of a dict value, then the value itself (without those keys)."""
    findings: list[Finding] = []
    if option.keys and isinstance(value, Mapping):
        for key in value:
            if key not in option.keys:
                findings.append(unknown_finding((option.name, key), option.keys, ERROR,
                                                "The cache refuses to start with it."))
        value = {key: item for key, item in value.items() if key in option.keys}
    try:
        option.parse(value)
    except CacheConfigError as exc:
        findings.append(Finding(ERROR, VALUE, exc.path[1:], exc.detail))
    if option.bound and value is None:
        findings.append(Finding(WARNING, UNBOUNDED, (option.name,),
                                "None turns the bound off: a stalled server would block requests indefinitely",
                                "Remove it to use the finite default, or set a number of seconds."))
    return findings


def not_djangos(option: Option[Any], backend: Backend) -> Finding:
    """One of our options under Django's own BACKEND path."""
    from .families import FAMILIES

    library = LIBRARY.get(backend.family)
    if library:
        level = ERROR if backend.exact else WARNING
        consequence = f"Django's backend passes OPTIONS to {library}, which rejects it: TypeError at the first cache call"
    else:
        level, consequence = WARNING, "Django's backend ignores it"
    ours = next(path for family, path, _ in FAMILIES if family == backend.family)
    django_class = backend.path.rsplit(".", 1)[-1]
    return Finding(level, UNKNOWN, (option.name,), f"a django-altcache option, not one of Django's {django_class}",
                   f"{consequence}. Use BACKEND {ours!r}.")


def ignored_names(rest: Mapping[str, Any], backend: Backend, candidates: Iterable[str]) -> list[Finding]:
    """Names a backend that reads its OPTIONS itself (db, locmem, filebased, dummy) ignores."""
    consequence = "It is ignored."
    return [unknown_finding((key,), candidates, WARNING, consequence) for key in rest]


# -- dict-valued options --------------------------------------------------------------------


def settings_of(cls: type[D], rules: Mapping[str, Rule], *, true: Callable[[], D | None] | None = None,
                false: Callable[[], D | None] | None = None) -> Callable[[Any], D | None]:
    """A rule for an option that is ``True``, ``False`` or a dict of tunables, into a dataclass.

    Each key of the dict is converted by its rule; an unknown key or a bad value raises
    ``CacheConfigError`` with the key's path, so the error names ``OPTIONS['X']['key']``.
    ``True`` gives the defaults (or ``true()``), ``False``/``None`` gives ``None`` (or ``false()``).
    """
    assert is_dataclass(cls)
    known = tuple(field.name for field in fields(cls))
    missing = set(rules) - set(known)
    assert not missing, f"rules for unknown fields {missing}"

    def convert(value: Any) -> D | None:
        if value is True:
            return true() if true is not None else cls()
        if value is False or value is None:
            return false() if false is not None else None
        if not isinstance(value, Mapping):
            raise TypeError(f"expected True, False or a dict with keys {', '.join(map(repr, known))}, got {value!r}")
        unknown = [key for key in value if key not in known]
        if unknown:
            raise CacheConfigError(f"unknown key; expected one of {', '.join(map(repr, known))}", (unknown[0],))
        converted: dict[str, Any] = {}
        for key, item in value.items():
            rule = rules.get(key)
            try:
                converted[key] = rule(item) if rule is not None else item
            except (TypeError, ValueError) as exc:
                raise CacheConfigError(str(exc), (key,)) from None
        return cls(**converted)

    convert.keys = known  # type: ignore[attr-defined]  # read by Option for the checks
    return convert
