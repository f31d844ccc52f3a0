"""``OPTIONS["STAMPEDE"]``: its value, parsed once when the cache is built.

``parse_stampede`` is a plain value converter (the option spec calls it): ``True`` means
the defaults, ``False``/``None`` means off, a dict overrides some tunables. Errors are
``TypeError``/``ValueError`` whose message does not repeat the option's name (the
caller prefixes the setting path).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

DEFAULT_LOCK_TIMEOUT = 10.0  # seconds a dead holder's lock can block a key
WAIT_MARGIN = 2.0  # default wait = lock_timeout + this, so a waiter outlives a dead holder's lock
DEFAULT_BETA = 1.0  # XFetch's beta: 1.0 is the paper's optimum for exponential-ish arrivals
DEFAULT_POLL = 0.05  # longest pause between two looks at the cache while waiting


@dataclass(frozen=True)
class StampedeSettings:
    """The tunables; see docs/stampede.md for what each one bounds."""

    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    wait: float | None = None  # None: lock_timeout + WAIT_MARGIN
    early_refresh: bool = False
    beta: float = DEFAULT_BETA
    stale: float = 0.0  # seconds a copy outlives the entry, served to waiters; 0 = none kept
    poll: float = DEFAULT_POLL

    @property
    def wait_seconds(self) -> float:
        return self.lock_timeout + WAIT_MARGIN if self.wait is None else self.wait


KEYS = tuple(f.name for f in fields(StampedeSettings))


def _number(name: str, value: Any, *, minimum: float, inclusive: bool, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name!r} must be a number of seconds, got {value!r}")
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"{name!r} must be a finite number, got {value!r}")
    too_small = number < minimum if inclusive else number <= minimum
    if too_small:
        bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
        raise ValueError(f"{name!r} must be {bound}, got {value!r}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name!r} must be <= {maximum:g}, got {value!r}")
    return number


def parse_stampede(value: Any) -> StampedeSettings | None:
    """``True`` → defaults, ``False``/``None`` → off (None), a dict → those tunables."""
    if value is None or value is False:
        return None
    if value is True:
        return StampedeSettings()
    if not isinstance(value, Mapping):
        raise TypeError(f"expected True, False or a dict of {', '.join(KEYS)}; got {value!r}")
    unknown = [key for key in value if key not in KEYS]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), KEYS, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(f"unknown key(s) {', '.join(hints)}; expected some of {', '.join(KEYS)}")
    lock_timeout = _number("lock_timeout", value.get("lock_timeout", DEFAULT_LOCK_TIMEOUT),
                           minimum=0.1, inclusive=True)
    wait = value.get("wait")
    early = value.get("early_refresh", False)
    if not isinstance(early, bool):
        raise TypeError(f"'early_refresh' must be True or False, got {early!r}")
    return StampedeSettings(
        lock_timeout=lock_timeout,
        wait=None if wait is None else _number("wait", wait, minimum=0, inclusive=True),
        early_refresh=early,
        beta=_number("beta", value.get("beta", DEFAULT_BETA), minimum=0, inclusive=False, maximum=100),
        stale=_number("stale", value.get("stale", 0.0), minimum=0, inclusive=True),
        poll=_number("poll", value.get("poll", DEFAULT_POLL), minimum=0.001, inclusive=True, maximum=5),
    )


parse_stampede.keys = KEYS  # type: ignore[attr-defined]  # the dict keys, for the option checks
