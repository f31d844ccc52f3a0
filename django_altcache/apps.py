from django.apps import AppConfig


class AltCacheConfig(AppConfig):
    """Optional app: adds management commands and system checks.

    The backends work without it; being in INSTALLED_APPS only adds the
    commands (``createcachetable`` overrides Django's) and the checks.
    """

    name = "django_altcache"
    verbose_name = "django-altcache"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks)
