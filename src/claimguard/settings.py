"""The ``CLAIMGUARD_*`` settings: defaults, validation, and the validator they build.

Flask-free: :meth:`Settings.from_mapping` takes any mapping (``app.config``, a dict).
Every problem is a :class:`~claimguard.errors.ConfigurationError` raised at start-up
with a message that says what to fix, never a surprise on the first request.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from .claims import check_roles_claim
from .discovery import auth0_issuer
from .discovery import auth0_jwks_url
from .discovery import check_issuer_url
from .discovery import check_url
from .errors import ConfigurationError
from .jwks import JWKSCache
from .validation import TokenValidator
from .validation import check_algorithms
from .validation import check_number
from .validation import check_strings

__all__ = ["DEFAULTS", "Settings"]

log = logging.getLogger("claimguard")

#: Every key claimguard reads, with its default.
DEFAULTS: dict[str, Any] = {
    "CLAIMGUARD_DOMAIN": None,
    "CLAIMGUARD_ISSUER": None,
    "CLAIMGUARD_AUDIENCE": None,
    "CLAIMGUARD_JWKS_URL": None,
    "CLAIMGUARD_ALGORITHMS": ["RS256"],
    "CLAIMGUARD_ROLES_CLAIM": None,
    "CLAIMGUARD_LEEWAY": 5,
    "CLAIMGUARD_JWKS_CACHE_TTL": 600,
    "CLAIMGUARD_JWKS_COOLDOWN": 30,
    "CLAIMGUARD_JWKS_MAX_STALE": 3600,
    "CLAIMGUARD_HTTP_TIMEOUT": 5,
    "CLAIMGUARD_STRICT_TYP": False,
    "CLAIMGUARD_MAX_TOKEN_AGE": None,
    "CLAIMGUARD_ALLOWED_CLIENTS": None,
    "CLAIMGUARD_SCOPE_CLAIM": "scope",
    "CLAIMGUARD_PERMISSIONS_CLAIM": "permissions",
    "CLAIMGUARD_TOKEN_CACHE_SIZE": 4096,
    "CLAIMGUARD_REALM": "api",
}

# name: (low, high): the allowed range of each number.
_RANGES: dict[str, tuple[float, float | None]] = {
    "CLAIMGUARD_LEEWAY": (0, 300),
    "CLAIMGUARD_JWKS_CACHE_TTL": (1, 86400),
    "CLAIMGUARD_JWKS_COOLDOWN": (0, 3600),
    "CLAIMGUARD_JWKS_MAX_STALE": (0, 604800),
    "CLAIMGUARD_HTTP_TIMEOUT": (0.1, 60),
    "CLAIMGUARD_MAX_TOKEN_AGE": (1, None),
    "CLAIMGUARD_TOKEN_CACHE_SIZE": (0, 1_000_000),
}


def _number(config: Mapping[str, Any], name: str) -> float:
    low, high = _RANGES[name]
    return check_number(name, config[name], low, high)


def _strings(config: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """An optional string-or-list setting; unset (or an empty list) is ``()``."""
    value = config.get(name)
    if value is None or value == [] or value == ():
        return ()
    return check_strings(name, value)


def _is_uri(name: str) -> bool:
    parts = urlsplit(name)
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme == "urn")


@dataclass(frozen=True)
class Settings:
    """Validated claimguard settings (see the ``CLAIMGUARD_*`` table in the README)."""

    issuers: tuple[str, ...]
    audiences: tuple[str, ...]
    #: The one JWKS URL every issuer shares, or ``None`` for discovery per issuer.
    jwks_url: str | None
    algorithms: tuple[str, ...]
    roles_claims: tuple[str, ...]
    leeway: float
    jwks_cache_ttl: float
    jwks_cooldown: float
    jwks_max_stale: float
    http_timeout: float
    strict_typ: bool
    max_token_age: float | None
    allowed_clients: tuple[str, ...] | None
    scope_claim: str
    permissions_claim: str
    token_cache_size: int
    realm: str

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> Settings:
        """Read and validate every ``CLAIMGUARD_*`` key of ``config``.

        Missing keys take their defaults. An unknown ``CLAIMGUARD_*`` key is an error:
        a typo in a security setting must not be silently ignored.

        :raises ConfigurationError: with a message that says what to fix.
        """
        for key in config:
            if isinstance(key, str) and key.startswith("CLAIMGUARD_") and key not in DEFAULTS:
                close = difflib.get_close_matches(key, DEFAULTS, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise ConfigurationError(f"unknown setting {key}{hint}")
        merged = {**DEFAULTS, **{k: v for k, v in config.items() if k in DEFAULTS}}

        domain = merged["CLAIMGUARD_DOMAIN"]
        issuers = _strings(merged, "CLAIMGUARD_ISSUER")
        if domain is not None and not issuers:
            issuers = (auth0_issuer(domain),)
        if not issuers:
            raise ConfigurationError(
                "no issuer configured: set CLAIMGUARD_DOMAIN (your Auth0 tenant, e.g. "
                "'my-tenant.us.auth0.com') or CLAIMGUARD_ISSUER (the exact iss value)"
            )
        for issuer in issuers:
            check_issuer_url(issuer, "CLAIMGUARD_ISSUER")
        jwks_url = merged["CLAIMGUARD_JWKS_URL"]
        if jwks_url is not None:
            jwks_url = check_url(jwks_url, "CLAIMGUARD_JWKS_URL")
        elif domain is not None:
            jwks_url = auth0_jwks_url(domain)

        audiences = _strings(merged, "CLAIMGUARD_AUDIENCE")
        if not audiences:
            raise ConfigurationError(
                "CLAIMGUARD_AUDIENCE is required: set it to your API identifier (the "
                "'Identifier' of the API in the Auth0 dashboard, e.g. "
                "'https://products.example.com')"
            )
        roles_claims = _strings(merged, "CLAIMGUARD_ROLES_CLAIM")
        for name in roles_claims:
            check_roles_claim(name)
            if not name.startswith("/") and not _is_uri(name):
                log.warning(
                    "CLAIMGUARD_ROLES_CLAIM %r is not a URI. Namespace custom claims, e.g. "
                    "'https://my-app.example.com/roles': Auth0 drops non-namespaced custom "
                    "claims that collide with standard ones, and a collision can grant "
                    "roles nobody meant to grant.",
                    name,
                )
        strict_typ = merged["CLAIMGUARD_STRICT_TYP"]
        if not isinstance(strict_typ, bool):
            raise ConfigurationError(
                f"CLAIMGUARD_STRICT_TYP must be True or False, got {strict_typ!r}"
            )
        realm = merged["CLAIMGUARD_REALM"]
        _check_realm(realm)
        allowed = _strings(merged, "CLAIMGUARD_ALLOWED_CLIENTS")
        return cls(
            issuers=issuers,
            audiences=audiences,
            jwks_url=jwks_url,
            algorithms=check_algorithms(merged["CLAIMGUARD_ALGORITHMS"]),
            roles_claims=roles_claims,
            leeway=_number(merged, "CLAIMGUARD_LEEWAY"),
            jwks_cache_ttl=_number(merged, "CLAIMGUARD_JWKS_CACHE_TTL"),
            jwks_cooldown=_number(merged, "CLAIMGUARD_JWKS_COOLDOWN"),
            jwks_max_stale=_number(merged, "CLAIMGUARD_JWKS_MAX_STALE"),
            http_timeout=_number(merged, "CLAIMGUARD_HTTP_TIMEOUT"),
            strict_typ=strict_typ,
            max_token_age=(
                None
                if merged["CLAIMGUARD_MAX_TOKEN_AGE"] is None
                else _number(merged, "CLAIMGUARD_MAX_TOKEN_AGE")
            ),
            allowed_clients=allowed or None,
            scope_claim=merged["CLAIMGUARD_SCOPE_CLAIM"],
            permissions_claim=merged["CLAIMGUARD_PERMISSIONS_CLAIM"],
            token_cache_size=_token_cache_size(merged),
            realm=realm,
        )

    def key_set(self, issuer: str, session: requests.Session | None = None) -> JWKSCache:
        """A new key cache for ``issuer`` under these settings."""
        options: dict[str, Any] = {
            "ttl": self.jwks_cache_ttl,
            "cooldown": self.jwks_cooldown,
            "max_stale": self.jwks_max_stale,
            "timeout": self.http_timeout,
            "session": session,
        }
        if self.jwks_url is not None:
            return JWKSCache(self.jwks_url, **options)
        return JWKSCache.from_discovery(issuer, **options)

    def build_validator(self, session: requests.Session | None = None) -> TokenValidator:
        """The :class:`TokenValidator` these settings describe.

        Issuers share one key set when a JWKS URL (or an Auth0 domain) is configured;
        otherwise each issuer gets its own, found by discovery.
        """
        if self.jwks_url is not None:
            shared = self.key_set(self.issuers[0], session)
            issuers = dict.fromkeys(self.issuers, shared)
        else:
            issuers = {issuer: self.key_set(issuer, session) for issuer in self.issuers}
        return TokenValidator(
            issuers=issuers,
            audiences=self.audiences,
            algorithms=self.algorithms,
            leeway=self.leeway,
            roles_claims=self.roles_claims,
            scope_claim=self.scope_claim,
            permissions_claim=self.permissions_claim,
            strict_typ=self.strict_typ,
            max_token_age=self.max_token_age,
            allowed_clients=self.allowed_clients,
            token_cache_size=self.token_cache_size,
        )


def _token_cache_size(config: Mapping[str, Any]) -> int:
    value = _number(config, "CLAIMGUARD_TOKEN_CACHE_SIZE")
    if value != int(value):
        raise ConfigurationError(
            f"CLAIMGUARD_TOKEN_CACHE_SIZE must be a whole number, got {value!r}"
        )
    return int(value)


def _check_realm(realm: object) -> None:
    # RFC 7235 §2.2 realm is a quoted-string; we keep it to printable ASCII without
    # quotes or backslashes so the challenge needs no escaping.
    if (
        not isinstance(realm, str)
        or not realm
        or any(ch in '"\\' or not " " <= ch <= "~" for ch in realm)
    ):
        raise ConfigurationError(
            f"CLAIMGUARD_REALM must be printable ASCII without quotes, got {realm!r}"
        )
