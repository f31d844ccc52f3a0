"""Drop-in replacements for Django's cache backends."""

__version__ = "0.1.0"
