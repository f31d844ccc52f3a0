"""The keywords a client library accepts, read from its signatures, and the check of the options handed to it.

Reading signatures (``inspect``) rather than listing names by hand means a library upgrade that adds or
drops a keyword needs no change here.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string

from .common import CULLING
from .families import Backend, unknown_level
from .findings import CONFLICT, Finding, unknown_finding
from .values import Validator, check_value


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


def library_options(rest: Mapping[str, Any], backend: Backend, ours_spec: Mapping[str, Validator | None],
                    accepted: Accepted, values: Mapping[str, Validator],
                    elsewhere: Mapping[str, str], prefix: tuple[Any, ...] = (),
                    extra_names: Iterable[str] = ()) -> list[Finding]:
    """Unknown names and bad values among options handed to a client library."""
    findings: list[Finding] = []
    level, consequence = unknown_level(backend, accepted.closed)
    candidates = {*ours_spec, *accepted.names, *elsewhere, *extra_names}
    for key, value in rest.items():
        path = (*prefix, key)
        if key in ours_spec:
            findings += check_value(path, value, ours_spec[key])
        elif key in accepted.names:
            findings += check_value(path, value, values.get(key), accepted.names[key])
        elif key in elsewhere:
            findings.append(Finding(level, CONFLICT, path, f"not accepted with this LOCATION: {elsewhere[key]}",
                                    consequence))
        elif not (prefix == () and key in CULLING) and accepted.complete:
            findings.append(unknown_finding(path, candidates, level, consequence))
    return findings
