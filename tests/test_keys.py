"""Importing a JWK Set (RFC 7517) into verification keys: what is usable, what is skipped.

Each skip rule has a test that puts one unusable entry next to a good key and checks
that exactly the bad one is dropped (and why, in the log). If a rule were removed, the
bad entry would become usable and its test would fail.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import ed448
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.hazmat.primitives.serialization import PublicFormat

from claimguard import keys as keys_module
from claimguard.keys import MAX_KEYS
from claimguard.keys import SUPPORTED_ALGORITHMS
from claimguard.keys import KeySet
from claimguard.keys import algorithm
from claimguard.keys import load_jwks
from claimguard.testing.issuer import ForgedKey

JWK = dict[str, Any]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@functools.cache
def _generate(alg: str, bits: int) -> ForgedKey:
    return ForgedKey.generate(alg, kid=f"{alg}-{bits}", bits=bits)


def forged(alg: str, bits: int = 2048) -> ForgedKey:
    """One key per algorithm and size for the whole module (RSA generation is slow)."""
    return _generate(alg, bits)


def public(which: str, bits: int = 2048, /, **changes: Any) -> JWK:
    """The public JWK of the module's ``which`` key, with members changed (None drops one)."""
    jwk = forged(which, bits).public_jwk()
    jwk.update(changes)
    return {name: value for name, value in jwk.items() if value is not None}


def private(alg: str) -> JWK:
    """The full private JWK (with ``d`` and, for RSA, the CRT members)."""
    key = forged(alg)
    jwk: JWK = algorithm(alg).to_jwk(key.private_key, as_dict=True)
    jwk.update(kid="leaked", use="sig", alg=alg)
    return jwk


def good() -> JWK:
    return public("ES256", kid="good")


def load(*entries: Any) -> KeySet:
    return load_jwks({"keys": list(entries)})


# -- usable keys ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alg", "kty", "fits"),
    [
        ("RS256", "RSA", {"RS256"}),
        ("PS384", "RSA", {"PS384"}),
        ("ES256", "EC", {"ES256"}),
        ("ES384", "EC", {"ES384"}),
        ("ES512", "EC", {"ES512"}),
        ("EdDSA", "OKP", {"EdDSA"}),
    ],
)
def test_supported_keys_import_and_verify(alg: str, kty: str, fits: set[str]) -> None:
    """Each supported key type imports once and verifies a real signature."""
    key_set = load(public(alg, kid="k"))
    key = key_set.find("k")
    assert key is not None
    assert key.kty == kty
    assert key.algorithms == fits  # a declared alg pins the key to it (RFC 7517 §4.4)
    assert key_set.skipped == 0
    signer = forged(alg)
    signature = algorithm(alg).sign(b"signed input", signer.private_key)
    assert algorithm(alg).verify(b"signed input", key.public_key, signature)
    assert not algorithm(alg).verify(b"other input", key.public_key, signature)


@pytest.mark.parametrize(
    ("alg", "fits"),
    [
        ("RS256", {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
        ("ES256", {"ES256"}),  # RFC 7518 §3.4: each curve has exactly one algorithm
        ("ES384", {"ES384"}),
        ("ES512", {"ES512"}),
        ("EdDSA", {"EdDSA"}),
    ],
)
def test_key_without_alg_fits_what_its_type_and_curve_allow(alg: str, fits: set[str]) -> None:
    """Some providers omit alg: the key type and curve then decide."""
    key = load(public(alg, kid="k", alg=None)).find("k")
    assert key is not None
    assert key.algorithms == fits
    assert all(key.fits(name) for name in fits)
    assert not key.fits("HS256")
    assert not key.fits("none")


def test_use_sig_and_key_ops_verify_are_accepted() -> None:
    key_set = load(
        public("ES256", kid="a", use="sig"),
        public("ES384", kid="b", use=None, key_ops=["verify"]),
    )
    assert set(key_set.by_kid) == {"a", "b"}


def test_rfc7638_thumbprint() -> None:
    """RFC 7638 §3.1's example key has a known thumbprint: we name keys the standard way."""
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
            "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5"
            "v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD0"
            "8qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU"
            "8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    expected = base64.urlsafe_b64decode("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs=").hex()
    key_set = load(jwk)
    key = key_set.find("2011-04-29")
    assert key is not None
    assert key.thumbprint == expected
    assert key_set.thumbprints == frozenset({expected})


def test_thumbprint_ignores_kid_and_optional_members() -> None:
    """The thumbprint names the key material: the same key under two kids has one."""
    key_set = load(public("EdDSA", kid="one"), public("EdDSA", kid="two", use=None))
    first, second = key_set.find("one"), key_set.find("two")
    assert first is not None
    assert second is not None
    assert first.thumbprint == second.thumbprint
    raw = forged("EdDSA").public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    canonical = '{"crv":"Ed25519","kty":"OKP","x":"' + b64url(raw) + '"}'
    assert first.thumbprint == hashlib.sha256(canonical.encode()).hexdigest()


# -- skipped keys -----------------------------------------------------------------------


def _x25519() -> JWK:
    raw = (
        x25519.X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    return {"kty": "OKP", "crv": "X25519", "x": b64url(raw), "kid": "bad"}


def _ed448() -> JWK:
    raw = ed448.Ed448PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed448", "x": b64url(raw), "kid": "bad"}


def _secp256k1() -> JWK:
    numbers = ec.generate_private_key(ec.SECP256K1()).public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "secp256k1",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
        "kid": "bad",
    }


def _off_curve() -> JWK:
    """A P-256 public key whose point is not on the curve (invalid-curve attack)."""
    jwk = public("ES256", kid="bad")
    y = int.from_bytes(base64.urlsafe_b64decode(jwk["y"] + "=="), "big")
    jwk["y"] = b64url(((y + 1) % 2**256).to_bytes(32, "big"))
    return jwk


def _rsa_with(**changes: Any) -> JWK:
    return public("RS256", **{"kid": "bad", **changes})


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _rsa_modulus(bits: int) -> str:
    """An odd modulus of exactly ``bits`` bits: enough to import, no private key needed."""
    return _int_b64((1 << (bits - 1)) | 0xABCDEF | 1)


def _rsa_exponent(value: int) -> JWK:
    return _rsa_with(e=_int_b64(value))


UNUSABLE: dict[str, tuple[Callable[[], Any], str]] = {
    # kty (RFC 7517 §4.1)
    "kty-unknown": (lambda: {**public("ES256", kid="bad"), "kty": "XYZ"}, "kty"),
    "kty-missing": (lambda: public("ES256", kid="bad", kty=None), "kty"),
    "kty-not-a-string": (lambda: {**public("ES256", kid="bad"), "kty": ["EC"]}, "kty"),
    "oct-hmac-secret": (
        lambda: {"kty": "oct", "k": b64url(b"s" * 32), "alg": "HS256", "kid": "bad"},
        "kty",
    ),
    # use and key_ops (RFC 7517 §4.2, §4.3)
    "use-enc": (lambda: public("ES256", kid="bad", use="enc"), "use"),
    "use-not-a-string": (lambda: public("ES256", kid="bad", use=["sig"]), "use"),
    "key-ops-without-verify": (
        lambda: public("ES256", kid="bad", use=None, key_ops=["encrypt", "wrapKey"]),
        "key_ops",
    ),
    "key-ops-not-a-list": (
        lambda: public("ES256", kid="bad", use=None, key_ops="verify"),
        "key_ops",
    ),
    # RSA (RFC 7518 §3.3: 2048 bits or more)
    "rsa-1024-bit": (lambda: public("RS256", 1024, kid="bad"), "1024 bits"),
    "rsa-modulus-not-a-string": (lambda: _rsa_with(n=12345), "does not import"),
    "rsa-modulus-missing": (lambda: _rsa_with(n=None), "does not import"),
    "rsa-even-exponent": (lambda: _rsa_with(e=b64url(b"\x01\x00\x00")), "does not import"),
    # Bounded verification cost: moduli up to 8192 bits, exponents below 2**32.
    "rsa-8200-bit-modulus": (lambda: _rsa_with(n=_rsa_modulus(8200)), "8200 bits"),
    "rsa-16384-bit-modulus": (lambda: _rsa_with(n=_rsa_modulus(16384)), "16384 bits"),
    "rsa-exponent-2-to-the-32-plus-1": (lambda: _rsa_exponent(2**32 + 1), "exponent"),
    "rsa-exponent-of-1000-bits": (lambda: _rsa_exponent((1 << 999) | 1), "exponent"),
    # EC (RFC 7518 §3.4, §6.2.1)
    "ec-secp256k1": (_secp256k1, "curve"),
    "ec-crv-missing": (lambda: public("ES256", kid="bad", crv=None), "curve"),
    "ec-crv-not-a-string": (lambda: public("ES256", kid="bad", crv=["P-256"]), "curve"),
    "ec-crv-mislabelled": (
        lambda: public("ES256", kid="bad", crv="P-384", alg=None),
        "does not import",
    ),
    "ec-point-off-the-curve": (_off_curve, "does not import"),
    # OKP (RFC 8037: only Ed25519 signs here)
    "okp-x25519": (_x25519, "Ed25519"),
    "okp-ed448": (_ed448, "Ed25519"),
    "okp-crv-missing": (lambda: public("EdDSA", kid="bad", crv=None), "Ed25519"),
    # private or symmetric material published by mistake
    "rsa-private-key": (lambda: {**private("RS256"), "kid": "bad"}, "private"),
    "ec-private-key": (lambda: {**private("ES256"), "kid": "bad"}, "private"),
    "okp-private-key": (lambda: {**private("EdDSA"), "kid": "bad"}, "private"),
    "rsa-crt-member-without-d": (lambda: _rsa_with(p=b64url(b"\x07" * 128)), "private"),
    # kid (RFC 7517 §4.5) must be a short, non-empty string
    "kid-not-a-string": (lambda: public("ES256", kid=17), "kid"),
    "kid-empty": (lambda: public("ES256", kid=""), "kid"),
    "kid-too-long": (lambda: public("ES256", kid="k" * 257), "kid"),
    # alg must fit the key (RFC 7517 §4.4, RFC 8725 §3.1)
    "rsa-with-es256": (lambda: _rsa_with(alg="ES256"), "does not fit"),
    "rsa-with-hs256": (lambda: _rsa_with(alg="HS256"), "does not fit"),
    "rsa-with-none": (lambda: _rsa_with(alg="none"), "does not fit"),
    "rsa-with-encryption-alg": (lambda: _rsa_with(alg="RSA-OAEP"), "does not fit"),
    "ec-p256-with-es384": (lambda: public("ES256", kid="bad", alg="ES384"), "does not fit"),
    "ec-with-rs256": (lambda: public("ES256", kid="bad", alg="RS256"), "does not fit"),
    "okp-with-es256": (lambda: public("EdDSA", kid="bad", alg="ES256"), "does not fit"),
    "alg-not-a-string": (lambda: _rsa_with(alg=["RS256"]), "does not fit"),
}


@pytest.mark.parametrize("case", sorted(UNUSABLE))
def test_unusable_entry_is_skipped_and_the_rest_kept(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    """One bad entry costs only itself: the good key beside it stays usable."""
    make, reason = UNUSABLE[case]
    with caplog.at_level(logging.INFO, logger="claimguard"):
        key_set = load(make(), good())
    assert list(key_set.by_kid) == ["good"]
    assert [key.kid for key in key_set.keys] == ["good"]
    assert key_set.skipped == 1
    assert "skipped key #0" in caplog.text
    assert reason in caplog.text


@pytest.mark.parametrize("entry", ["a string", 5, None, [], [good()], True])
def test_non_object_entries_are_skipped(entry: Any) -> None:
    key_set = load(entry, good())
    assert list(key_set.by_kid) == ["good"]
    assert key_set.skipped == 1


def test_skip_log_escapes_untrusted_values(caplog: pytest.LogCaptureFixture) -> None:
    """Attack: log forging through a JWK member. Values are escaped and truncated."""
    hostile = {**good(), "kty": "X\nFAKE LOG LINE" + "x" * 500, "kid": "bad"}
    with caplog.at_level(logging.INFO, logger="claimguard"):
        load(hostile, good())
    message = next(r.getMessage() for r in caplog.records if "skipped key" in r.getMessage())
    assert "\n" not in message
    assert "\\x0a" in message or "\\n" in message
    assert len(message) < 300


def test_key_without_kid_is_used_only_alone() -> None:
    """§5: without a kid, a key can be chosen only when it is the set's one usable key."""
    alone = load(public("ES256", kid=None))
    assert len(alone.keys) == 1
    assert alone.find(None) is alone.keys[0]
    assert alone.by_kid == {}

    several = load(public("ES256", kid=None), public("ES384", kid="other"))
    assert [key.kid for key in several.keys] == ["other"]
    assert several.skipped == 1

    # Unusable neighbours do not count: the kid-less key is still the only usable one.
    with_junk = load(public("ES256", kid=None), {"kty": "oct", "k": "AAAA"})
    assert len(with_junk.keys) == 1
    assert with_junk.keys[0].kid is None


def test_find_without_kid_needs_exactly_one_key() -> None:
    """§4 step 6: a token without kid is verified only against a set of one."""
    one = load(good())
    assert one.find(None) is not None
    two = load(good(), public("ES384", kid="other"))
    assert two.find(None) is None
    assert two.find("good") is not None
    assert two.find("missing") is None


def test_duplicate_kid_skips_every_copy(caplog: pytest.LogCaptureFixture) -> None:
    """Attack: an issuer set (or a poisoned mirror) with two keys under one kid. Which was
    meant cannot be known, so neither is used; other keys stay."""
    with caplog.at_level(logging.WARNING, logger="claimguard"):
        key_set = load(
            public("ES256", kid="dup"),
            public("ES384", kid="dup"),
            public("EdDSA", kid="other"),
        )
    assert list(key_set.by_kid) == ["other"]
    assert key_set.find("dup") is None
    assert key_set.skipped == 2
    assert "duplicate kid" in caplog.text


def test_duplicate_kid_with_an_unusable_copy_keeps_the_usable_one() -> None:
    """RFC 7517 §4.5 allows alternatives under one kid (e.g. a signing and an encryption
    key). Only usable keys compete, so the one signing key is not ambiguous."""
    key_set = load(public("ES256", kid="k", use="enc"), public("ES384", kid="k"))
    key = key_set.find("k")
    assert key is not None
    assert key.algorithms == {"ES384"}


def test_more_than_max_keys_reads_only_the_first(caplog: pytest.LogCaptureFixture) -> None:
    """Attack: a set of thousands of keys costs CPU to import on the request path.
    Only the first MAX_KEYS entries are read."""
    entries = [public("EdDSA", kid=f"k{index}") for index in range(MAX_KEYS + 5)]
    with caplog.at_level(logging.WARNING, logger="claimguard"):
        key_set = load(*entries)
    assert len(key_set.keys) == MAX_KEYS
    assert key_set.find(f"k{MAX_KEYS - 1}") is not None
    assert key_set.find(f"k{MAX_KEYS}") is None
    assert key_set.skipped == 5
    assert f"only the first {MAX_KEYS}" in caplog.text


@pytest.mark.parametrize(
    "document",
    [[], [{"keys": []}], {}, {"keys": "x"}, {"keys": {"kid": {}}}, {"keys": None}, "keys", None],
)
def test_a_document_that_is_not_a_jwk_set_is_refused(document: Any) -> None:
    """RFC 7517 §5: a JWK Set is an object with a "keys" array."""
    with pytest.raises(ValueError, match="not a JWK Set"):
        load_jwks(document)


def test_an_empty_set_loads_as_empty() -> None:
    """An empty set is a KeySet with no keys; the cache treats it as a failed fetch."""
    key_set = load()
    assert key_set.keys == ()
    assert key_set.find(None) is None


# -- algorithms -------------------------------------------------------------------------


def test_only_asymmetric_algorithms_exist() -> None:
    """RFC 8725 §3.1-3.2: none and HMAC have no entry at all, so nothing can enable them."""
    assert {"none", "HS256", "HS384", "HS512"}.isdisjoint(SUPPORTED_ALGORITHMS)
    for name in ("none", "HS256"):
        with pytest.raises(KeyError):
            algorithm(name)
    assert set(keys_module._ALGORITHMS) == SUPPORTED_ALGORITHMS


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param(lambda: _rsa_with(n=_rsa_modulus(8192), kid="edge"), id="8192-bit-modulus"),
        pytest.param(lambda: _rsa_with(e=_int_b64(2**32 - 1), kid="edge"), id="exponent-2**32-1"),
        pytest.param(lambda: _rsa_with(e=_int_b64(3), kid="edge"), id="exponent-3"),
    ],
)
def test_rsa_limits_keep_the_largest_allowed_values(jwk: Callable[[], JWK]) -> None:
    """The RSA bounds are inclusive where the rule says so: 8192 bits and an odd exponent
    under 2**32 still import (next to the over-the-limit cases in UNUSABLE)."""
    key_set = load(jwk())
    assert [key.kid for key in key_set.keys] == ["edge"]
