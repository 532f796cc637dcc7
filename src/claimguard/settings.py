"""The ``CLAIMGUARD_*`` settings of an app, and the validator they build.

Flask-free: :meth:`Settings.from_mapping` takes any mapping (``app.config``, a dict).
Keys, defaults and ranges come from the one table in :mod:`claimguard.options`, which
the core's constructors check against too. Every problem is a
:class:`~claimguard.errors.ConfigurationError` raised at start-up, naming the key, with
a message that says what to fix: never a surprise on the first request.
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
from .dpop_settings import DPoPSettings
from .errors import ConfigurationError
from .jwks import JWKSCache
from .options import ALGORITHMS
from .options import ALLOWED_CLIENTS
from .options import AUDIENCE
from .options import DEFAULTS
from .options import DOMAIN
from .options import HTTP_TIMEOUT
from .options import ISSUER
from .options import JWKS_CACHE_TTL
from .options import JWKS_COOLDOWN
from .options import JWKS_MAX_STALE
from .options import JWKS_URL
from .options import LEEWAY
from .options import MAX_TOKEN_AGE
from .options import PERMISSIONS_CLAIM
from .options import REALM
from .options import ROLES_CLAIM
from .options import SCOPE_CLAIM
from .options import STRICT_TYP
from .options import TOKEN_CACHE_SIZE
from .options import Option
from .options import check_algorithms
from .options import check_audiences
from .options import check_flag
from .options import check_strings
from .validation import TokenValidator

__all__ = ["DEFAULTS", "Settings"]

log = logging.getLogger("claimguard")


@dataclass(frozen=True)
class Settings:
    """Validated claimguard settings (see the configuration page of the documentation)."""

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
    #: DPoP (RFC 9449) and the public URL proofs name.
    dpop: DPoPSettings

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> Settings:
        """Read and validate every ``CLAIMGUARD_*`` key of ``config``.

        Missing keys take their defaults. An unknown ``CLAIMGUARD_*`` key is an error:
        a typo in a security setting must not be silently ignored. Errors name the key.

        :raises ConfigurationError: with a message that says what to fix.
        """
        merged = _merged(config)
        issuers = _issuers(merged)
        jwks_url = _jwks_url(merged)
        audiences = _audiences(merged)
        roles_claims = _roles_claims(merged)
        strict_typ = check_flag(STRICT_TYP.key, merged[STRICT_TYP.key])
        realm = _realm(merged)
        allowed = _strings(merged, ALLOWED_CLIENTS) or None
        check_audiences(audiences, allowed, AUDIENCE.key)
        return cls(
            issuers=issuers,
            audiences=audiences,
            jwks_url=jwks_url,
            algorithms=check_algorithms(merged[ALGORITHMS.key], ALGORITHMS.key),
            roles_claims=roles_claims,
            leeway=_number(merged, LEEWAY),
            jwks_cache_ttl=_number(merged, JWKS_CACHE_TTL),
            jwks_cooldown=_number(merged, JWKS_COOLDOWN),
            jwks_max_stale=_number(merged, JWKS_MAX_STALE),
            http_timeout=_number(merged, HTTP_TIMEOUT),
            strict_typ=strict_typ,
            max_token_age=None
            if merged[MAX_TOKEN_AGE.key] is None
            else _number(merged, MAX_TOKEN_AGE),
            allowed_clients=allowed,
            scope_claim=merged[SCOPE_CLAIM.key],
            permissions_claim=merged[PERMISSIONS_CLAIM.key],
            token_cache_size=int(_number(merged, TOKEN_CACHE_SIZE)),
            realm=realm,
            dpop=DPoPSettings.from_mapping(merged),
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


# -- reading app.config, one setting (or a few that go together) at a time --------------


def _merged(config: Mapping[str, Any]) -> dict[str, Any]:
    """Every ``CLAIMGUARD_*`` setting: ``config``'s value, else the default.

    :raises ConfigurationError: ``config`` has an unknown ``CLAIMGUARD_*`` key.
    """
    for key in config:
        if isinstance(key, str) and key.startswith("CLAIMGUARD_") and key not in DEFAULTS:
            close = difflib.get_close_matches(key, DEFAULTS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigurationError(f"unknown setting {key}{hint}")
    return {**DEFAULTS, **{k: v for k, v in config.items() if k in DEFAULTS}}


def _number(config: Mapping[str, Any], option: Option) -> float:
    return option.number(config[option.key], option.key)


def _strings(config: Mapping[str, Any], option: Option) -> tuple[str, ...]:
    """An optional string-or-list setting; unset (or an empty list) is ``()``."""
    value = config.get(option.key)
    if value is None or value == [] or value == ():
        return ()
    return check_strings(option.key, value)


def _issuers(config: Mapping[str, Any]) -> tuple[str, ...]:
    """``CLAIMGUARD_ISSUER``, else the issuer of ``CLAIMGUARD_DOMAIN``."""
    issuers = _strings(config, ISSUER)
    domain = config[DOMAIN.key]
    if domain is not None and not issuers:
        issuers = (auth0_issuer(domain),)
    if not issuers:
        raise ConfigurationError(
            "no issuer configured: set CLAIMGUARD_DOMAIN (your Auth0 tenant, e.g. "
            "'my-tenant.us.auth0.com') or CLAIMGUARD_ISSUER (the exact iss value)"
        )
    for issuer in issuers:
        check_issuer_url(issuer, ISSUER.key)
    return issuers


def _jwks_url(config: Mapping[str, Any]) -> str | None:
    """``CLAIMGUARD_JWKS_URL``, else the Auth0 domain's; ``None``: discovery per issuer."""
    jwks_url = config[JWKS_URL.key]
    if jwks_url is not None:
        return check_url(jwks_url, JWKS_URL.key)
    domain = config[DOMAIN.key]
    return None if domain is None else auth0_jwks_url(domain)


def _audiences(config: Mapping[str, Any]) -> tuple[str, ...]:
    audiences = _strings(config, AUDIENCE)
    if not audiences:
        raise ConfigurationError(
            "CLAIMGUARD_AUDIENCE is required: set it to your API identifier (the "
            "'Identifier' of the API in the Auth0 dashboard, e.g. "
            "'https://products.example.com')"
        )
    return audiences


def _roles_claims(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The roles claims; a name that is not a URI is allowed, with a warning."""
    roles_claims = _strings(config, ROLES_CLAIM)
    for name in roles_claims:
        check_roles_claim(name, ROLES_CLAIM.key)
        if not name.startswith("/") and not _is_uri(name):
            log.warning(
                "CLAIMGUARD_ROLES_CLAIM %r is not a URI. Namespace custom claims, e.g. "
                "'https://my-app.example.com/roles': Auth0 drops non-namespaced custom "
                "claims that collide with standard ones, and a collision can grant "
                "roles nobody meant to grant.",
                name,
            )
    return roles_claims


def _is_uri(name: str) -> bool:
    parts = urlsplit(name)
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme == "urn")


def _realm(config: Mapping[str, Any]) -> str:
    # RFC 7235 §2.2 realm is a quoted-string; we keep it to printable ASCII without
    # quotes or backslashes so the challenge needs no escaping.
    realm = config[REALM.key]
    if (
        not isinstance(realm, str)
        or not realm
        or any(ch in '"\\' or not " " <= ch <= "~" for ch in realm)
    ):
        raise ConfigurationError(
            f"CLAIMGUARD_REALM must be printable ASCII without quotes, got {realm!r}"
        )
    return realm
