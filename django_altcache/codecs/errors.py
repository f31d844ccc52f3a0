"""What the codec layer raises.

Reading: every failure to decode a stored value is an ``UnreadableValue`` (a
``ValueError``), so a backend has one thing to catch to turn it into a miss. Writing:
a value the serializer cannot represent is a ``TypeError`` naming its type.
Configuration: a missing optional library is a ``MissingLibrary`` (a ``ValueError``, so
the option layer reports it with the setting's path) naming the pip extra to install.
"""

from __future__ import annotations


class UnreadableValue(ValueError):
    """A stored value that cannot be decoded; the backend reads it as a miss and deletes it."""


class BadSignature(UnreadableValue):
    """The value's HMAC does not match any of the keys (SECRET_KEY, SECRET_KEY_FALLBACKS)."""


class UnsignedValue(UnreadableValue):
    """An unsigned value where SIGN_VALUES requires a signature (outside the migration window)."""


class CorruptValue(UnreadableValue):
    """Truncated, garbled, or written by a format or library this reader does not have."""


class MissingLibrary(ValueError):
    """An option names a codec whose library is not installed."""

    def __init__(self, what: str, package: str, extra: str) -> None:
        super().__init__(f"{what} needs the {package!r} package, which is not installed: "
                         f'pip install "django-altcache[{extra}]"')
        self.package = package
        self.extra = extra
