"""Configuration: options declared once (``Option``/``Spec``), one set of value rules, and
``CacheConfigError`` carrying the path of the setting at fault.

Imports nothing from ``django_altcache.backends``: it is the ground floor.
"""

from .errors import CacheConfigError, setting_path
from .location import split_location
from .spec import Option, Parsed, Spec, settings_of

__all__ = ["CacheConfigError", "Option", "Parsed", "Spec", "setting_path", "settings_of", "split_location"]
