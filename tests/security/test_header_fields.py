"""Header-field attacks: keys injected through ``jwk``/``jku``/``x5u``/``x5c`` (RFC 8725
§3.10: never let the token choose its own key), hostile ``kid`` values, and header
parameters whose semantics claimguard does not implement (``crit``, ``b64``, ``zip``,
``cty``) or a JWE.

Key injection cases also prove that nothing was fetched from the URL the token named.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient

from claimguard.testing import ForgedIssuer
from claimguard.testing import ForgedKey
from loopback import reply

from .attacks import ADMIN_ONLY
from .attacks import MALFORMED
from .attacks import SIGNATURE
from .attacks import TOO_LARGE
from .attacks import UNKNOWN_KEY
from .attacks import HostileServer
from .attacks import b64
from .attacks import bearer
from .attacks import check_refusal

ADMIN = {"roles": ["admin"]}


# -- key injection: jwk, jku, x5u, x5c ---------------------------------------------------


@pytest.fixture(scope="module")
def recorder(attacker_key: ForgedKey) -> Iterator[HostileServer]:
    """The attacker's server: serves their JWKS and certificate, and counts every hit."""
    server = HostileServer()
    server.route("/jwks.json", reply(200, json.dumps({"keys": [attacker_key.public_jwk()]})))
    server.route("/cert.pem", reply(200, attacker_cert(attacker_key).public_bytes(Encoding.PEM)))
    try:
        yield server
    finally:
        server.close()


def attacker_cert(key: ForgedKey) -> x509.Certificate:
    """A self-signed certificate for the attacker's key, naming whoever they like."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "products.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key)
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key.private_key, hashes.SHA256())
    )


def injected_header(
    case: str, issuer: ForgedIssuer, attacker: ForgedKey, recorder: HostileServer
) -> dict[str, Any]:
    jwk = {k: v for k, v in attacker.public_jwk().items() if k != "kid"}
    der = attacker_cert(attacker).public_bytes(Encoding.DER)
    x5c = [b64(der).replace("-", "+").replace("_", "/") + "=" * (-len(b64(der)) % 4)]
    jku = recorder.base_url + "/jwks.json"
    x5u = recorder.base_url + "/cert.pem"
    thumbprint = b64(hashlib.sha256(der).digest())
    return {
        "jwk-attacker-kid": {"jwk": {**jwk, "kid": attacker.kid}, "kid": attacker.kid},
        "jwk-no-kid": {"jwk": jwk},
        "jwk-our-kid": {"jwk": jwk, "kid": issuer.kid},
        "jku-attacker-kid": {"jku": jku, "kid": attacker.kid},
        "jku-our-kid": {"jku": jku, "kid": issuer.kid},
        "jku-no-kid": {"jku": jku},
        "x5u-attacker-kid": {"x5u": x5u, "kid": attacker.kid},
        "x5u-no-kid": {"x5u": x5u},
        "x5c-no-kid": {"x5c": x5c},
        "x5c-with-x5t-s256": {"x5c": x5c, "x5t#S256": thumbprint, "kid": attacker.kid},
        "all-at-once": {"jwk": jwk, "jku": jku, "x5u": x5u, "x5c": x5c},
    }[case]


# What each injection ends in: the kid names no key of ours (unknown key), or it names
# ours / none (the set's only key), which the attacker's signature does not match.
INJECTIONS = {
    "jwk-attacker-kid": UNKNOWN_KEY,
    "jwk-no-kid": SIGNATURE,
    "jwk-our-kid": SIGNATURE,
    "jku-attacker-kid": UNKNOWN_KEY,
    "jku-our-kid": SIGNATURE,
    "jku-no-kid": SIGNATURE,
    "x5u-attacker-kid": UNKNOWN_KEY,
    "x5u-no-kid": SIGNATURE,
    "x5c-no-kid": SIGNATURE,
    "x5c-with-x5t-s256": UNKNOWN_KEY,
    "all-at-once": SIGNATURE,
}


@pytest.mark.parametrize("case", list(INJECTIONS))
def test_key_injected_through_the_header(
    client: FlaskClient,
    issuer: ForgedIssuer,
    attacker_key: ForgedKey,
    recorder: HostileServer,
    case: str,
) -> None:
    before = recorder.total_hits()
    header = {"alg": "RS256", "typ": "JWT", **injected_header(case, issuer, attacker_key, recorder)}
    token = issuer.sign(header, issuer.claims(**ADMIN), key=attacker_key)
    response = client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", INJECTIONS[case])
    assert recorder.total_hits() == before, "the URL named by the token was fetched"


def test_genuine_token_carrying_jku_and_x5u_is_verified_with_configured_keys_only(
    client: FlaskClient, issuer: ForgedIssuer, recorder: HostileServer
) -> None:
    """Control: the fields are ignored, not merely failing: a genuine token that names
    the attacker's URLs passes, and the URLs are still never fetched."""
    before = recorder.total_hits()
    headers = {"jku": recorder.base_url + "/jwks.json", "x5u": recorder.base_url + "/cert.pem"}
    response = client.get("/me", headers=bearer(issuer.mint(headers=headers)))
    assert response.status_code == 200
    assert recorder.total_hits() == before


# -- hostile kid values ----------------------------------------------------------------------

HOSTILE_KIDS = {
    "path-traversal": "../../etc/passwd",
    "path-traversal-deep": "../../../../../../../../dev/null",
    "absolute-device": "/dev/zero",
    "file-url": "file:///etc/passwd",
    "sql-or": "' OR 1=1 --",
    "sql-union": "x' UNION SELECT 'secret' AS key --",
    "shell-subst": "$(rm -rf /)",
    "shell-backticks": "`id`",
    "shell-pipe": "| nc 127.0.0.1 4444",
    "crlf": "k\r\nX-Injected: yes",
    "nul-byte": "k\x00",
    "percent-nul": "k%00",
    "format-string": "%s%s%s%n",
    "template": "{{7*7}}${7*7}",
    "log4shell": "${jndi:ldap://127.0.0.1:1/a}",
    "unicode": "ключ-🔑",
    "our-kid-with-space": " {our}",
    "our-kid-uppercased": "{our_upper}",
    "at-length-cap-256": "k" * 256,
}


@pytest.mark.parametrize("case", list(HOSTILE_KIDS))
def test_hostile_kid_names_no_key(
    client: FlaskClient, issuer: ForgedIssuer, attacker_key: ForgedKey, case: str
) -> None:
    """A kid is only ever a dictionary key: no file, query, shell or URL behind it."""
    kid = HOSTILE_KIDS[case].replace("{our}", issuer.kid).replace("{our_upper}", issuer.kid.upper())
    if kid == issuer.kid:  # pragma: no cover - a kid with no letters
        pytest.skip("the issuer's kid has no case")
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    token = issuer.sign(header, issuer.claims(**ADMIN), key=attacker_key)
    response = client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", UNKNOWN_KEY)


def test_kid_as_a_url_is_never_fetched(
    client: FlaskClient, issuer: ForgedIssuer, attacker_key: ForgedKey, recorder: HostileServer
) -> None:
    before = recorder.total_hits()
    header = {"alg": "RS256", "kid": recorder.base_url + "/jwks.json"}
    token = issuer.sign(header, issuer.claims(**ADMIN), key=attacker_key)
    check_refusal(client.delete(ADMIN_ONLY, headers=bearer(token)), 401, "invalid_token")
    assert recorder.total_hits() == before


LONG_KIDS = {"257-chars": 257, "4-kib": 4096}


@pytest.mark.parametrize("case", list(LONG_KIDS))
def test_overlong_kid_is_refused_before_any_fetch(
    cold_client: FlaskClient, issuer: ForgedIssuer, case: str
) -> None:
    token = issuer.mint(headers={"kid": "k" * LONG_KIDS[case]}, **ADMIN)
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", MALFORMED)


def test_10_kib_kid_is_over_the_token_size_cap(
    cold_client: FlaskClient, issuer: ForgedIssuer
) -> None:
    token = issuer.mint(headers={"kid": "k" * 10_240}, **ADMIN)
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", TOO_LARGE)


NON_STRING_KIDS: dict[str, Callable[[ForgedIssuer], Any]] = {
    "int": lambda issuer: 42,
    "float": lambda issuer: 4.2,
    "true": lambda issuer: True,
    "false": lambda issuer: False,
    "null": lambda issuer: None,
    "empty-string": lambda issuer: "",
    "empty-list": lambda issuer: [],
    "list-of-our-kid": lambda issuer: [issuer.kid],
    "object": lambda issuer: {"kid": issuer.kid},
}


@pytest.mark.parametrize("case", list(NON_STRING_KIDS))
def test_kid_that_is_not_a_non_empty_string(
    cold_client: FlaskClient, issuer: ForgedIssuer, case: str
) -> None:
    """Signed with the real key: only the kid's type is wrong. A null kid is not read as
    "no kid" (which would pick the set's only key)."""
    header = {"alg": "RS256", "typ": "JWT", "kid": NON_STRING_KIDS[case](issuer)}
    token = issuer.sign(header, issuer.claims(**ADMIN))
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", MALFORMED)


def test_a_flood_of_hostile_kids_costs_at_most_one_fetch(
    make_api: Callable[..., Flask], issuer: ForgedIssuer, attacker_key: ForgedKey
) -> None:
    """Bounded work: 200 tokens with distinct unknown kids cost the issuer one refetch
    (per cooldown), not 200."""
    client = make_api(issuer).test_client()
    assert client.get("/me", headers=bearer(issuer.mint())).status_code == 200
    before = issuer.jwks_requests
    for index in range(200):
        header = {"alg": "RS256", "kid": f"../../kid-{index}' OR 1=1 --"}
        token = issuer.sign(header, issuer.claims(), key=attacker_key)
        check_refusal(client.get("/me", headers=bearer(token)), 401, "invalid_token", UNKNOWN_KEY)
    assert issuer.jwks_requests - before <= 1


# -- header parameters claimguard does not implement -------------------------------------

UNSUPPORTED: dict[str, dict[str, Any]] = {
    "crit-unknown-extension": {"crit": ["x-custom"], "x-custom": 1},
    "crit-naming-a-registered-name": {"crit": ["exp"], "exp": 1},
    "crit-empty": {"crit": []},
    "crit-not-a-list": {"crit": "b64"},
    "b64-false-critical": {"b64": False, "crit": ["b64"]},
    "b64-false-alone": {"b64": False},
    "b64-true": {"b64": True},
    "zip-deflate": {"zip": "DEF"},
    "cty-nested-jwt": {"cty": "JWT"},
    "cty-json": {"cty": "json"},
}


@pytest.mark.parametrize("case", list(UNSUPPORTED))
def test_unsupported_header_parameter(
    cold_client: FlaskClient, issuer: ForgedIssuer, case: str
) -> None:
    """Signed with the real key: honouring these wrongly would change what was signed
    (b64, zip) or what the payload is (cty); crit we do not understand MUST be refused
    (RFC 7515 §4.1.11)."""
    header = {"alg": "RS256", "typ": "JWT", "kid": issuer.kid, **UNSUPPORTED[case]}
    token = issuer.sign(header, issuer.claims(**ADMIN))
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", MALFORMED)


def test_nested_jwt_as_the_payload(cold_client: FlaskClient, issuer: ForgedIssuer) -> None:
    """cty JWT whose payload is itself a (genuine) token: no unwrapping."""
    inner = issuer.mint(**ADMIN)
    header = {"alg": "RS256", "typ": "JWT", "kid": issuer.kid, "cty": "JWT"}
    token = issuer.sign(header, inner.encode())
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", MALFORMED)


def _jwe(header: dict[str, Any], encrypted_key: bytes) -> str:
    protected = b64(json.dumps(header).encode())
    iv, ciphertext, tag = bytes(12), b"\x8f" * 40, bytes(16)
    return ".".join([protected, b64(encrypted_key), b64(iv), b64(ciphertext), b64(tag)])


JWES = {
    "rsa-oaep-a256gcm": ({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "k"}, bytes(256)),
    "dir-a128cbc-hs256": ({"alg": "dir", "enc": "A128CBC-HS256"}, b""),
}


@pytest.mark.parametrize("case", list(JWES))
def test_five_part_jwe(
    cold_client: FlaskClient, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An encrypted token (RFC 7516) is not a signed one: nothing to verify."""
    header, encrypted_key = JWES[case]
    with caplog.at_level(logging.INFO, logger="claimguard"):
        response = cold_client.delete(ADMIN_ONLY, headers=bearer(_jwe(header, encrypted_key)))
    check_refusal(response, 401, "invalid_token", MALFORMED)
    # The operator's log names the likely cause; the client sees only the fixed sentence.
    assert "Auth0 issues encrypted access tokens when the client requested no audience" in (
        caplog.text
    )
    assert "audience" not in response.get_data(as_text=True)
