"""Algorithm attacks: ``none``, HMAC with the public key as secret, an ``oct`` key in the
JWKS, ECDSA "psychic signatures" (CVE-2022-21449), a key type that does not fit the
``alg``, and weak RSA keys. Every forged token targets the admin-only route and must get
401 ``invalid_token`` (RFC 6750 §3.1), never a 403/404 that would mean it was accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.hazmat.primitives.serialization import PublicFormat
from flask import Flask
from flask.testing import FlaskClient

from claimguard.testing import ForgedIssuer
from claimguard.testing import ForgedKey
from example_api.extensions import guard
from loopback import reply

from .attacks import ADMIN_ONLY
from .attacks import ALGORITHM
from .attacks import AUDIENCE
from .attacks import MALFORMED
from .attacks import ROLES
from .attacks import SIGNATURE
from .attacks import UNKNOWN_KEY
from .attacks import HostileServer
from .attacks import b64
from .attacks import bearer
from .attacks import build_api
from .attacks import check_refusal
from .attacks import unb64

ADMIN = {"roles": ["admin"]}


def hmac_token(header: dict[str, Any], payload: dict[str, Any], secret: bytes, alg: str) -> str:
    """An HS256/384/512 token made with ``secret``, whatever the header says."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    mac = hmac.new(secret, signing_input.encode("ascii"), digest).digest()
    return f"{signing_input}.{b64(mac)}"


# -- alg none (RFC 8725 §3.2) -----------------------------------------------------------

NONE_SPELLINGS = ["none", "None", "NONE", "nOnE"]


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_alg_none_with_an_empty_signature(
    cold_client: FlaskClient, issuer: ForgedIssuer, alg: str
) -> None:
    """The classic unsigned JWT: ``header.payload.`` with alg none."""
    header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64(json.dumps(issuer.claims(**ADMIN)).encode())
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(f"{header}.{payload}."))
    check_refusal(response, 401, "invalid_token", MALFORMED)


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_alg_none_with_a_real_signature_attached(
    cold_client: FlaskClient, issuer: ForgedIssuer, alg: str
) -> None:
    """alg none, yet carrying a genuine RS256 signature: the header alone decides."""
    token = issuer.sign({"alg": alg, "typ": "JWT", "kid": issuer.kid}, issuer.claims(**ADMIN))
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", ALGORITHM)


ODD_ALGS: dict[str, Any] = {
    "null": None,
    "empty": "",
    "lowercase-rs256": "rs256",
    "trailing-space": "RS256 ",
    "nul-suffix": "RS256\x00",
    "list": ["RS256"],
    "object": {"name": "RS256"},
    "number": 256,
    "true": True,
    "hs256-alias": "HS256",
    "unsupported-rs1": "RS1",
}


@pytest.mark.parametrize("alg", list(ODD_ALGS.values()), ids=list(ODD_ALGS))
def test_alg_null_empty_or_not_an_allowed_string(
    cold_client: FlaskClient, issuer: ForgedIssuer, alg: Any
) -> None:
    """Signed with the real key: only the ``alg`` member is wrong."""
    token = issuer.sign({"alg": alg, "typ": "JWT", "kid": issuer.kid}, issuer.claims(**ADMIN))
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", ALGORITHM)


def test_alg_missing(cold_client: FlaskClient, issuer: ForgedIssuer) -> None:
    token = issuer.sign({"typ": "JWT", "kid": issuer.kid}, issuer.claims(**ADMIN))
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", ALGORITHM)


# -- HMAC with the RSA public key as the secret (RFC 8725 §2.1) -------------------------


def public_key_encodings(issuer: ForgedIssuer) -> dict[str, bytes]:
    """Every form an attacker can download the issuer's public key in."""
    public = issuer.current_key.public_key
    jwk = issuer.jwks()["keys"][0]
    modulus = public.public_numbers().n
    return {
        "pem-spki": public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        "pem-pkcs1": public.public_bytes(Encoding.PEM, PublicFormat.PKCS1),
        "der-spki": public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo),
        "openssh": public.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH),
        "jwk-json": json.dumps(jwk).encode(),
        "jwk-json-compact": json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode(),
        "modulus-bytes": modulus.to_bytes((modulus.bit_length() + 7) // 8, "big"),
        "modulus-b64url": jwk["n"].encode(),
    }


ENCODINGS = [
    "pem-spki",
    "pem-pkcs1",
    "der-spki",
    "openssh",
    "jwk-json",
    "jwk-json-compact",
    "modulus-bytes",
    "modulus-b64url",
]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("hs", ["HS256", "HS384", "HS512"])
def test_hmac_signed_with_the_rsa_public_key(
    cold_client: FlaskClient, issuer: ForgedIssuer, hs: str, encoding: str
) -> None:
    """Key confusion: a verifier that lets the header pick HMAC would use the public key
    as the shared secret. Refused on the allow-list, before any key is even fetched."""
    secret = public_key_encodings(issuer)[encoding]
    header = {"alg": hs, "typ": "JWT", "kid": issuer.kid}
    token = hmac_token(header, issuer.claims(**ADMIN), secret, hs)
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", ALGORITHM)


# -- an oct (symmetric) key published in the JWKS ----------------------------------------

OCT_SECRET = b"shared-secret-published-by-mistake-0123456789"


@pytest.fixture(scope="module")
def oct_api(issuer: ForgedIssuer, databases: Path) -> Iterator[Flask]:
    """The API whose JWKS holds the issuer's RSA key and an ``oct`` key."""
    oct_jwk = {"kty": "oct", "kid": "oct-key", "alg": "HS256", "use": "sig", "k": b64(OCT_SECRET)}
    document = {"keys": [oct_jwk, *issuer.jwks()["keys"]]}
    server = HostileServer()
    try:
        url = server.route("/jwks", reply(200, json.dumps(document)))
        yield build_api(databases, {**issuer.config(), "CLAIMGUARD_JWKS_URL": url})
    finally:
        server.close()


def test_oct_key_is_skipped_the_rsa_key_kept(oct_api: Flask, issuer: ForgedIssuer) -> None:
    """Control: the set still verifies the issuer's tokens, with one usable key."""
    response = oct_api.test_client().get("/me", headers=bearer(issuer.mint()))
    assert response.status_code == 200
    with oct_api.app_context():
        (status,) = guard.key_set_status().values()
    assert status.key_count == 1


def test_hs256_token_with_the_oct_kid(oct_api: Flask, issuer: ForgedIssuer) -> None:
    """The attacker read the published oct key and signs HS256 with it."""
    header = {"alg": "HS256", "typ": "JWT", "kid": "oct-key"}
    token = hmac_token(header, issuer.claims(**ADMIN), OCT_SECRET, "HS256")
    response = oct_api.test_client().delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", ALGORITHM)


def test_rs256_header_with_the_oct_kid(oct_api: Flask, issuer: ForgedIssuer) -> None:
    """An allowed alg pointing at the oct key: that key was never imported."""
    header = {"alg": "RS256", "typ": "JWT", "kid": "oct-key"}
    token = hmac_token(header, issuer.claims(**ADMIN), OCT_SECRET, "HS256")
    response = oct_api.test_client().delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", UNKNOWN_KEY)


# -- ECDSA psychic signatures (CVE-2022-21449) and EdDSA small-order tricks --------------

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@pytest.fixture(scope="module")
def es256(databases: Path) -> Iterator[tuple[ForgedIssuer, FlaskClient]]:
    with ForgedIssuer(audience=AUDIENCE, roles_claim=ROLES, algorithm="ES256") as forged:
        app = build_api(databases, forged.config())
        yield forged, app.test_client()


def _psychic(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def forged_ecdsa_signatures(token: str) -> dict[str, bytes]:
    signature = unb64(token.split(".")[2])
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    return {
        "r-s-zero": bytes(64),
        "r-s-curve-order": _psychic(P256_ORDER, P256_ORDER),
        "r-zero": _psychic(0, s),
        "s-zero": _psychic(r, 0),
        "r-plus-order": _psychic(r + P256_ORDER, s) if r + P256_ORDER < 2**256 else bytes(64),
        "all-ones": b"\xff" * 64,
        "der-encoded-genuine": encode_dss_signature(r, s),
        "truncated-63": signature[:63],
        "extended-65": signature + b"\x00",
        "doubled": signature + signature,
    }


ECDSA_CASES = [
    "r-s-zero",
    "r-s-curve-order",
    "r-zero",
    "s-zero",
    "r-plus-order",
    "all-ones",
    "der-encoded-genuine",
    "truncated-63",
    "extended-65",
    "doubled",
]


def test_es256_control_genuine_signature_passes(
    es256: tuple[ForgedIssuer, FlaskClient],
) -> None:
    forged, client = es256
    assert client.get("/me", headers=bearer(forged.mint())).status_code == 200


@pytest.mark.parametrize("case", ECDSA_CASES)
def test_ecdsa_forged_signature(es256: tuple[ForgedIssuer, FlaskClient], case: str) -> None:
    """CVE-2022-21449 ("psychic signatures"): r = s = 0 verified everything in Java 15-18.
    Also out-of-range r/s, DER instead of JOSE's raw r||s, and wrong lengths."""
    forged, client = es256
    token = forged.mint(**ADMIN)
    head, body, _ = token.split(".")
    signature = forged_ecdsa_signatures(token)[case]
    response = client.delete(ADMIN_ONLY, headers=bearer(f"{head}.{body}.{b64(signature)}"))
    check_refusal(response, 401, "invalid_token", SIGNATURE)


@pytest.fixture(scope="module")
def eddsa(databases: Path) -> Iterator[tuple[ForgedIssuer, FlaskClient]]:
    with ForgedIssuer(audience=AUDIENCE, roles_claim=ROLES, algorithm="EdDSA") as forged:
        app = build_api(databases, forged.config())
        yield forged, app.test_client()


ED25519_FORGERIES = {
    "zero-64": bytes(64),
    # R = the identity point (y = 1), S = 0: "verifies" where the small-order and the
    # cofactor checks are missing.
    "identity-r-zero-s": b"\x01" + bytes(63),
    # S = the group order L: not reduced, must be refused (RFC 8032 §5.1.7).
    "s-equals-order": bytes(32)
    + (2**252 + 27742317777372353535851937790883648493).to_bytes(32, "little"),
}


@pytest.mark.parametrize("case", sorted(ED25519_FORGERIES))
def test_ed25519_forged_signature(eddsa: tuple[ForgedIssuer, FlaskClient], case: str) -> None:
    forged, client = eddsa
    assert client.get("/me", headers=bearer(forged.mint())).status_code == 200  # control
    head, body, _ = forged.mint(**ADMIN).split(".")
    signature = b64(ED25519_FORGERIES[case])
    response = client.delete(ADMIN_ONLY, headers=bearer(f"{head}.{body}.{signature}"))
    check_refusal(response, 401, "invalid_token", SIGNATURE)


# -- a key type that does not fit the alg ------------------------------------------------

MIXED_ALGORITHMS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"]


@pytest.fixture(scope="module")
def mixed_keys(issuer: ForgedIssuer) -> dict[str, ForgedKey]:
    return {
        "rsa": issuer.current_key,
        "ec": ForgedKey.generate("ES256", kid="ec-p256"),
        "ed": ForgedKey.generate("EdDSA", kid="ed25519"),
    }


@pytest.fixture(scope="module", params=["jwk-alg-declared", "jwk-alg-absent"])
def mixed_api(
    request: pytest.FixtureRequest,
    issuer: ForgedIssuer,
    mixed_keys: dict[str, ForgedKey],
    databases: Path,
) -> Iterator[FlaskClient]:
    """An API accepting five algorithms, whose JWKS holds an RSA, a P-256 and an Ed25519
    key; with each JWK's ``alg`` declared, or (as some providers publish) absent."""
    jwks = [key.public_jwk() for key in mixed_keys.values()]
    if request.param == "jwk-alg-absent":
        jwks = [{k: v for k, v in jwk.items() if k != "alg"} for jwk in jwks]
    server = HostileServer()
    try:
        url = server.route("/jwks", reply(200, json.dumps({"keys": jwks})))
        config = {
            **issuer.config(),
            "CLAIMGUARD_JWKS_URL": url,
            "CLAIMGUARD_ALGORITHMS": MIXED_ALGORITHMS,
        }
        yield build_api(databases, config).test_client()
    finally:
        server.close()


@pytest.mark.parametrize(("kind", "alg"), [("rsa", "RS256"), ("ec", "ES256"), ("ed", "EdDSA")])
def test_mixed_set_control_each_key_with_its_own_alg(
    mixed_api: FlaskClient,
    issuer: ForgedIssuer,
    mixed_keys: dict[str, ForgedKey],
    kind: str,
    alg: str,
) -> None:
    key = mixed_keys[kind]
    token = issuer.sign({"alg": alg, "kid": key.kid}, issuer.claims(), key=key, algorithm=alg)
    assert mixed_api.get("/me", headers=bearer(token)).status_code == 200


# (header alg, kid of, signing key, algorithm the signature was really made with)
MISMATCHES = {
    "es256-header-rsa-kid": ("ES256", "rsa", "ec", "ES256"),
    "es256-header-rsa-kid-rsa-signature": ("ES256", "rsa", "rsa", "RS256"),
    "rs256-header-ec-kid": ("RS256", "ec", "ec", "ES256"),
    "ps256-header-ec-kid": ("PS256", "ec", "ec", "ES256"),
    "eddsa-header-rsa-kid": ("EdDSA", "rsa", "ed", "EdDSA"),
    "eddsa-header-ec-kid": ("EdDSA", "ec", "ed", "EdDSA"),
    "rs256-header-eddsa-kid": ("RS256", "ed", "ed", "EdDSA"),
    "es256-header-eddsa-kid": ("ES256", "ed", "ec", "ES256"),
    # The right key type on the wrong curve: SHA-384 over P-256 verifies mathematically.
    "es384-header-p256-kid": ("ES384", "ec", "ec", "ES384"),
}


@pytest.mark.parametrize("case", list(MISMATCHES))
def test_key_type_does_not_fit_the_alg(
    mixed_api: FlaskClient, issuer: ForgedIssuer, mixed_keys: dict[str, ForgedKey], case: str
) -> None:
    alg, kid_of, signer, really = MISMATCHES[case]
    header = {"alg": alg, "typ": "JWT", "kid": mixed_keys[kid_of].kid}
    token = issuer.sign(header, issuer.claims(**ADMIN), key=mixed_keys[signer], algorithm=really)
    response = mixed_api.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", ALGORITHM)


def test_jwk_alg_binds_the_key_to_one_algorithm(issuer: ForgedIssuer, databases: Path) -> None:
    """A genuine PS256 signature by the RSA key whose JWK declares RS256: refused."""
    server = HostileServer()
    try:
        url = server.route("/jwks", reply(200, json.dumps(issuer.jwks())))
        config = {**issuer.config(), "CLAIMGUARD_JWKS_URL": url, "CLAIMGUARD_ALGORITHMS": ["PS256"]}
        client = build_api(databases, config).test_client()
        header = {"alg": "PS256", "kid": issuer.kid}
        token = issuer.sign(header, issuer.claims(**ADMIN), algorithm="PS256")
        response = client.delete(ADMIN_ONLY, headers=bearer(token))
    finally:
        server.close()
    check_refusal(response, 401, "invalid_token", ALGORITHM)


# -- weak RSA keys -------------------------------------------------------------------------


def emsa_pkcs1_sha256(message: bytes, length: int) -> bytes:
    """The RSASSA-PKCS1-v1_5 encoded message (RFC 8017 §9.2) for SHA-256."""
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420")
    digest_info += hashlib.sha256(message).digest()
    return b"\x00\x01" + b"\xff" * (length - len(digest_info) - 3) + b"\x00" + digest_info


@pytest.fixture(scope="module")
def weak_api(issuer: ForgedIssuer, databases: Path) -> Iterator[tuple[FlaskClient, ForgedKey]]:
    """The API whose JWKS holds the issuer's key, a 1024-bit RSA key and a key with
    public exponent 1 (for which "signature" = the padded hash verifies)."""
    weak = ForgedKey.generate("RS256", kid="rsa-1024", bits=1024)
    e1 = dict(issuer.jwks()["keys"][0], kid="rsa-e1", e=b64(b"\x01"))
    # Costly keys: verification time grows with the modulus and the exponent's length.
    huge_n = (1 << 16383) | 0xABCDEF | 1
    huge = dict(e1, kid="rsa-16384", e=b64(b"\x01\x00\x01"), n=b64(huge_n.to_bytes(2048, "big")))
    big_e = dict(e1, kid="rsa-big-e", e=b64((2**32 + 1).to_bytes(5, "big")))
    document = {"keys": [*issuer.jwks()["keys"], weak.public_jwk(), e1, huge, big_e]}
    server = HostileServer()
    try:
        url = server.route("/jwks", reply(200, json.dumps(document)))
        app = build_api(databases, {**issuer.config(), "CLAIMGUARD_JWKS_URL": url})
        yield app.test_client(), weak
    finally:
        server.close()


def test_weak_set_control_strong_key_kept(
    weak_api: tuple[FlaskClient, ForgedKey], issuer: ForgedIssuer
) -> None:
    client, _ = weak_api
    assert client.get("/me", headers=bearer(issuer.mint())).status_code == 200


def test_1024_bit_rsa_key_published_and_used(
    weak_api: tuple[FlaskClient, ForgedKey], issuer: ForgedIssuer
) -> None:
    """RFC 7518 §3.3: 2048 bits or more. A 1024-bit key is factorable by a motivated
    attacker; it is never imported, so its signatures verify nothing."""
    client, weak = weak_api
    assert isinstance(weak.private_key, rsa.RSAPrivateKey)
    assert weak.private_key.key_size == 1024
    token = issuer.mint(key=weak, **ADMIN)
    response = client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", UNKNOWN_KEY)


def test_rsa_public_exponent_one(
    weak_api: tuple[FlaskClient, ForgedKey], issuer: ForgedIssuer
) -> None:
    """With e = 1, s^e mod n = s: the padded hash itself is a "valid" signature."""
    client, _ = weak_api
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "rsa-e1"}).encode())
    payload = b64(json.dumps(issuer.claims(**ADMIN)).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = emsa_pkcs1_sha256(signing_input, 256)
    response = client.delete(ADMIN_ONLY, headers=bearer(f"{header}.{payload}.{b64(signature)}"))
    check_refusal(response, 401, "invalid_token", UNKNOWN_KEY)


@pytest.mark.parametrize("kid", ["rsa-16384", "rsa-big-e"])
def test_costly_rsa_keys_are_never_used(
    weak_api: tuple[FlaskClient, ForgedKey], issuer: ForgedIssuer, kid: str
) -> None:
    """A hostile set that publishes a 16384-bit modulus or an exponent of 2**32 + 1 would
    make every junk signature checked against it far dearer than a real key's. Such keys
    are skipped at import, so a token naming them is refused before any RSA work."""
    client, _ = weak_api
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode())
    payload = b64(json.dumps(issuer.claims(**ADMIN)).encode())
    token = f"{header}.{payload}.{b64(bytes(2048))}"
    response = client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", UNKNOWN_KEY)
