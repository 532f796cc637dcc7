"""Where an issuer's keys live: URL rules, Auth0 domains and OIDC discovery.

* An Auth0 tenant (or custom) domain gives the issuer ``https://DOMAIN/`` and the JWKS
  ``https://DOMAIN/.well-known/jwks.json``.
* Any other issuer publishes ``jwks_uri`` in its OpenID Connect discovery document at
  ``ISSUER/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0 §4). That
  document's ``issuer`` must equal the issuer it was fetched for (§4.3), or a document
  served from one place could name keys for another.
* Every URL is ``https://``; plain ``http://`` is allowed only on loopback hosts, for
  development and tests.
* A ``jwks_uri`` read from a discovery document is data from the network, not
  configuration: it must be ``https://`` and may not aim at this machine or its network
  (see :func:`check_discovered_jwks_uri`). A configured JWKS URL is trusted as written.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .errors import loggable

__all__ = [
    "auth0_issuer",
    "auth0_jwks_url",
    "check_discovered_jwks_uri",
    "check_issuer_url",
    "check_url",
    "discovery_url",
    "is_loopback_url",
    "on_issuer_host",
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


class _BadURL(Exception):
    """Why a URL cannot be fetched from, phrased without the URL itself."""


def _split(url: object) -> SplitResult:
    """Parse a URL to fetch from, whatever its scheme.

    :raises _BadURL: not a string, spaces or controls, unparsable, no host, credentials.
    """
    if not isinstance(url, str) or not url:
        raise _BadURL("is not a non-empty URL string")
    if _NOT_IN_URLS.search(url):
        raise _BadURL("contains spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise _BadURL("is not a valid URL (malformed host or port)") from None
    if not host:
        raise _BadURL("has no host")
    if parts.username is not None or parts.password is not None:
        raise _BadURL("must not carry credentials")
    return parts


def check_url(url: object, what: str) -> str:
    """Return ``url`` if it is an acceptable issuer, discovery or JWKS URL.

    :raises ConfigurationError: not a string, not ``https://`` (``http://`` is allowed
        on loopback only), no host, or credentials in the URL.
    """
    try:
        parts = _split(url)
    except _BadURL as exc:
        raise ConfigurationError(f"{what} {url!r} {exc}") from None
    assert isinstance(url, str)  # _split admits strings only
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
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


def _domain_host(domain: str, what: str) -> str:
    if not isinstance(domain, str) or not domain.strip():
        raise ConfigurationError(f"{what} must be a host name, got {domain!r}")
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
                f"{what} must be a host name such as 'my-tenant.us.auth0.com', "
                f"got the URL {domain!r}; for an issuer with a path, configure the issuer "
                "itself (CLAIMGUARD_ISSUER, or JWKSCache.from_discovery)"
            )
        host = parts.netloc
    # Host names are case-insensitive (RFC 3986 §3.2.2) and Auth0 writes its issuer in
    # lower case; the issuer is then compared exactly, so normalise here.
    host = host.rstrip("/").lower()
    if not _DOMAIN.fullmatch(host):
        raise ConfigurationError(
            f"{what} must be a host name such as 'my-tenant.us.auth0.com', got {domain!r}"
        )
    return host


def auth0_issuer(domain: str, what: str = "CLAIMGUARD_DOMAIN") -> str:
    """The issuer of an Auth0 domain: ``https://DOMAIN/`` (with the trailing slash).

    ``what`` is the name errors give the domain: the setting, or a keyword argument.

    A loopback domain (``localhost:3000``, ``127.0.0.1``, ``[::1]``) gives ``http://``,
    for development.
    """
    host = _domain_host(domain, what)
    try:
        hostname = urlsplit(f"//{host}").hostname
    except ValueError:  # pragma: no cover - the pattern above admits no such host
        hostname = None
    scheme = "http" if hostname in _LOOPBACK_HOSTS else "https"
    return check_url(f"{scheme}://{host}/", what)


def auth0_jwks_url(domain: str, what: str = "CLAIMGUARD_DOMAIN") -> str:
    """The JWKS URL of an Auth0 domain: ``https://DOMAIN/.well-known/jwks.json``."""
    return auth0_issuer(domain, what) + ".well-known/jwks.json"


def discovery_url(issuer: str) -> str:
    """The OpenID Connect discovery URL of ``issuer`` (Discovery 1.0 §4)."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


# -- where a discovery document may send key fetches ------------------------------------

# RFC 6761 §6.3: "localhost." and every name under it resolve to loopback.
_LOCALHOST = re.compile(r"(?:.*\.)?localhost")
# A host whose last label is a number is an IPv4 address to URL parsers and resolvers
# alike (WHATWG URL Standard, "ends in a number"; inet_aton): decimal, 0x-hex and
# leading-zero octal parts, and fewer than four of them, all reach some address.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
# IPv6 ranges that carry an IPv4 address inside, which the network may reach instead:
# IPv4-mapped (RFC 4291 §2.5.5.2), IPv4-compatible (§2.5.5.1, deprecated), 6to4
# (RFC 3056), Teredo (RFC 4380) and NAT64 (RFC 6052 §2.1, RFC 8215).
_EMBEDS_IPV4 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::ffff:0:0/96",
        "::/96",
        "2002::/16",
        "2001::/32",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
    )
)


def _address_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Which special-purpose range ``address`` is in (RFC 6890), or ``None`` if global."""
    # Each flag is checked, not just is_global: their meanings have changed between
    # Python releases, and a range one of them missed would be a way in.
    for kind, inward in (
        ("a loopback address", address.is_loopback),
        ("an unspecified address", address.is_unspecified),
        ("a link-local address", address.is_link_local),
        ("a private address", address.is_private),
        ("a multicast address", address.is_multicast),
        ("a reserved address", address.is_reserved),
        ("a site-local address", getattr(address, "is_site_local", False)),
        ("not a global address", not address.is_global),
    ):
        if inward:
            return kind
    if isinstance(address, ipaddress.IPv6Address) and any(
        address in network for network in _EMBEDS_IPV4
    ):
        return "an IPv6 address that embeds an IPv4 one"
    return None


def _inward_host(parts: SplitResult) -> str | None:
    """Why the host of ``parts`` may lead inward, or ``None`` if it is a public name or
    a global address. Judged by spelling alone: names are not resolved."""
    host = parts.hostname or ""
    if not host.isascii():
        # IDNA mapping (UTS #46) folds full-width digits and dots to ASCII, so 127.0.0.1
        # written in full-width digits would be fetched from 127.0.0.1. An
        # internationalised name is written as its A-label (RFC 5890 §2.3.2.1: "xn--").
        return "has a non-ASCII host (write an international name as its xn-- A-label)"
    if "[" in parts.netloc:  # RFC 3986 §3.2.2: brackets hold an IP literal, nothing else
        try:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv6Address(host)
        except ValueError:
            return "has a bracketed host that is not an IPv6 address"
    else:
        name = host.rstrip(".")  # "localhost." is localhost: a trailing dot is the root
        if _LOCALHOST.fullmatch(name):
            return "names this machine (localhost, RFC 6761 §6.3)"
        if not _NUMERIC_LABEL.fullmatch(name.rpartition(".")[2]):
            return None  # a DNS name
        try:
            address = ipaddress.IPv4Address(name)  # only the canonical dotted quad parses
        except ValueError:
            return "spells an IPv4 address other than as a dotted quad"
    kind = _address_kind(address)
    return None if kind is None else f"is {kind} (RFC 6890)"


def _host_of(url: str) -> str:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    return (host or "").rstrip(".")


def on_issuer_host(url: str, issuer: str) -> bool:
    """Whether ``url`` is on the issuer's own host (the port aside; names case-folded)."""
    return _host_of(url) == _host_of(issuer)


def check_discovered_jwks_uri(url: object, issuer: str) -> str:
    """Return ``url`` if a discovery document may send key fetches there.

    A discovery document comes from the network: whoever controls it (a compromised
    identity provider, or anyone who can answer for it) chooses its ``jwks_uri``. Were
    any fetchable URL accepted, that document could aim the API host's key fetches
    inward -- at ``127.0.0.1:6379``, at the cloud metadata service on
    ``169.254.169.254``, at an admin panel on ``10.0.0.5`` -- and read each fetch's
    outcome back from the readiness report: a port scanner run from inside.
    So, besides :func:`check_url`'s rules (a host, no credentials, no spaces):

    * **https only.** RFC 8414 §2: ``jwks_uri`` "MUST use the https scheme". It
      names the keys that verify every token (OpenID Connect Discovery 1.0 §3), so
      it gets no weaker transport than the issuer itself.
    * **No loopback names.** ``localhost`` and any ``*.localhost`` (RFC 6761 §6.3).
    * **No special-purpose addresses.** An IP literal must be global: loopback,
      private, shared (100.64/10), link-local, unspecified, multicast and reserved
      ranges are refused (the special-purpose registries of RFC 6890), and so is any
      IPv6 literal that embeds an IPv4 address (``[::ffff:127.0.0.1]``, 6to4, NAT64).
    * **One spelling of IPv4.** ``127.1``, ``2130706433``, ``0x7f000001`` and
      ``0177.0.0.1`` all reach 127.0.0.1 (resolvers accept the ``inet_aton`` forms). A
      host whose last label is a number is an address, and only the canonical dotted
      quad is judged; any other numeric spelling is refused outright.
    * **ASCII hosts.** IDNA mapping (UTS #46) would fold ``127.0.0.1`` written in
      full-width digits back to ``127.0.0.1``; an international name is sent as its
      ``xn--`` A-label anyway.

    The one exception is development: when the issuer itself is on loopback
    (``127.0.0.1``, ``::1`` or ``localhost``), a loopback ``jwks_uri`` is allowed as
    :func:`check_url` allows it, plain ``http://`` included. Other inward addresses
    stay refused even then.

    Host *names* are judged by their spelling, never resolved: a public name whose
    DNS answer is a private address (``127.0.0.1.nip.io``, DNS rebinding) passes here.
    Egress rules on the API host are the place to stop that. A JWKS URL set in the
    configuration (``CLAIMGUARD_JWKS_URL``) is trusted as configured and never comes
    through this check: set it for an issuer whose keys really are on a private network.

    :raises ConfigurationError: the URL is refused; the message is safe to log and to
        show in a readiness report (the URL in it is escaped and cut short).
    """
    what = f"discovered jwks_uri {loggable(url)}"
    try:
        parts = _split(url)
    except _BadURL as exc:
        raise ConfigurationError(f"{what} {exc}") from None
    assert isinstance(url, str)  # _split admits strings only
    if is_loopback_url(issuer) and parts.hostname in _LOOPBACK_HOSTS:
        if parts.scheme in ("https", "http"):  # development: as check_url allows it
            return url
        raise ConfigurationError(f"{what} must use https:// (or http:// on loopback)")
    if parts.scheme != "https":  # RFC 8414 §2: jwks_uri MUST use the https scheme
        raise ConfigurationError(f"{what} must use https://")
    reason = _inward_host(parts)
    if reason is not None:
        raise ConfigurationError(f"{what} {reason}: refused, it could aim fetches inward")
    return url
