"""Where an issuer's keys live: URL rules, Auth0 domains and OIDC discovery.

* An Auth0 tenant (or custom) domain gives the issuer ``https://DOMAIN/`` and the JWKS
  ``https://DOMAIN/.well-known/jwks.json``.
* Any other issuer publishes ``jwks_uri`` in its OpenID Connect discovery document at
  ``ISSUER/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0 §4). That
  document's ``issuer`` must equal the issuer it was fetched for (§4.3), or a document
  served from one place could name keys for another.
* Every URL is ``https://``; plain ``http://`` is allowed only on loopback hosts, for
  development and tests.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = [
    "auth0_issuer",
    "auth0_jwks_url",
    "check_url",
    "discovery_url",
    "is_loopback_url",
]

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (``127.0.0.1``, ``::1`` or ``localhost``)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return host in _LOOPBACK_HOSTS


def check_url(url: object, what: str) -> str:
    """Return ``url`` if it is an acceptable issuer, discovery or JWKS URL.

    :raises ConfigurationError: not a string, not ``https://`` (``http://`` is allowed
        on loopback only), no host, or credentials in the URL.
    """
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{what} must be a non-empty URL string, got {url!r}")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise ConfigurationError(f"{what} {url!r} is not a valid URL: {exc}") from None
    if not host:
        raise ConfigurationError(f"{what} {url!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"{what} {url!r} must not carry credentials")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and host in _LOOPBACK_HOSTS:
        return url
    raise ConfigurationError(
        f"{what} {url!r} must use https:// (plain http:// is allowed only on "
        "127.0.0.1, ::1 or localhost, for development)"
    )


def _domain_host(domain: str) -> str:
    if not isinstance(domain, str) or not domain.strip():
        raise ConfigurationError(f"CLAIMGUARD_DOMAIN must be a host name, got {domain!r}")
    host = domain.strip()
    if host.startswith(("https://", "http://")):
        # Forgive a pasted URL, but only its host part counts.
        host = urlsplit(host).netloc
    host = host.rstrip("/")
    if not host or "/" in host or "@" in host or " " in host:
        raise ConfigurationError(
            f"CLAIMGUARD_DOMAIN must be a host name such as 'my-tenant.us.auth0.com', "
            f"got {domain!r}"
        )
    return host


def auth0_issuer(domain: str) -> str:
    """The issuer of an Auth0 domain: ``https://DOMAIN/`` (with the trailing slash)."""
    host = _domain_host(domain)
    scheme = "http" if host.split(":")[0] in _LOOPBACK_HOSTS else "https"
    return check_url(f"{scheme}://{host}/", "CLAIMGUARD_DOMAIN")


def auth0_jwks_url(domain: str) -> str:
    """The JWKS URL of an Auth0 domain: ``https://DOMAIN/.well-known/jwks.json``."""
    return auth0_issuer(domain) + ".well-known/jwks.json"


def discovery_url(issuer: str) -> str:
    """The OpenID Connect discovery URL of ``issuer`` (Discovery 1.0 §4)."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"
