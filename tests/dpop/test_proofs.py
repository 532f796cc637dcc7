"""DPoP proofs checked through a Flask app: each check of RFC 9449 §4.3 refused with its
reason code, and the URL a proof must name (``htu``): from the request's scheme,
``Host``, ``SCRIPT_NAME`` and path, or from ``CLAIMGUARD_PUBLIC_URL``.

A control request with a right proof passes on each app, so every refusal below comes
from the one thing its proof gets wrong.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from werkzeug.test import create_environ
from werkzeug.wrappers import Response

from claimguard.dpop_errors import DPoPProofError
from claimguard.dpop_request import request_url
from claimguard.testing import DPoPKey
from claimguard.testing import ForgedIssuer
from claimguard.testing import make_proof

from .app import ORIGIN
from .app import assert_refused
from .app import build_app
from .app import dpop
from .app import send

OTHER = DPoPKey.generate()


# -- each check --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proof", "reason"),
    [
        ({"htm": "POST"}, "dpop.method"),
        ({"htm": "get"}, "dpop.method"),
        ({"url": ORIGIN + "/admin"}, "dpop.url"),
        ({"url": "http://evil.example/auth"}, "dpop.url"),
        ({"url": "http://localhost:8080/auth"}, "dpop.url"),
        ({"url": "https://localhost/auth"}, "dpop.url"),
        ({"access_token": "another.access.token"}, "dpop.ath"),
        ({"claim_overrides": {"ath": None}}, "dpop.ath"),
        ({"iat": time.time() - 3600}, "dpop.iat"),
        ({"iat": time.time() + 3600}, "dpop.iat"),
        ({"header_overrides": {"jwk": "PRIVATE"}}, "dpop.key"),
        ({"header_overrides": {"jwk": {"kty": "oct", "k": "c2VjcmV0"}}}, "dpop.key"),
        ({"alg": "HS256"}, "dpop.algorithm"),
        ({"alg": "ES384"}, "dpop.algorithm"),
        ({"sign_with": OTHER}, "dpop.signature"),
        ({"header_overrides": {"jwk": OTHER.public_jwk}, "sign_with": OTHER}, "dpop.binding"),
        ({"header_overrides": {"typ": "JWT"}}, "dpop.type"),
        ({"header_overrides": {"typ": None}}, "dpop.type"),
        ({"claim_overrides": {"jti": None}}, "dpop.jti"),
        ({"header_overrides": {"crit": ["exp"]}}, "dpop.header"),
        ({"header_overrides": {"b64": False, "crit": ["b64"]}}, "dpop.header"),
    ],
    ids=[
        "htm-other",
        "htm-case",
        "htu-other-path",
        "htu-other-host",
        "htu-other-port",
        "htu-other-scheme",
        "ath-other-token",
        "ath-missing",
        "iat-too-old",
        "iat-too-far-ahead",
        "jwk-private",
        "jwk-symmetric",
        "alg-hs256",
        "alg-not-allowed",
        "signed-by-another-key",
        "another-key-altogether",
        "typ-jwt",
        "typ-missing",
        "jti-missing",
        "crit",
        "b64",
    ],
)
def test_each_check_refuses_with_its_reason(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str], proof: dict[str, Any], reason: str
) -> None:
    client = build_app(issuer, mode="required").test_client()
    token = issuer.mint(dpop_key=key)
    if proof.get("header_overrides", {}).get("jwk") == "PRIVATE":
        proof["header_overrides"] = {"jwk": key.private_jwk}
    response = send(client, key, token, **proof)
    assert_refused(response, 401, reason, reasons)
    assert response.get_json()["error"] == "invalid_dpop_proof"
    assert send(client, key, token).status_code == 200  # the control: a right proof


def test_an_unsigned_proof_is_refused(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    """``alg: none`` has an empty signature: no compact JWS the parser reads (400)."""
    client = build_app(issuer, mode="required").test_client()
    token = issuer.mint(dpop_key=key)
    response = send(client, key, token, alg="none")
    assert_refused(response, 400, "dpop.malformed", reasons)
    signed = send(client, key, token, header_overrides={"alg": "none"})
    assert_refused(signed, 401, "dpop.algorithm", reasons)


def test_a_proof_is_used_once(issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]) -> None:
    client = build_app(issuer).test_client()
    token = issuer.mint(dpop_key=key)
    headers = dpop(token, make_proof(key, "GET", ORIGIN + "/auth", access_token=token))
    assert client.get("/auth", headers=headers).status_code == 200
    assert_refused(client.get("/auth", headers=headers), 401, "dpop.replay", reasons)
    # Another jti from the same key is a new proof.
    assert send(client, key, token).status_code == 200


def test_a_refused_proof_does_not_use_up_its_jti(issuer: ForgedIssuer, key: DPoPKey) -> None:
    """The replay store is consulted last: a wrong proof cannot burn a right one's jti."""
    client = build_app(issuer).test_client()
    token = issuer.mint(dpop_key=key)
    wrong = send(client, key, token, jti="shared", url=ORIGIN + "/admin")
    assert wrong.status_code == 401
    assert send(client, key, token, jti="shared").status_code == 200


def test_the_window_follows_max_age_and_leeway(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    client = build_app(issuer, CLAIMGUARD_DPOP_MAX_AGE=60, CLAIMGUARD_DPOP_LEEWAY=0).test_client()
    token = issuer.mint(dpop_key=key)
    now = time.time()
    assert send(client, key, token, iat=now - 30).status_code == 200
    assert_refused(send(client, key, token, iat=now - 90), 401, "dpop.iat", reasons)
    assert_refused(send(client, key, token, iat=now + 20), 401, "dpop.iat", reasons)


def test_the_configured_algorithms_are_the_only_ones(
    issuer: ForgedIssuer, reasons: list[str]
) -> None:
    app = build_app(issuer, CLAIMGUARD_DPOP_ALGORITHMS=["EdDSA"])
    client = app.test_client()
    ec_key, ed_key = DPoPKey.generate("ES256"), DPoPKey.generate("EdDSA")
    assert send(client, ed_key, issuer.mint(dpop_key=ed_key)).status_code == 200
    response = send(client, ec_key, issuer.mint(dpop_key=ec_key))
    assert_refused(response, 401, "dpop.algorithm", reasons)
    assert response.headers["WWW-Authenticate"].endswith('algs="EdDSA"')


# -- htu: the URL of the request ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "htu"),
    [
        ("/auth?page=2", ORIGIN + "/auth?page=1#top"),
        ("/auth", "HTTP://LocalHost:80/auth"),
        ("/auth", "http://localhost:/auth"),
        ("/files/~a", ORIGIN + "/files/%7Ea"),
        ("/files/%7Ea", ORIGIN + "/files/~a"),
        ("/files/caf%C3%A9", ORIGIN + "/files/caf%c3%a9"),
        ("/files/caf\u00e9", ORIGIN + "/files/caf%C3%A9"),
        ("/files/a%20b", ORIGIN + "/files/a%20b"),
        ("/files/a%2Fb", ORIGIN + "/files/a%2Fb"),
    ],
    ids=[
        "query-ignored",
        "case-and-default-port",
        "empty-port",
        "unreserved-decoded",
        "unreserved-encoded-in-request",
        "hex-case",
        "non-ascii-path",
        "space",
        "encoded-slash-as-sent",
    ],
)
def test_htu_is_compared_normalised(
    issuer: ForgedIssuer, key: DPoPKey, path: str, htu: str
) -> None:
    client = build_app(issuer).test_client()
    response = send(client, key, issuer.mint(dpop_key=key), path, url=htu)
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(
    ("path", "htu"),
    [
        ("/files/a/./b", ORIGIN + "/files/a/b"),
        ("/files/x/..%2F..%2Fauth", ORIGIN + "/auth"),
        ("/files/%2e%2e", ORIGIN + "/"),
        ("/files/a/../b", ORIGIN + "/files/b"),
    ],
    ids=["dot", "encoded-slashes-and-dots", "encoded-dots", "dot-dot"],
)
def test_a_request_path_with_dot_segments_is_refused(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str], path: str, htu: str
) -> None:
    """The router takes ``.``/``..`` as names where URL normalisation removes them: a
    proof for the normalised URL must not open the endpoint the router picks."""
    client = build_app(issuer).test_client()
    response = send(client, key, issuer.mint(dpop_key=key), path, url=htu)
    assert_refused(response, 401, "dpop.url", reasons)


def test_a_host_outside_trusted_hosts_is_refused(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    app = build_app(issuer)
    app.config["TRUSTED_HOSTS"] = ["api.example.com", ".internal.example"]
    client = app.test_client()
    token = issuer.mint(dpop_key=key)
    for base in ("http://api.example.com", "http://eu.internal.example:8080"):
        proof = make_proof(key, "GET", base + "/auth", access_token=token)
        response = client.get("/auth", base_url=base, headers=dpop(token, proof))
        assert response.status_code == 200, response.get_json()
    foreign = "http://eu.api.example.com"
    proof = make_proof(key, "GET", foreign + "/auth", access_token=token)
    response = client.get("/auth", base_url=foreign, headers=dpop(token, proof))
    # Flask 3.1 refuses an untrusted Host itself (400); before it, claimguard does.
    assert response.status_code in (400, 401)
    assert reasons in ([], ["dpop.url"])


def test_htu_names_scheme_host_script_name_and_path(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    client = build_app(issuer).test_client()
    token = issuer.mint(dpop_key=key)
    base = "https://api.example.com:8443/v1"
    for right in (base + "/auth", "https://API.example.com:8443/v1/auth"):
        proof = make_proof(key, "GET", right, access_token=token)
        response = client.get("/auth", base_url=base, headers=dpop(token, proof))
        assert response.status_code == 200, response.get_json()
    for wrong in (
        "https://api.example.com:8443/auth",  # SCRIPT_NAME left out
        "http://api.example.com:8443/v1/auth",  # another scheme
        "https://api.example.com/v1/auth",  # another port
    ):
        proof = make_proof(key, "GET", wrong, access_token=token)
        response = client.get("/auth", base_url=base, headers=dpop(token, proof))
        assert_refused(response, 401, "dpop.url", reasons)


def test_without_host_the_server_name_and_port_count(issuer: ForgedIssuer, key: DPoPKey) -> None:
    app = build_app(issuer)
    token = issuer.mint(dpop_key=key)
    proof = make_proof(key, "GET", "http://api.internal:8080/auth", access_token=token)
    environ = create_environ("/auth", "http://api.internal:8080/", headers=dpop(token, proof))
    del environ["HTTP_HOST"]
    assert Response.from_app(app, environ).status_code == 200


@pytest.mark.parametrize(
    ("host", "htu"),
    [
        ("api.example.com/admin", "http://api.example.com/admin/auth"),
        ("api.example.com/admin/", "http://api.example.com/admin/auth"),
        ("api.example.com?x=", "http://api.example.com/"),
        ("api.example.com#", "http://api.example.com/"),
        ("user@api.example.com", "http://api.example.com/auth"),
        ("user:pw@api.example.com", "http://api.example.com/auth"),
        ("api.example.com x", "http://api.example.com/auth"),
        (" api.example.com", "http://api.example.com/auth"),
        ("api.example.com:80:80", "http://api.example.com/auth"),
        ("api.example.com:123456", "http://api.example.com/auth"),
        ("api.ex\u00e4mple.com", "http://api.xn--exmple-cua.com/auth"),
        ("api.example.com\r\nX: y", "http://api.example.com/auth"),
    ],
)
def test_a_host_that_is_not_host_port_is_refused(
    issuer: ForgedIssuer,
    key: DPoPKey,
    reasons: list[str],
    caplog: pytest.LogCaptureFixture,
    host: str,
    htu: str,
) -> None:
    """A path smuggled into Host must not move a proof made for one endpoint
    (``/admin/auth``) to another (``/auth``); each proof names the URL the Host would
    give if it were trusted."""
    caplog.set_level(logging.INFO, "claimguard")
    app = build_app(issuer)
    token = issuer.mint(dpop_key=key)
    proof = make_proof(key, "GET", htu, access_token=token)
    environ = create_environ("/auth", headers=dpop(token, proof))
    environ["HTTP_HOST"] = host
    response = Response.from_app(app, environ)
    assert response.status_code == 401
    assert reasons == ["dpop.url"]
    assert "is not host[:port]; set CLAIMGUARD_PUBLIC_URL" in caplog.text


def test_the_public_url_wins_over_host(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    public = "https://api.example.com/prefix"
    client = build_app(issuer, CLAIMGUARD_PUBLIC_URL=public + "/").test_client()
    token = issuer.mint(dpop_key=key)
    for host in ("internal:8000", "api.example.com/admin", "evil.example"):
        response = send(client, key, token, url=public + "/auth", headers={"Host": host})
        assert response.status_code == 200, (host, response.get_json())
    for wrong in (
        "http://internal:8000/auth",
        "https://api.example.com/auth",
        "http://api.example.com/prefix/auth",
    ):
        response = send(client, key, token, url=wrong, headers={"Host": "internal:8000"})
        assert_refused(response, 401, "dpop.url", reasons)
    non_ascii = send(client, key, token, "/files/caf\u00e9", url=public + "/files/caf%C3%A9")
    assert non_ascii.status_code == 200


@pytest.mark.parametrize(
    ("host", "htu"),
    [
        ("api.example.com", "http://api.example.com/auth"),
        ("API.Example.com:8080", "http://api.example.com:8080/auth"),
        ("127.0.0.1:5000", "http://127.0.0.1:5000/auth"),
        ("[::1]:5000", "http://[::1]:5000/auth"),
        ("orders_api:8000", "http://orders_api:8000/auth"),
    ],
)
def test_a_plain_host_port_is_used(issuer: ForgedIssuer, key: DPoPKey, host: str, htu: str) -> None:
    app = build_app(issuer)
    token = issuer.mint(dpop_key=key)
    environ = create_environ(
        "/auth", headers=dpop(token, make_proof(key, "GET", htu, access_token=token))
    )
    environ["HTTP_HOST"] = host
    assert Response.from_app(app, environ).status_code == 200


@pytest.mark.parametrize(
    ("host", "trusted"),
    [
        ("api.example.com", True),
        ("api.example.com:8443", True),
        ("eu.internal.example", True),
        ("internal.example", True),
        ("eu.api.example.com", False),
        ("example.com", False),
        ("evilinternal.example", False),
    ],
)
def test_trusted_hosts_are_checked_where_flask_does_not(host: str, trusted: bool) -> None:
    """Flask 3.1 checks TRUSTED_HOSTS on every request; older Flask only when the host is
    read. The URL a proof must name checks it either way."""
    environ = create_environ("/auth", f"http://{host}/")
    allowed = ["api.example.com", ".internal.example"]
    if trusted:
        assert request_url(environ, None, allowed) == f"http://{host}/auth"
    else:
        with pytest.raises(DPoPProofError) as info:
            request_url(environ, None, allowed)
        assert info.value.reason == "dpop.url"
