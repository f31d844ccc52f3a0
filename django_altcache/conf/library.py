"""The keywords a client library accepts, read from its signatures, and the check of the options handed to it.

Reading signatures (``inspect``) rather than listing names by hand means a library upgrade that adds or
drops a keyword needs no change here.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string

from .errors import CacheConfigError
from .families import Backend, unknown_level
from .findings import CONFLICT, ERROR, VALUE, Finding, unknown_finding
from .values import Rule

CULLING_NAMES = ("MAX_ENTRIES", "CULL_FREQUENCY")  # reported by common.culling_elsewhere


@dataclass
class Accepted:
    """Keyword names a library call accepts, with their signature parameter when known."""

    names: dict[str, inspect.Parameter | None]
    closed: bool  # True: any other keyword raises TypeError; False: others are dropped silently
    library: str
    complete: bool = True  # False: a class could not be imported, so unknown names are not judged


def init_keywords(cls: Any) -> tuple[dict[str, inspect.Parameter], bool]:
    """Keywords ``cls(...)`` takes by name, following ``**kwargs`` up the MRO.

    The second value is True when the chain ends in an ``__init__`` without
    ``**kwargs`` (an unknown keyword raises), False when we cannot tell.
    """
    found: dict[str, inspect.Parameter] = {}
    for klass in getattr(cls, "__mro__", ()):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if klass is object:
            # Reached only past a **kwargs that the class consumes itself: cannot tell.
            return found, False
        try:
            signature = inspect.signature(init)
        except (TypeError, ValueError):  # a C __init__: nothing to read
            return found, False
        more = False
        for index, param in enumerate(signature.parameters.values()):
            if index == 0 and param.kind is not param.KEYWORD_ONLY:
                continue  # self
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                found.setdefault(param.name, param)
            elif param.kind is param.VAR_KEYWORD:
                more = True
        if not more:
            return found, True
    return found, False


def import_class(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return import_string(value)
        except Exception:  # noqa: BLE001 - reported by the backend's check (E101) or at construction
            return None
    return value if isinstance(value, type) else None


def library_options(rest: Mapping[str, Any], backend: Backend, accepted: Accepted, values: Mapping[str, Rule],
                    elsewhere: Mapping[str, str], prefix: tuple[Any, ...] = (),
                    declared: Iterable[str] = ()) -> list[Finding]:
    """Unknown names and bad values among the options handed to a client library.

    ``declared``: the spec's own names, offered too when guessing what a misspelling meant.
    """
    findings: list[Finding] = []
    level, consequence = unknown_level(backend, accepted.closed)
    # Never offer a name that would then fail too: not those taken only with another LOCATION.
    candidates = {*declared, *accepted.names}
    for key, value in rest.items():
        path = (*prefix, key)
        if key in accepted.names:
            findings += check_value(path, value, values.get(key), accepted.names[key])
        elif key in elsewhere:
            findings.append(Finding(level, CONFLICT, path, f"not accepted with this LOCATION: {elsewhere[key]}",
                                    consequence))
        elif not (prefix == () and key in CULLING_NAMES) and accepted.complete:
            findings.append(unknown_finding(path, candidates, level, consequence))
    return findings


_SIMPLE = {"int": int, "float": float, "bool": bool, "str": str, "None": type(None), "NoneType": type(None)}


def simple_types(annotation: Any) -> tuple[type, ...] | None:
    """The leaf types of an annotation made only of int/float/bool/str/None, else None."""
    if annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, str):
        text = annotation.replace(" ", "")
        if text.startswith("Optional[") and text.endswith("]"):
            text = text[len("Optional["):-1] + "|None"
        leaves = [_SIMPLE.get(part) for part in text.split("|")]
        return tuple(leaf for leaf in leaves if leaf is not None) if all(leaves) else None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation) if origin in (typing.Union, types.UnionType) else (annotation,)
    if all(arg in _SIMPLE.values() for arg in args):
        return tuple(args)
    return None


def type_problem(value: Any, param: inspect.Parameter | None) -> str | None:
    """Why ``value`` cannot be right for ``param``, judged from its annotation; None if fine.

    Only clear mismatches count (a string for a number, a number for a string, a bool
    for a number): objects of other types pass, as do 0/1 for a bool.
    """
    if param is None:
        return None
    leaves = simple_types(param.annotation)
    if leaves is None:
        return None
    allowed = set(leaves)
    if param.default is None:
        allowed.add(type(None))
    numeric = bool(allowed & {int, float})
    if value is None:
        ok = type(None) in allowed
    elif isinstance(value, bool):
        ok = bool in allowed
    elif isinstance(value, (int, float)):
        ok = numeric or (bool in allowed and value in (0, 1))
    elif isinstance(value, str):
        ok = str in allowed
    else:
        return None
    if ok:
        return None
    wanted = [text for flag, text in ((numeric, "a number"), (bool in allowed, "True or False"),
                                      (str in allowed, "a string"), (type(None) in allowed, "None")) if flag]
    return f"expected {' or '.join(wanted)}, got {value!r}"


def check_value(path: tuple[Any, ...], value: Any, rule: Rule | None,
                param: inspect.Parameter | None = None) -> list[Finding]:
    """A value handed to a library: its rule when it has one (the rule knows what the library
    accepts, e.g. redis-py's ``db="10"``), else the type its signature's annotation names."""
    problem: str | None = None
    if rule is not None:
        try:
            rule(value)
        except CacheConfigError as exc:
            problem = exc.detail
        except (TypeError, ValueError) as exc:
            problem = str(exc)
    else:
        problem = type_problem(value, param)
    return [] if problem is None else [Finding(ERROR, VALUE, path, problem)]
