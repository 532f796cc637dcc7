"""Configuration from the environment: every ``CLAIMGUARD_*`` key of the settings table
from the variable of the same name, plus ``EXAMPLE_API_*`` for the app itself."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from claimguard.settings import DEFAULTS

DEFAULT_ROLES_CLAIM = "https://my-app.example.com/roles"

# How each setting is read from its environment string.
_LISTS = {
    "CLAIMGUARD_ISSUER",
    "CLAIMGUARD_AUDIENCE",
    "CLAIMGUARD_ALGORITHMS",
    "CLAIMGUARD_ROLES_CLAIM",
    "CLAIMGUARD_ALLOWED_CLIENTS",
}
_NUMBERS = {
    "CLAIMGUARD_LEEWAY",
    "CLAIMGUARD_JWKS_CACHE_TTL",
    "CLAIMGUARD_JWKS_COOLDOWN",
    "CLAIMGUARD_JWKS_MAX_STALE",
    "CLAIMGUARD_HTTP_TIMEOUT",
    "CLAIMGUARD_MAX_TOKEN_AGE",
    "CLAIMGUARD_TOKEN_CACHE_SIZE",
}
_BOOLEANS = {"CLAIMGUARD_STRICT_TYP"}
_TRUE = {"1", "true", "yes", "on"}


def _parse(name: str, raw: str) -> Any:
    value = raw.strip()
    if name in _LISTS:
        items = [item.strip() for item in value.split(",") if item.strip()]
        return items
    if name in _NUMBERS:
        try:
            number = float(value)
        except ValueError:
            return value  # ClaimGuard reports it with the setting's name
        return int(number) if number.is_integer() else number
    if name in _BOOLEANS:
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        return value
    return value


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The app's settings as read from ``environ`` (default: ``os.environ``)."""
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = {"CLAIMGUARD_ROLES_CLAIM": [DEFAULT_ROLES_CLAIM]}
    for name in DEFAULTS:
        if environ.get(name, "").strip():
            config[name] = _parse(name, environ[name])
    config["EXAMPLE_API_DATABASE"] = environ.get(
        "EXAMPLE_API_DATABASE", os.path.join("instance", "products.sqlite3")
    )
    config["EXAMPLE_API_WARM_UP"] = is_true(environ.get("EXAMPLE_API_WARM_UP", ""))
    return config


def is_true(value: Any) -> bool:
    """Whether a flag is on: ``True``, or a string such as ``"1"`` or ``"true"``."""
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return value is True
