"""Configuration from the environment: every ``CLAIMGUARD_*`` variable becomes the setting
of the same name, plus ``EXAMPLE_API_*`` for the app itself.

claimguard refuses a ``CLAIMGUARD_*`` key it does not know (naming the key it meant), so
a typo in a variable name stops the app at start-up instead of being ignored.

``EXAMPLE_API_DATABASE`` is a SQLite file path or a ``postgresql://`` URL (see
:mod:`example_api.storage`). With PostgreSQL, each process keeps a pool of at most
:func:`pool_max_size` connections: one per gunicorn thread of the worker, plus one, or
``EXAMPLE_API_DB_POOL_MAX``.
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

#: gunicorn.conf.py's default for ``EXAMPLE_API_THREADS``: the threads of each worker.
DEFAULT_THREADS = 4
#: The threads of this gunicorn worker, recorded by gunicorn.conf.py's ``post_fork``
#: hook from gunicorn's own settings (so ``--threads`` on the command line counts too);
#: ``None`` outside gunicorn.
_worker_threads: int | None = None


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
    config["EXAMPLE_API_DB_POOL_MAX"] = pool_max_size(environ)
    return config


def record_worker_threads(threads: int) -> None:
    """Called in each gunicorn worker, before it builds the app: how many threads
    serve requests in this process."""
    global _worker_threads  # one value per process, set before the app is built
    _worker_threads = threads


def pool_max_size(environ: Mapping[str, str] | None = None) -> int:
    """The most PostgreSQL connections one process keeps: ``EXAMPLE_API_DB_POOL_MAX``,
    else the worker's threads plus one.

    One connection per thread means no request waits for another's; the extra one
    covers a connection the pool is still replacing (after the server dropped it)
    while every thread is busy. The whole deployment opens up to workers x this many:
    keep it under the server's ``max_connections``.

    :raises ValueError: ``EXAMPLE_API_DB_POOL_MAX`` is not a positive integer.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get("EXAMPLE_API_DB_POOL_MAX", "").strip()
    if raw:
        if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"EXAMPLE_API_DB_POOL_MAX must be a positive integer, got {raw!r}")
        return int(raw)
    threads = _worker_threads
    if threads is None:
        raw_threads = environ.get("EXAMPLE_API_THREADS", "").strip()
        threads = int(raw_threads) if raw_threads.isascii() and raw_threads.isdigit() else 0
        threads = threads or DEFAULT_THREADS
    return max(threads, 1) + 1


def is_true(value: Any) -> bool:
    """Whether a flag is on: ``True``, or a string such as ``"1"`` or ``"true"``."""
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return value is True
