"""Strict environment helpers: a typo in production configuration fails at start-up,
not silently at the first request."""

import os

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    """A value from NAME, or from the file named by NAME_FILE (for secrets mounted as files)."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        with open(file_path, encoding="utf-8") as fh:
            return fh.read().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value not in ("True", "False"):
        raise ImproperlyConfigured(f"{name} must be True or False, not {value!r}")
    return value == "True"


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# anymail settings that are not strings; every other ANYMAIL_* value is passed as it is.
_ANYMAIL_BOOLEANS = {"IGNORE_UNSUPPORTED_FEATURES", "IGNORE_RECIPIENT_STATUS", "DEBUG_API_REQUESTS"}


def _anymail_timeout(name: str, value: str) -> float | tuple[float, float]:
    """requests' timeout: seconds, or "connect,read" seconds; requests refuses a string."""
    try:
        parts = [float(part) for part in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or any(part <= 0 for part in parts):
        raise ImproperlyConfigured(f"{name} must be seconds, or connect,read seconds (e.g. 5 or 3.05,27), not {value!r}")
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def anymail_settings(environ: dict[str, str]) -> dict:
    """The ANYMAIL setting from every ANYMAIL_* variable, prefix removed (ANYMAIL_NAME_FILE: the
    file's contents, for secrets mounted as files), each in the type anymail expects."""
    settings = {}
    for key, value in environ.items():
        if not key.startswith("ANYMAIL_"):
            continue
        name = key.removeprefix("ANYMAIL_")
        if name.endswith("_FILE"):
            name = name.removesuffix("_FILE")
            with open(value, encoding="utf-8") as fh:
                value = fh.read().strip()
        if name == "REQUESTS_TIMEOUT":
            settings[name] = _anymail_timeout(key, value)
        elif name in _ANYMAIL_BOOLEANS:
            if value not in ("True", "False"):
                raise ImproperlyConfigured(f"{key} must be True or False, not {value!r}")
            settings[name] = value == "True"
        else:
            settings[name] = value
    return settings
