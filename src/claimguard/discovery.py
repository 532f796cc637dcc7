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

import re
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = [
    "auth0_issuer",
    "auth0_jwks_url",
    "check_issuer_url",
    "check_url",
    "discovery_url",
    "is_loopback_url",
]

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
# Space, controls and DEL never appear in a URI (RFC 3986 §2); urlsplit would quietly
# drop some of them (tab, CR, LF), so the URL fetched would differ from the one checked.
_NOT_IN_URLS = re.compile(r"[\x00-\x20\x7f]")
# A domain setting: DNS labels (RFC 1123 §2.1) or a bracketed IPv6 literal, and an
# optional port. Anything else (paths, queries, credentials) is not a host name.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PASTED_PATHS = frozenset({"", "/", "/.well-known/jwks.json", "/.well-known/openid-configuration"})
_DOMAIN = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\])(?::[0-9]{{1,5}})?")


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
    if _NOT_IN_URLS.search(url):
        raise ConfigurationError(f"{what} {url!r} contains spaces or control characters")
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


def check_issuer_url(url: object, what: str = "issuer") -> str:
    """Return ``url`` if it can be an issuer identifier to run discovery on.

    Besides :func:`check_url`'s rules, an issuer has no query or fragment (OpenID
    Connect Discovery 1.0 §3, ``issuer``): the discovery path is appended to it.

    :raises ConfigurationError: the URL cannot be an issuer.
    """
    checked = check_url(url, what)
    parts = urlsplit(checked)
    if parts.query or parts.fragment or checked.endswith(("?", "#")):
        raise ConfigurationError(f"{what} {checked!r} must not have a query or fragment")
    return checked


def _domain_host(domain: str) -> str:
    if not isinstance(domain, str) or not domain.strip():
        raise ConfigurationError(f"CLAIMGUARD_DOMAIN must be a host name, got {domain!r}")
    host = domain.strip()
    if host.lower().startswith(("https://", "http://")):
        # Forgive a pasted tenant URL (or its JWKS or discovery URL) and keep its host.
        # Any other path is refused, not dropped: it may be part of an issuer
        # (``https://acme.okta.com/oauth2/default``), whose keys live elsewhere.
        try:
            parts = urlsplit(host)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = None
        if parts is None or parts.path not in _PASTED_PATHS or "?" in host or "#" in host:
            raise ConfigurationError(
                f"CLAIMGUARD_DOMAIN must be a host name such as 'my-tenant.us.auth0.com', "
                f"got the URL {domain!r}; for an issuer with a path, set CLAIMGUARD_ISSUER"
            )
        host = parts.netloc
    # Host names are case-insensitive (RFC 3986 §3.2.2) and Auth0 writes its issuer in
    # lower case; the issuer is then compared exactly, so normalise here.
    host = host.rstrip("/").lower()
    if not _DOMAIN.fullmatch(host):
        raise ConfigurationError(
            f"CLAIMGUARD_DOMAIN must be a host name such as 'my-tenant.us.auth0.com', "
            f"got {domain!r}"
        )
    return host


def auth0_issuer(domain: str) -> str:
    """The issuer of an Auth0 domain: ``https://DOMAIN/`` (with the trailing slash).

    A loopback domain (``localhost:3000``, ``127.0.0.1``, ``[::1]``) gives ``http://``,
    for development.
    """
    host = _domain_host(domain)
    try:
        hostname = urlsplit(f"//{host}").hostname
    except ValueError:  # pragma: no cover - the pattern above admits no such host
        hostname = None
    scheme = "http" if hostname in _LOOPBACK_HOSTS else "https"
    return check_url(f"{scheme}://{host}/", "CLAIMGUARD_DOMAIN")


def auth0_jwks_url(domain: str) -> str:
    """The JWKS URL of an Auth0 domain: ``https://DOMAIN/.well-known/jwks.json``."""
    return auth0_issuer(domain) + ".well-known/jwks.json"


def discovery_url(issuer: str) -> str:
    """The OpenID Connect discovery URL of ``issuer`` (Discovery 1.0 §4)."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"
