import sqlite3

from django.apps import AppConfig

_SQLITE_INTEGER = range(-(2**63), 2**63)


def _integer_or_text(value: int):
    # SQLite's integers are 64-bit; a larger one typed into any id field raised OverflowError
    # (a 500) where PostgreSQL finds no row. As text it compares unequal to every integer.
    return value if value in _SQLITE_INTEGER else str(value)


class ConfigConfig(AppConfig):
    """The project itself: its management commands (devserver), and one fix to the embedded
    database's driver."""

    name = "config"
    verbose_name = "Muster"

    def ready(self):
        from django.conf import settings

        if any(db["ENGINE"] == "django.db.backends.sqlite3" for db in settings.DATABASES.values()):
            sqlite3.register_adapter(int, _integer_or_text)
