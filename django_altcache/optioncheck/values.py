"""Checks of one option's value: validators for well-known names, and types read from a signature's annotations.

A validator raises ``TypeError``/``ValueError`` with the reason; ``check_value`` turns that into a ``Finding``.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from ..options import CacheConfigError, non_negative_float, positive_int
from .findings import ERROR, VALUE, Finding

Validator = Callable[[Any], object]  # the result is ignored; some return the parsed value


def boolean(value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"expected True or False, got {value!r}")


def mapping(value: Any) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a dict, got {type(value).__name__}")


def seconds(value: Any) -> None:
    try:
        non_negative_float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number of seconds >= 0, got {value!r}") from None


def seconds_or_none(value: Any) -> None:
    if value is not None:
        try:
            non_negative_float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number of seconds >= 0 or None, got {value!r}") from None


def non_negative_int(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected an integer >= 0, got {value!r}")


def positive_int_or_none(value: Any) -> None:
    if value is not None:
        try:
            positive_int(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a positive integer or None, got {value!r}") from None


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


def check_value(path: tuple[Any, ...], value: Any, validator: Validator | None,
                param: inspect.Parameter | None = None) -> list[Finding]:
    problem = type_problem(value, param)
    if problem is None and validator is not None:
        try:
            validator(value)
        except (TypeError, ValueError, CacheConfigError) as exc:
            problem = str(exc)
    return [] if problem is None else [Finding(ERROR, VALUE, path, problem)]
