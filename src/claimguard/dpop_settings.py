"""The ``CLAIMGUARD_DPOP_*`` settings and ``CLAIMGUARD_PUBLIC_URL``, and the DPoP
verifier they build.

Flask-free, like :mod:`claimguard.settings`, which reads them as part of an app's
settings. Every problem is a :class:`~claimguard.errors.ConfigurationError` at start-up,
naming the key.

The replay store is where DPoP's guarantee lives: a proof may be used once. ``memory``
remembers the proofs this process saw, so a proof replayed to another worker or
instance is not caught; a ``redis://`` URL (or ``rediss://``, ``unix://``) shares one
store between them all; any object with ``claim(key, ttl) -> bool`` can stand in.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import urlsplit

from .dpop import DPoPVerifier
from .dpop_nonce import MIN_SECRET_BYTES
from .dpop_nonce import DPoPNonces
from .errors import ConfigurationError
from .keys import SUPPORTED_ALGORITHMS
from .options import DPOP_ALGORITHMS
from .options import DPOP_LEEWAY
from .options import DPOP_MAX_AGE
from .options import DPOP_MODE
from .options import DPOP_NONCE_SECRET
from .options import DPOP_REPLAY_STORE
from .options import DPOP_REQUIRE_NONCE
from .options import PUBLIC_URL
from .options import check_dpop_mode
from .options import check_flag
from .options import check_strings
from .replay import MemoryReplayStore
from .replay import RedisReplayStore
from .replay import ReplayStore

__all__ = ["DPoPSettings", "check_public_url", "several_workers_likely"]

log = logging.getLogger("claimguard")

#: URL schemes redis-py connects with.
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class DPoPSettings:
    """Validated DPoP settings (the ``CLAIMGUARD_DPOP_*`` rows of the configuration page)."""

    mode: str
    algorithms: tuple[str, ...]
    max_age: float
    leeway: float
    #: ``"memory"``, a Redis URL, or a store object. Left out of ``repr()``: a URL may
    #: hold a password.
    replay_store: Any = field(repr=False)
    #: Never shown: whoever has it can mint nonces.
    nonce_secret: bytes | None = field(repr=False)
    require_nonce: bool
    #: The API's external origin and path prefix, without a trailing ``/``; ``None``:
    #: the request's own scheme and ``Host``.
    public_url: str | None

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> DPoPSettings:
        """Read the DPoP keys of ``config`` (every key present: defaults merged in)."""
        secret = _nonce_secret(config[DPOP_NONCE_SECRET.key])
        require = check_flag(DPOP_REQUIRE_NONCE.key, config[DPOP_REQUIRE_NONCE.key])
        if require and secret is None:
            raise ConfigurationError(
                f"{DPOP_REQUIRE_NONCE.key} needs {DPOP_NONCE_SECRET.key}: nonces are made "
                "from that secret (32 bytes or more, the same on every instance)"
            )
        return cls(
            mode=check_dpop_mode(config[DPOP_MODE.key], DPOP_MODE.key),
            algorithms=_algorithms(config[DPOP_ALGORITHMS.key]),
            max_age=DPOP_MAX_AGE.number(config[DPOP_MAX_AGE.key], DPOP_MAX_AGE.key),
            leeway=DPOP_LEEWAY.number(config[DPOP_LEEWAY.key], DPOP_LEEWAY.key),
            replay_store=_replay_store(config[DPOP_REPLAY_STORE.key]),
            nonce_secret=secret,
            require_nonce=require,
            public_url=check_public_url(config[PUBLIC_URL.key]),
        )

    @property
    def shared_store(self) -> bool:
        """Whether replays are caught across processes (anything but ``memory``)."""
        return not (isinstance(self.replay_store, str) and self.replay_store == "memory")

    def build_verifier(self, nonces: DPoPNonces | None = None) -> DPoPVerifier:
        """The proof verifier, with its replay store; ``nonces`` (see
        :meth:`build_nonces`) are demanded of every proof when nonces are required."""
        if self.require_nonce and nonces is None:
            nonces = self.build_nonces()
        return DPoPVerifier(
            self.build_store(),
            algorithms=self.algorithms,
            max_age=self.max_age,
            leeway=self.leeway,
            nonces=nonces if self.require_nonce else None,
        )

    def build_store(self) -> ReplayStore:
        store = self.replay_store
        if isinstance(store, str):
            return MemoryReplayStore() if store == "memory" else RedisReplayStore(store)
        return store  # type: ignore[no-any-return]

    def build_nonces(self) -> DPoPNonces | None:
        """The nonce issuer, when a secret is set (nonces then go out on every answer)."""
        return None if self.nonce_secret is None else DPoPNonces(self.nonce_secret)


def _algorithms(value: object) -> tuple[str, ...]:
    algorithms = check_strings(DPOP_ALGORITHMS.key, value)
    unknown = [name for name in algorithms if name not in SUPPORTED_ALGORITHMS]
    if unknown:
        # RFC 9449 §4.2: asymmetric algorithms only; none and HS* are not in the table.
        raise ConfigurationError(
            f"{DPOP_ALGORITHMS.key} has unsupported {unknown}: choose from "
            f"{sorted(SUPPORTED_ALGORITHMS)} (asymmetric only)"
        )
    return tuple(dict.fromkeys(algorithms))


def _replay_store(value: object) -> Any:
    if isinstance(value, str):
        if value == "memory" or value.startswith(_REDIS_SCHEMES):
            return value
        # The value is not echoed: a mistyped Redis URL may hold its password.
        scheme = value.partition(":")[0][:20] if ":" in value else "no scheme"
        raise ConfigurationError(
            f"{DPOP_REPLAY_STORE.key} must be 'memory', a redis:// URL or an object with "
            f"claim(key, ttl), got a string with {scheme!r}"
        )
    if callable(getattr(value, "claim", None)):
        return value
    raise ConfigurationError(
        f"{DPOP_REPLAY_STORE.key} must be 'memory', a redis:// URL or an object with "
        f"claim(key, ttl), got {type(value).__name__}"
    )


def _nonce_secret(value: object) -> bytes | None:
    if value is None:
        return None
    secret = value.encode("utf-8") if isinstance(value, str) else value
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"{DPOP_NONCE_SECRET.key} must be a string or bytes of at least "
            f"{MIN_SECRET_BYTES} bytes (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'), the same on every instance"
        )
    return secret


def check_public_url(value: object, name: str = PUBLIC_URL.key) -> str | None:
    """``CLAIMGUARD_PUBLIC_URL``: ``http(s)://host[:port][/prefix]``, no query, fragment
    or user info; returned without a trailing ``/``.

    :raises ConfigurationError: naming ``name``.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.isascii() or not value.isprintable():
        raise ConfigurationError(f"{name} must be an http(s) URL, got {value!r}")
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or " " in value
    ):
        raise ConfigurationError(
            f"{name} must be the API's external origin and path prefix, e.g. "
            f"'https://api.example.com' or 'https://example.com/api', got {value!r}"
        )
    return value.rstrip("/")


def several_workers_likely() -> bool:
    """Whether this process probably serves beside others: a gunicorn or uWSGI worker,
    or ``WEB_CONCURRENCY`` above 1."""
    if "gunicorn" in sys.modules or "uwsgi" in sys.modules:
        return True
    try:
        return int(os.environ.get("WEB_CONCURRENCY", "1")) > 1
    except ValueError:
        return False
