"""Every setting claimguard reads: its key, its default and its range, in one table.

Settings reach claimguard two ways: an app writes them in ``app.config``
(``CLAIMGUARD_LEEWAY``), and code that builds the core itself passes them to a
constructor (``TokenValidator(leeway=…)``). Both are checked here, against the same
table, and every error names what its caller wrote: the config key when
:class:`~claimguard.settings.Settings` reads ``app.config``, the keyword (``leeway=``)
when a constructor is called directly.

Flask-free. Every problem is a :class:`~claimguard.errors.ConfigurationError` with a
message that says what to fix.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import ConfigurationError
from .keys import SUPPORTED_ALGORITHMS

__all__ = [
    "DEFAULTS",
    "DPOP_MODES",
    "OPTIONS",
    "Option",
    "check_algorithms",
    "check_audiences",
    "check_dpop_mode",
    "check_flag",
    "check_number",
    "check_strings",
]

_FLOAT_MAX = sys.float_info.max


@dataclass(frozen=True)
class Option:
    """One setting: its ``app.config`` key, the keyword of the core constructor that
    takes it (``None`` when only the Flask layer reads it), its default and, for a
    number, its range."""

    key: str
    keyword: str | None
    default: Any
    low: float | None = None
    #: ``None``: no upper bound.
    high: float | None = None
    #: Whether a number must be whole (a count, not a duration).
    whole: bool = False

    @property
    def argument(self) -> str:
        """How a direct caller writes it: ``leeway=``."""
        return f"{self.keyword or self.key}="

    def number(self, value: object, name: str | None = None) -> float:
        """Check a numeric setting against this option's range.

        :param name: what the caller wrote; by default the keyword (``leeway=``).
        :raises ConfigurationError: naming ``name`` and the allowed range.
        """
        assert self.low is not None, f"{self.key} is not a number"
        return check_number(name or self.argument, value, self.low, self.high, whole=self.whole)


DOMAIN = Option("CLAIMGUARD_DOMAIN", None, None)
ISSUER = Option("CLAIMGUARD_ISSUER", "issuers", None)
AUDIENCE = Option("CLAIMGUARD_AUDIENCE", "audiences", None)
JWKS_URL = Option("CLAIMGUARD_JWKS_URL", "url", None)
ALGORITHMS = Option("CLAIMGUARD_ALGORITHMS", "algorithms", ["RS256"])
ROLES_CLAIM = Option("CLAIMGUARD_ROLES_CLAIM", "roles_claims", None)
LEEWAY = Option("CLAIMGUARD_LEEWAY", "leeway", 5, 0, 300)
JWKS_CACHE_TTL = Option("CLAIMGUARD_JWKS_CACHE_TTL", "ttl", 600, 1, 86400)
JWKS_COOLDOWN = Option("CLAIMGUARD_JWKS_COOLDOWN", "cooldown", 30, 0, 3600)
JWKS_MAX_STALE = Option("CLAIMGUARD_JWKS_MAX_STALE", "max_stale", 3600, 0, 604800)
HTTP_TIMEOUT = Option("CLAIMGUARD_HTTP_TIMEOUT", "timeout", 5, 0.1, 60)
STRICT_TYP = Option("CLAIMGUARD_STRICT_TYP", "strict_typ", False)
MAX_TOKEN_AGE = Option("CLAIMGUARD_MAX_TOKEN_AGE", "max_token_age", None, 1, None)
ALLOWED_CLIENTS = Option("CLAIMGUARD_ALLOWED_CLIENTS", "allowed_clients", None)
SCOPE_CLAIM = Option("CLAIMGUARD_SCOPE_CLAIM", "scope_claim", "scope")
PERMISSIONS_CLAIM = Option("CLAIMGUARD_PERMISSIONS_CLAIM", "permissions_claim", "permissions")
TOKEN_CACHE_SIZE = Option(
    "CLAIMGUARD_TOKEN_CACHE_SIZE", "token_cache_size", 4096, 0, 1_000_000, whole=True
)
REALM = Option("CLAIMGUARD_REALM", None, "api")
DPOP_MODE = Option("CLAIMGUARD_DPOP_MODE", None, "off")
DPOP_ALGORITHMS = Option("CLAIMGUARD_DPOP_ALGORITHMS", None, ["ES256", "EdDSA"])
DPOP_MAX_AGE = Option("CLAIMGUARD_DPOP_MAX_AGE", None, 300, 1, 3600)
DPOP_LEEWAY = Option("CLAIMGUARD_DPOP_LEEWAY", None, 30, 0, 300)
DPOP_REPLAY_STORE = Option("CLAIMGUARD_DPOP_REPLAY_STORE", None, "memory")
DPOP_NONCE_SECRET = Option("CLAIMGUARD_DPOP_NONCE_SECRET", None, None)
DPOP_REQUIRE_NONCE = Option("CLAIMGUARD_DPOP_REQUIRE_NONCE", None, False)
PUBLIC_URL = Option("CLAIMGUARD_PUBLIC_URL", None, None)

#: The values of ``CLAIMGUARD_DPOP_MODE`` (and of a route's ``dpop=``).
DPOP_MODES = ("off", "allowed", "required")

#: Every setting, in the order of the configuration table of the documentation, which
#: is made from this tuple.
OPTIONS: tuple[Option, ...] = (
    DOMAIN,
    ISSUER,
    AUDIENCE,
    JWKS_URL,
    ALGORITHMS,
    ROLES_CLAIM,
    LEEWAY,
    JWKS_CACHE_TTL,
    JWKS_COOLDOWN,
    JWKS_MAX_STALE,
    HTTP_TIMEOUT,
    STRICT_TYP,
    MAX_TOKEN_AGE,
    ALLOWED_CLIENTS,
    SCOPE_CLAIM,
    PERMISSIONS_CLAIM,
    TOKEN_CACHE_SIZE,
    REALM,
    DPOP_MODE,
    DPOP_ALGORITHMS,
    DPOP_MAX_AGE,
    DPOP_LEEWAY,
    DPOP_REPLAY_STORE,
    DPOP_NONCE_SECRET,
    DPOP_REQUIRE_NONCE,
    PUBLIC_URL,
)

#: Every key claimguard reads, with its default.
DEFAULTS: dict[str, Any] = {option.key: option.default for option in OPTIONS}


def check_number(
    name: str, value: object, low: float, high: float | None, *, whole: bool = False
) -> float:
    """Validate a numeric setting: a real number (not a bool) within ``[low, high]``.

    :param whole: the number must also be whole (``1.0`` is, ``1.5`` is not).
    :raises ConfigurationError: naming the setting and the allowed range.
    """
    top = _FLOAT_MAX if high is None else high
    # Compare, never convert first: a 400-digit int is a number but no float, and NaN
    # fails every comparison (so it is refused here as well).
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number, got {value!r}")
    if not low <= value <= top:
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigurationError(f"{name} must be {bound}, got {value!r}")
    if whole and value != int(value):
        raise ConfigurationError(f"{name} must be a whole number, got {value!r}")
    return float(value)


def check_strings(name: str, value: object) -> tuple[str, ...]:
    """Validate a setting that is one string or a list of them.

    A list or tuple, not a set: some of these are read in order (the roles claims), and
    a set's order follows string hashing, which differs between worker processes.

    :raises ConfigurationError: empty, not a string/list/tuple, or an entry that is not
        a non-blank string.
    """
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ConfigurationError(
            f"{name} must be a non-empty string or list of strings, got {value!r}"
        )
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ConfigurationError(f"{name} entries must be non-empty strings, got {item!r}")
    return tuple(items)


def check_flag(name: str, value: object) -> bool:
    """Validate a setting that is ``True`` or ``False``: a string such as ``"false"``
    read from the environment is refused, not taken as true.

    :raises ConfigurationError: not a ``bool``.
    """
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return value


def check_algorithms(algorithms: object, name: str = ALGORITHMS.argument) -> tuple[str, ...]:
    """Validate the algorithm allow-list.

    :raises ConfigurationError: empty, or naming ``none``, an HMAC or unknown algorithm.
    """
    if isinstance(algorithms, str):
        names: tuple[object, ...] = (algorithms,)
    elif isinstance(algorithms, Iterable):
        names = tuple(algorithms)
    else:
        raise ConfigurationError(f"{name} must be a list of algorithm names, got {algorithms!r}")
    if not names:
        raise ConfigurationError(f"{name} must name at least one algorithm")
    for alg in names:
        if not isinstance(alg, str) or alg.lower() == "none":
            raise ConfigurationError(
                f"algorithm {alg!r} is refused: unsigned tokens are never accepted (RFC 8725 §3.2)"
            )
        if alg.upper().startswith("HS"):
            raise ConfigurationError(
                f"algorithm {alg!r} is refused: HMAC uses a shared secret, and a public "
                "key mistaken for one lets anyone mint tokens (RFC 8725 §2.1). "
                "Use RS256 (Auth0's default), PS256, ES256 or EdDSA."
            )
        if alg not in SUPPORTED_ALGORITHMS:
            raise ConfigurationError(
                f"algorithm {alg!r} is not supported; choose from "
                + ", ".join(sorted(SUPPORTED_ALGORITHMS))
            )
    return tuple(str(alg) for alg in names)


def check_audiences(
    audiences: Iterable[str], allowed_clients: Iterable[str] | None, name: str
) -> None:
    """Refuse audiences that would let other tokens pass as this API's access tokens.

    :param name: what the caller wrote for the audiences (``CLAIMGUARD_AUDIENCE``,
        ``audiences=``).
    :raises ConfigurationError: an audience is Auth0's ``/userinfo`` endpoint, or a client
        ID that is also an allowed client.
    """
    clients = frozenset(allowed_clients or ())
    for audience in audiences:
        if audience.rstrip("/").endswith("/userinfo"):
            raise ConfigurationError(
                f"audience {audience!r} is Auth0's /userinfo endpoint, which every "
                f"login token carries: set {name} to your API identifier"
            )
        if audience in clients:
            raise ConfigurationError(
                f"audience {audience!r} is a client ID: ID tokens carry it as aud, so "
                "they would pass as access tokens. Use your API identifier."
            )


def check_dpop_mode(value: object, name: str) -> str:
    """A DPoP mode: ``off``, ``allowed`` or ``required``.

    :raises ConfigurationError: naming ``name``.
    """
    if not isinstance(value, str) or value not in DPOP_MODES:
        raise ConfigurationError(f"{name} must be one of {', '.join(DPOP_MODES)}, got {value!r}")
    return value
