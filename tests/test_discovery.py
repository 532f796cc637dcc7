"""Where keys come from: URL rules, Auth0 domains and OpenID Connect discovery.

The network parts run against the ``ForgedIssuer`` and, for documents it would never
serve (a lying ``issuer``, an http:// ``jwks_uri``), the suite's loopback server on
127.0.0.1 (:class:`loopback.LoopbackServer`). Where a discovered ``jwks_uri`` may point
is tested on the rule itself, and end to end with a loopback issuer whose document
names a private address: nothing is ever sent off loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from claimguard import fetching
from claimguard.discovery import auth0_issuer
from claimguard.discovery import auth0_jwks_url
from claimguard.discovery import check_discovered_jwks_uri
from claimguard.discovery import check_issuer_url
from claimguard.discovery import check_url
from claimguard.discovery import discovery_url
from claimguard.discovery import is_loopback_url
from claimguard.discovery import on_issuer_host
from claimguard.errors import ConfigurationError
from claimguard.errors import KeySetUnavailableError
from claimguard.jwks import JWKSCache
from claimguard.testing import ForgedIssuer
from claimguard.testing.issuer import ForgedKey
from loopback import LoopbackServer

# -- check_url --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://tenant.us.auth0.com/.well-known/jwks.json",
        "https://keys.example.com:8443/path?query=1",
        "HTTPS://Keys.Example.com/",
        "http://127.0.0.1:8080/.well-known/jwks.json",
        "http://localhost/jwks",
        "http://LOCALHOST:3000/",
        "http://[::1]:9000/jwks",
    ],
)
def test_check_url_accepts_https_and_loopback_http(url: str) -> None:
    assert check_url(url, "JWKS URL") == url


@pytest.mark.parametrize(
    "url",
    [
        # plain http off loopback: keys could be swapped in transit (§5)
        "http://tenant.us.auth0.com/.well-known/jwks.json",
        "http://127.0.0.2/jwks",  # only 127.0.0.1 is named loopback here
        "http://localhost.evil.example/jwks",
        "http://127.0.0.1.nip.io/jwks",
        "http://[::2]/jwks",
        # other schemes
        "ftp://keys.example.com/jwks",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "//keys.example.com/jwks",
        "keys.example.com/jwks",
        # credentials in the URL would be sent (and logged)
        "https://user:secret@keys.example.com/jwks",
        "https://user@keys.example.com/jwks",
        "https://:secret@keys.example.com/jwks",
        "https://@keys.example.com/jwks",
        "https://keys.example.com\\@evil.example/jwks",
        # no host
        "https://",
        "https:///jwks",
        "http://:8080/jwks",
        # malformed ports
        "https://keys.example.com:99999/",
        "https://keys.example.com:port/",
        # whitespace and controls (urlsplit would drop tab/CR/LF and fetch another URL)
        "https://keys.example.com/jw ks",
        "https://keys.exa\tmple.com/jwks",
        "https://keys.example.com/jwks\n",
        "https://keys.example.com/\x00",
        # not strings at all
        "",
        None,
        42,
        b"https://keys.example.com/jwks",
    ],
)
def test_check_url_refuses(url: Any) -> None:
    with pytest.raises(ConfigurationError):
        check_url(url, "JWKS URL")


def test_check_url_error_names_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="CLAIMGUARD_JWKS_URL"):
        check_url("http://keys.example.com/", "CLAIMGUARD_JWKS_URL")


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:1/", True),
        ("http://[::1]/", True),
        ("http://localhost/", True),
        ("https://example.com/", False),
        ("http://127.0.0.1.example.com/", False),
        ("http://[::1/", False),  # unparsable
    ],
)
def test_is_loopback_url(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


@pytest.mark.parametrize(
    "issuer",
    [
        "https://issuer.example.com/?tenant=a",
        "https://issuer.example.com/#x",
        "https://i.example/?",
    ],
)
def test_issuer_has_no_query_or_fragment(issuer: str) -> None:
    """OIDC Discovery §3: the discovery path is appended to the issuer, so a query or
    fragment would send discovery somewhere else."""
    with pytest.raises(ConfigurationError):
        check_issuer_url(issuer)
    with pytest.raises(ConfigurationError):
        JWKSCache.from_discovery(issuer)


def test_check_issuer_url_accepts_a_plain_issuer() -> None:
    assert check_issuer_url("https://issuer.example.com/tenant/") == (
        "https://issuer.example.com/tenant/"
    )


# -- Auth0 domains --------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain",
    [
        "tenant.us.auth0.com",
        " tenant.us.auth0.com ",
        "tenant.us.auth0.com/",
        "Tenant.US.Auth0.com",  # host names are case-insensitive; iss is lower case
        # a pasted URL is forgiven: only its host counts
        "https://tenant.us.auth0.com/",
        "https://tenant.us.auth0.com",
        "http://tenant.us.auth0.com/",  # and it does not downgrade to http
        "HTTPS://tenant.us.auth0.com/.well-known/jwks.json",
        "https://tenant.us.auth0.com/.well-known/openid-configuration",
    ],
)
def test_auth0_issuer_and_jwks_url(domain: str) -> None:
    assert auth0_issuer(domain) == "https://tenant.us.auth0.com/"
    assert auth0_jwks_url(domain) == "https://tenant.us.auth0.com/.well-known/jwks.json"


@pytest.mark.parametrize(
    ("domain", "issuer"),
    [
        ("login.example.com", "https://login.example.com/"),  # a custom domain
        ("login.example.com:8443", "https://login.example.com:8443/"),
        ("localhost:3000", "http://localhost:3000/"),  # development on loopback
        ("127.0.0.1:8080", "http://127.0.0.1:8080/"),
        ("[::1]:8080", "http://[::1]:8080/"),
    ],
)
def test_auth0_issuer_other_hosts(domain: str, issuer: str) -> None:
    assert auth0_issuer(domain) == issuer


@pytest.mark.parametrize(
    "domain",
    [
        "",
        "   ",
        None,
        42,
        "https://",
        "tenant.us.auth0.com/some/path",
        # A pasted URL with any other path is refused, not cut down to its host: the
        # path may belong to the issuer, whose keys are not the host's.
        "https://acme.okta.com/oauth2/default",
        "https://x/y/z",
        "https://tenant.us.auth0.com/?",
        "https://tenant.us.auth0.com/?tenant=other",
        "https://tenant.us.auth0.com/#",
        "https://[::1/",
        "tenant.us.auth0.com?x=1",  # would put a query before /.well-known/jwks.json
        "tenant.us.auth0.com#frag",
        "user@tenant.us.auth0.com",
        "https://user:pw@tenant.us.auth0.com/",
        "tenant us.auth0.com",
        "tenant.us\n.auth0.com",
        "tenant..auth0.com",
        "-tenant.auth0.com",
        "tenant.auth0.com.",
        "tenant_1.auth0.com",
        "tenant.auth0.com:99999",
        "tenant.auth0.com:port",
        "ténant.auth0.com",
        "ftp://tenant.auth0.com",
    ],
)
def test_bad_domains_are_configuration_errors(domain: Any) -> None:
    with pytest.raises(ConfigurationError):
        auth0_issuer(domain)
    with pytest.raises(ConfigurationError):
        auth0_jwks_url(domain)


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        (
            "https://tenant.us.auth0.com/",
            "https://tenant.us.auth0.com/.well-known/openid-configuration",
        ),
        (
            "https://tenant.us.auth0.com",
            "https://tenant.us.auth0.com/.well-known/openid-configuration",
        ),
        # OIDC Discovery §4: a path stays, its terminating / is removed first
        (
            "https://idp.example.com/realms/x/",
            "https://idp.example.com/realms/x/.well-known/openid-configuration",
        ),
    ],
)
def test_discovery_url(issuer: str, expected: str) -> None:
    assert discovery_url(issuer) == expected


# -- discovery over HTTP ----------------------------------------------------------------


@pytest.fixture
def documents() -> Iterator[LoopbackServer]:
    """Serves fixed answers per path on 127.0.0.1 and counts requests per path."""
    with LoopbackServer() as server:
        yield server


CONFIG = "/.well-known/openid-configuration"


def test_from_discovery_finds_the_jwks_uri(forged_issuer: ForgedIssuer) -> None:
    """The issuer's discovery document names its jwks_uri; discovery runs once."""
    cache = JWKSCache.from_discovery(forged_issuer.issuer, cooldown=30)
    assert cache.url is None  # no I/O before first use
    assert forged_issuer.discovery_requests == 0
    assert cache.get_key(forged_issuer.kid).kid == forged_issuer.kid
    assert cache.url == forged_issuer.jwks_url
    assert cache.status().url == forged_issuer.jwks_url
    assert cache.refresh()
    assert forged_issuer.discovery_requests == 1
    assert forged_issuer.jwks_requests == 2


@pytest.mark.parametrize("forged_issuer", [{"trailing_slash": False}], indirect=True)
def test_from_discovery_without_a_trailing_slash(forged_issuer: ForgedIssuer) -> None:
    """Issuers without a trailing slash are discovered the same way."""
    assert not forged_issuer.issuer.endswith("/")
    cache = JWKSCache.from_discovery(forged_issuer.issuer)
    assert cache.get_key(forged_issuer.kid).kid == forged_issuer.kid


@pytest.mark.parametrize(
    ("forged_issuer", "configured_slash"),
    [({"trailing_slash": True}, False), ({"trailing_slash": False}, True)],
    indirect=["forged_issuer"],
)
def test_discovery_issuer_must_match_exactly(
    forged_issuer: ForgedIssuer, configured_slash: bool
) -> None:
    """OIDC Discovery §4.3: the document's issuer must equal the configured one exactly,
    trailing slash included; tokens are matched on iss exactly too."""
    configured = forged_issuer.base_url + ("/" if configured_slash else "")
    assert configured != forged_issuer.issuer
    cache = JWKSCache.from_discovery(configured)
    with pytest.raises(KeySetUnavailableError):
        cache.get_key(forged_issuer.kid)
    assert forged_issuer.discovery_requests == 1
    assert forged_issuer.jwks_requests == 0  # keys named by that document are not fetched
    last_error = cache.status().last_error
    assert last_error is not None
    assert "does not equal the configured issuer" in last_error
    assert cache.url is None


def test_discovery_document_naming_another_issuer_is_refused(
    documents: LoopbackServer,
) -> None:
    """Attack: a document served from one host that names keys for another issuer."""
    key = ForgedKey.generate("ES256")
    jwks = documents.serve({"keys": [key.public_jwk()]}, path="/keys")
    documents.serve({"issuer": "https://victim.example.com/", "jwks_uri": jwks}, path=CONFIG)
    cache = JWKSCache.from_discovery(documents.base_url + "/")
    with pytest.raises(KeySetUnavailableError):
        cache.get_key(key.kid)
    assert documents.hits("/keys") == 0


def _serve_discovery(documents: LoopbackServer, **members: Any) -> str:
    issuer = documents.base_url + "/"
    documents.serve({"issuer": issuer, **members}, path=CONFIG)
    return issuer


@pytest.mark.parametrize(
    "jwks_uri",
    [
        "http://keys.example.com/.well-known/jwks.json",  # http off loopback
        "https://user:pw@keys.example.com/jwks",
        "ftp://keys.example.com/jwks",
        "",
        None,
        42,
        ["https://keys.example.com/jwks"],
    ],
)
def test_unacceptable_jwks_uri_is_refused(documents: LoopbackServer, jwks_uri: Any) -> None:
    """A discovered jwks_uri follows the same URL rules as a configured one (§5)."""
    issuer = _serve_discovery(documents, jwks_uri=jwks_uri)
    cache = JWKSCache.from_discovery(issuer)
    with pytest.raises(KeySetUnavailableError):
        cache.get_key("any")
    last_error = cache.status().last_error
    assert last_error is not None
    assert "jwks_uri" in last_error
    assert cache.url is None


def test_missing_jwks_uri_is_refused(documents: LoopbackServer) -> None:
    issuer = _serve_discovery(documents)
    with pytest.raises(KeySetUnavailableError):
        JWKSCache.from_discovery(issuer).get_key("any")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[]", 200),  # not an object
        (b"not json", 200),
        (b'{"issuer": NaN}', 200),
        (b"{}", 404),
        (b"{}", 500),
    ],
)
def test_bad_discovery_answers_are_failed_fetches(
    documents: LoopbackServer, body: bytes, status: int
) -> None:
    documents.serve(body, path=CONFIG, status=status)
    cache = JWKSCache.from_discovery(documents.base_url + "/")
    with pytest.raises(KeySetUnavailableError):
        cache.get_key("any")
    assert cache.status().last_error is not None


def test_discovery_redirect_is_not_followed(documents: LoopbackServer) -> None:
    """Attack: a redirect from the discovery URL to a document naming other keys."""
    key = ForgedKey.generate("ES256")
    issuer = documents.base_url + "/"
    jwks = documents.serve({"keys": [key.public_jwk()]}, path="/keys")
    documents.serve({"issuer": issuer, "jwks_uri": jwks}, path="/elsewhere")
    documents.serve(b"", path=CONFIG, status=302, headers={"Location": "/elsewhere"})
    cache = JWKSCache.from_discovery(issuer)
    with pytest.raises(KeySetUnavailableError):
        cache.get_key(key.kid)
    assert documents.hits("/elsewhere") == 0
    assert documents.hits("/keys") == 0


def test_discovery_outage_is_503(forged_issuer: ForgedIssuer) -> None:
    cache = JWKSCache.from_discovery(forged_issuer.issuer, timeout=1)
    with forged_issuer.outage(), pytest.raises(KeySetUnavailableError):
        cache.get_key(forged_issuer.kid)
    assert forged_issuer.jwks_requests == 0


def test_discovery_runs_again_after_the_jwks_url_fails(forged_issuer: ForgedIssuer) -> None:
    """The jwks_uri may have moved: after a failed JWKS fetch the next fetch rediscovers,
    and the previous keys keep serving meanwhile."""
    cache = JWKSCache.from_discovery(forged_issuer.issuer)
    cache.get_key(forged_issuer.kid)
    with forged_issuer.jwks_response(b"{}", status=404):
        assert not cache.refresh()
    assert cache.url is None
    assert cache.get_key(forged_issuer.kid).kid == forged_issuer.kid
    assert cache.refresh()
    assert forged_issuer.discovery_requests == 2
    assert cache.url == forged_issuer.jwks_url


@pytest.mark.parametrize(
    "issuer",
    ["http://issuer.example.com/", "https://user:pw@issuer.example.com/", "issuer.example.com"],
)
def test_from_discovery_checks_the_issuer_url(issuer: str) -> None:
    with pytest.raises(ConfigurationError):
        JWKSCache.from_discovery(issuer)


# -- where a discovery document may send key fetches ------------------------------------

PUBLIC_ISSUER = "https://issuer.example.com/"


@pytest.mark.parametrize(
    "jwks_uri",
    [
        # loopback, in every spelling a resolver accepts
        "https://127.0.0.1/jwks",
        "https://127.0.0.1./jwks",
        "https://127.0.0.2:8443/jwks",
        "https://127.1/jwks",
        "https://2130706433/jwks",
        "https://0x7f000001/jwks",
        "https://0x7f.1/jwks",
        "https://0177.0.0.1/jwks",
        "https://[::1]/jwks",
        "https://[::ffff:127.0.0.1]/jwks",
        "https://[::ffff:7f00:1]/jwks",
        "https://localhost/jwks",
        "https://LOCALHOST./jwks",
        "https://foo.localhost/jwks",
        # private networks and the cloud metadata service
        "https://10.0.0.5/admin",
        "https://172.16.0.1/jwks",
        "https://172.31.255.254/jwks",
        "https://192.168.1.1/jwks",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/jwks",  # shared address space (RFC 6598)
        "https://[fc00::1]/jwks",
        "https://[fd12:3456::1]/jwks",
        "https://[fe80::1]/jwks",
        "https://[fe80::1%25eth0]/jwks",
        # unspecified, multicast, reserved
        "https://0.0.0.0/jwks",
        "https://0/jwks",
        "https://[::]/jwks",
        "https://224.0.0.1/jwks",
        "https://240.0.0.1/jwks",
        "https://255.255.255.255/jwks",
        # IPv6 that carries an IPv4 address inside
        "https://[::ffff:8.8.8.8]/jwks",
        "https://[2002:7f00:1::]/jwks",  # 6to4 of 127.0.0.1
        "https://[64:ff9b::7f00:1]/jwks",  # NAT64 of 127.0.0.1
        # numeric hosts that are not a dotted quad, and other odd hosts
        "https://1.2.3.4.5/jwks",
        "https://8.8.8.08/jwks",
        "https://[v1.fe]/jwks",
        "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/jwks",  # 127.0.0.1, full-width
        # plain http, loopback or not
        "http://keys.example.com/jwks",
        "http://127.0.0.1/jwks",
        "http://localhost:8080/jwks",
        "http://[::1]/jwks",
        # what check_url refuses anyway
        "https://user:pw@keys.example.com/jwks",
        "ftp://keys.example.com/jwks",
        "https://keys.example.com/jw ks",
        "https://[::1/jwks",
        "",
        None,
        42,
        ["https://keys.example.com/jwks"],
    ],
)
def test_discovered_jwks_uri_aiming_inward_is_refused(jwks_uri: Any) -> None:
    """A public issuer's discovery document may not aim key fetches at this machine or
    its networks (RFC 6890 special-purpose ranges), nor over plain http (RFC 8414 §2)."""
    with pytest.raises(ConfigurationError, match="discovered jwks_uri"):
        check_discovered_jwks_uri(jwks_uri, PUBLIC_ISSUER)


@pytest.mark.parametrize(
    "jwks_uri",
    [
        "https://issuer.example.com/.well-known/jwks.json",
        "https://www.googleapis.com/oauth2/v3/certs",  # another host: allowed, logged
        "https://keys.example.com:8443/jwks?v=2",
        "https://8.8.8.8/jwks",  # a global address in its canonical spelling
        "https://[2606:4700:4700::1111]/jwks",
        "https://xn--bcher-kva.example/jwks",  # an international name as its A-label
        "https://10.example.com/jwks",  # numbers inside a name do not make an address
        "https://localhost.example.com/jwks",
        "HTTPS://Keys.Example.COM/jwks",
    ],
)
def test_discovered_jwks_uri_on_a_public_host_is_accepted(jwks_uri: str) -> None:
    assert check_discovered_jwks_uri(jwks_uri, PUBLIC_ISSUER) == jwks_uri


@pytest.mark.parametrize(
    "issuer", ["http://127.0.0.1:8080/", "http://localhost:3000/", "http://[::1]:9/"]
)
@pytest.mark.parametrize(
    "jwks_uri",
    [
        "http://127.0.0.1:8080/.well-known/jwks.json",
        "http://localhost:4000/jwks",
        "https://[::1]:8443/jwks",
    ],
)
def test_loopback_jwks_uri_is_allowed_when_the_issuer_is_on_loopback(
    issuer: str, jwks_uri: str
) -> None:
    """Development and tests: an issuer on this machine may keep its keys here too."""
    assert check_discovered_jwks_uri(jwks_uri, issuer) == jwks_uri


@pytest.mark.parametrize(
    "jwks_uri",
    [
        "https://10.0.0.5/jwks",
        "https://169.254.169.254/latest/meta-data/",
        "https://127.1/jwks",
        "https://foo.localhost/jwks",
        "http://10.0.0.5/jwks",
        "http://keys.example.com/jwks",
        "ftp://127.0.0.1/jwks",
    ],
)
def test_a_loopback_issuer_still_cannot_aim_elsewhere_inward(jwks_uri: str) -> None:
    """Only loopback is excused for a loopback issuer, not the rest of the network."""
    with pytest.raises(ConfigurationError):
        check_discovered_jwks_uri(jwks_uri, "http://127.0.0.1:8080/")


@pytest.mark.parametrize(
    "jwks_uri",
    [
        "https://10.0.0.1/" + "\u202e\x1b[31m" + "x" * 5000,
        "https://evil\x1b[2J.example/",
        "https://10.0.0.1/\n2026-01-01 CRITICAL forged log line",
    ],
)
def test_a_refusal_is_safe_to_log(jwks_uri: str) -> None:
    """The reason ends up in logs and in the readiness report: the URL in it is escaped
    and cut short."""
    with pytest.raises(ConfigurationError) as refused:
        check_discovered_jwks_uri(jwks_uri, PUBLIC_ISSUER)
    message = str(refused.value)
    assert message.isascii()
    assert message.isprintable()
    assert len(message) < 300


@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("https://issuer.example.com/jwks", True),
        ("https://ISSUER.example.com.:8443/jwks", True),
        ("https://keys.issuer.example.com/jwks", False),
        ("https://www.googleapis.com/oauth2/v3/certs", False),
    ],
)
def test_on_issuer_host(url: str, same: bool) -> None:
    assert on_issuer_host(url, PUBLIC_ISSUER) is same


def test_a_loopback_issuer_naming_a_private_https_jwks_uri_is_a_failed_fetch(
    documents: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end over loopback: the discovery document is fetched, its private-address
    jwks_uri is refused, and no request is even attempted there."""
    attempted: list[str] = []
    send = fetching._TrackingAdapter.send

    def spy(adapter: Any, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        attempted.append(str(request.url))
        if not str(request.url).startswith(documents.base_url):
            raise requests.ConnectionError("not sent off loopback")  # never the network
        return send(adapter, request, **kwargs)

    monkeypatch.setattr(fetching._TrackingAdapter, "send", spy)
    for target in ("https://10.255.255.1/jwks", "https://169.254.169.254/latest/meta-data/"):
        attempted.clear()
        issuer = _serve_discovery(documents, jwks_uri=target)
        cache = JWKSCache.from_discovery(issuer, timeout=1)
        with pytest.raises(KeySetUnavailableError):
            cache.get_key("any")
        assert attempted == [documents.base_url + CONFIG]
        last_error = cache.status().last_error or ""
        assert "jwks_uri" in last_error
        assert "address" in last_error
        assert cache.url is None
