"""LOCATION helpers shared by the backends with several servers."""

from __future__ import annotations

import re
from typing import Any

from .errors import CacheConfigError


def split_location(location: Any) -> list[str]:
    """Django's rule for several servers: a list/tuple, or one string split on ';' or ','."""
    if location is None or location == "":
        return []
    if isinstance(location, str):
        return [part.strip() for part in re.split("[;,]", location) if part.strip()]
    if isinstance(location, (list, tuple)):
        return [str(part) for part in location]
    raise CacheConfigError(f"must be a string or a list of strings, not {type(location).__name__}", ("LOCATION",))


def scheme_of(url: str) -> str:
    """The URL scheme, lower-cased (schemes are case-insensitive, RFC 3986 section 3.1)."""
    head, sep, _ = url.strip().partition("://")
    return head.lower() if sep else ""


# scheme://userinfo@ -> the password (or a lone secret, which sentinel:// reads as one) masked.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^@/\s]*)@")
_QUERY_SECRET = re.compile(r"(?P<key>[?&](?:password|passwd|pwd|secret|token)=)[^&\s]*", re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """``text`` with every password of a URL in it replaced by ``***``."""
    def userinfo(match: re.Match[str]) -> str:
        user, has_password, _ = match["userinfo"].partition(":")
        return f"{match['scheme']}{user}:***@" if has_password else f"{match['scheme']}***@"

    return _QUERY_SECRET.sub(lambda m: f"{m['key']}***", _USERINFO.sub(userinfo, text))
