"""Configuration from the environment: every ``CLAIMGUARD_*`` variable becomes the setting
of the same name, plus ``EXAMPLE_API_*`` for the app itself.

claimguard refuses a ``CLAIMGUARD_*`` key it does not know (naming the key it meant), so
a typo in a variable name stops the app at start-up instead of being ignored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

DEFAULT_ROLES_CLAIM = "https://my-app.example.com/roles"

# How each setting is read from its environment string.
_LISTS = {
    "CLAIMGUARD_ISSUER",
    "CLAIMGUARD_AUDIENCE",
    "CLAIMGUARD_ALGORITHMS",
    "CLAIMGUARD_ROLES_CLAIM",
    "CLAIMGUARD_ALLOWED_CLIENTS",
    "CLAIMGUARD_DPOP_ALGORITHMS",
}
_NUMBERS = {
    "CLAIMGUARD_LEEWAY",
    "CLAIMGUARD_JWKS_CACHE_TTL",
    "CLAIMGUARD_JWKS_COOLDOWN",
    "CLAIMGUARD_JWKS_MAX_STALE",
    "CLAIMGUARD_HTTP_TIMEOUT",
    "CLAIMGUARD_MAX_TOKEN_AGE",
    "CLAIMGUARD_TOKEN_CACHE_SIZE",
    "CLAIMGUARD_DPOP_MAX_AGE",
    "CLAIMGUARD_DPOP_LEEWAY",
}
_BOOLEANS = {"CLAIMGUARD_STRICT_TYP", "CLAIMGUARD_DPOP_REQUIRE_NONCE"}
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
    for name, raw in environ.items():
        if name.startswith("CLAIMGUARD_") and raw.strip():
            config[name] = _parse(name, raw)
    if environ.get("EXAMPLE_API_DATABASE", "").strip():
        # Otherwise create_app puts the database in the app's instance folder.
        config["EXAMPLE_API_DATABASE"] = environ["EXAMPLE_API_DATABASE"]
    config["EXAMPLE_API_WARM_UP"] = is_true(environ.get("EXAMPLE_API_WARM_UP", ""))
    return config


def is_true(value: Any) -> bool:
    """Whether a flag is on: ``True``, or a string such as ``"1"`` or ``"true"``."""
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return value is True
