"""DPoP proofs (RFC 9449) checked by ``claimguard.dpop.DPoPVerifier``, without Flask.

One control proof is right in every way and passes. Each check then gets a proof wrong
in exactly that one way, refused with exactly that check's reason code: were the check
removed, the proof would pass and its test would fail. Pairs of faults pin the order of
the checks (RFC 9449 §4.3), and the replay store is shown to be consulted last.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import re
from base64 import urlsafe_b64decode
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest

from claimguard.dpop import DPoPProof
from claimguard.dpop import DPoPVerifier
from claimguard.dpop import access_token_hash
from claimguard.dpop import normalize_htu
from claimguard.dpop import replay_key
from claimguard.dpop_errors import DPOP_REASONS
from claimguard.dpop_errors import DPoPNonceError
from claimguard.dpop_errors import DPoPProofError
from claimguard.dpop_errors import DPoPRequestError
from claimguard.dpop_errors import DPoPStoreUnavailableError
from claimguard.dpop_errors import DPoPTokenError
from claimguard.dpop_nonce import DPoPNonces
from claimguard.errors import ClaimGuardError
from claimguard.errors import ConfigurationError
from claimguard.errors import InvalidRequestError
from claimguard.errors import InvalidTokenError
from claimguard.jws import parse_compact
from claimguard.keys import _thumbprint
from claimguard.keys import algorithm
from claimguard.keys import jwk_thumbprint
from claimguard.reasons import REASONS
from claimguard.replay import MemoryReplayStore
from claimguard.testing import DPoPKey
from claimguard.testing import ForgedIssuer
from claimguard.testing import make_proof
from claimguard.testing.issuer import b64url
from expected import T0

URL = "https://api.example.test/orders"
NOW = T0
SECRET = b"s" * 32


@functools.cache
def client_key(alg: str = "ES256", bits: int = 2048) -> DPoPKey:
    """One key per algorithm and size for the module (RSA generation is slow)."""
    return DPoPKey.generate(alg, bits=bits)


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer() as forged:
        yield forged


@pytest.fixture(scope="module")
def token(issuer: ForgedIssuer) -> str:
    """An access token bound to ``client_key()``, minted by the test kit."""
    return issuer.mint(dpop_key=client_key())


def cnf_of(token: str) -> Any:
    return parse_compact(token).payload.get("cnf")


class Check:
    """A verifier with its own memory store, and helpers to build and check proofs."""

    def __init__(self, token: str, **options: Any) -> None:
        self.token = token
        self.store = MemoryReplayStore(clock=lambda: 0.0)
        self.verifier = DPoPVerifier(self.store, **options)

    def proof(self, key: DPoPKey | None = None, **changes: Any) -> str:
        arguments: dict[str, Any] = {"access_token": self.token, "iat": NOW}
        arguments.update(changes)
        method = arguments.pop("method", "GET")
        url = arguments.pop("url", URL)
        return make_proof(key or client_key(), method, url, **arguments)

    def verify(self, proof: str | list[str], **request: Any) -> DPoPProof:
        values = [proof] if isinstance(proof, str) else proof
        arguments: dict[str, Any] = {
            "method": "GET",
            "url": URL,
            "access_token": self.token,
            "cnf": cnf_of(self.token),
            "now": NOW,
        }
        arguments.update(request)
        return self.verifier.verify(values, **arguments)

    def refuse(self, reason: str, proof: str | list[str], **request: Any) -> ClaimGuardError:
        with pytest.raises(ClaimGuardError) as info:
            self.verify(proof, **request)
        assert info.value.reason == reason, info.value.detail
        return info.value


@pytest.fixture
def check(token: str) -> Check:
    return Check(token)


# -- the control ----------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_a_proof_right_in_every_way_passes(issuer: ForgedIssuer, alg: str) -> None:
    key = client_key(alg)
    token = issuer.mint(dpop_key=key)
    check = Check(token)
    proof = check.proof(key, jti="control-1")
    result = check.verify(proof)
    assert result == DPoPProof(key.thumbprint, "control-1", nonce_used=False)
    assert len(check.store) == 1


def test_rsa_proofs_pass_when_allowed(issuer: ForgedIssuer) -> None:
    key = client_key("PS256")
    check = Check(issuer.mint(dpop_key=key), algorithms=["PS256"])
    assert check.verify(check.proof(key)).thumbprint == key.thumbprint


def test_the_control_passes_with_the_defaults(check: Check) -> None:
    """The building blocks of every test below: the defaults accept the control."""
    assert check.verifier.algorithms == {"ES256", "EdDSA"}
    assert (check.verifier.max_age, check.verifier.leeway) == (300, 30)
    check.verify(check.proof())


# -- RFC 9449 §4.3 steps 1-2: one header, one compact JWS ------------------------------


def test_no_dpop_header_is_a_malformed_request(check: Check) -> None:
    error = check.refuse("dpop.missing", [])
    assert isinstance(error, DPoPRequestError)
    assert isinstance(error, InvalidRequestError)
    assert (error.status_code, error.error) == (400, "invalid_request")
    check.refuse("dpop.missing", "")


def test_two_dpop_headers_are_refused_even_if_both_are_good(check: Check) -> None:
    check.refuse("dpop.several", [check.proof(), check.proof()])
    assert len(check.store) == 0


@pytest.mark.parametrize(
    "value",
    [
        "not-a-jwt",
        "a.b.c.d.e",
        "e30.e30.",  # {}.{}. unsigned
        "!!.e30.c2ln",
    ],
)
def test_a_header_that_is_not_one_compact_jws_is_malformed(check: Check, value: str) -> None:
    error = check.refuse("dpop.malformed", value)
    assert error.status_code == 400


def test_an_unsigned_proof_is_malformed(check: Check) -> None:
    check.refuse("dpop.malformed", check.proof(alg="none"))


def test_an_oversized_header_is_malformed(check: Check) -> None:
    proof = check.proof(claim_overrides={"padding": "x" * 9000})
    check.refuse("dpop.malformed", proof)


# -- typ (RFC 9449 §4.2, §4.3 step 4) -----------------------------------------------------


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "DPoP+jwt", "dpop+jwt ", None, ["dpop+jwt"]])
def test_typ_must_be_exactly_dpop_jwt(check: Check, typ: object) -> None:
    check.refuse("dpop.type", check.proof(header_overrides={"typ": typ}))


# -- alg (RFC 9449 §4.3 step 5, RFC 8725 §3.1) ----------------------------------------------


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256", "ES384", "", None, 256])
def test_alg_must_be_an_allowed_asymmetric_algorithm(check: Check, alg: object) -> None:
    # Signed for real with the key's own algorithm: only the alg header is wrong.
    error = check.refuse("dpop.algorithm", check.proof(header_overrides={"alg": alg}))
    assert isinstance(error, DPoPProofError)
    assert (error.status_code, error.error) == (401, "invalid_dpop_proof")


def test_an_hmac_proof_keyed_with_the_public_key_is_refused(check: Check) -> None:
    check.refuse("dpop.algorithm", check.proof(alg="HS256"))


def test_alg_must_fit_the_jwk(token: str) -> None:
    check = Check(token, algorithms=["ES256", "ES384"])
    # ES384 is allowed, but the jwk is a P-256 key (RFC 7518 §3.4: ES384 is P-384 only).
    check.refuse("dpop.algorithm", check.proof(alg="ES384"))
    check.verify(check.proof())


# -- jwk (RFC 9449 §4.2, §4.3 step 7) ---------------------------------------------------


def test_a_private_jwk_is_refused(check: Check) -> None:
    key = client_key()
    assert "d" in key.private_jwk
    check.refuse("dpop.key", check.proof(header_overrides={"jwk": key.private_jwk}))


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth", "k"])
def test_each_private_member_is_refused(check: Check, member: str) -> None:
    jwk = {**client_key().public_jwk, member: "AAAA"}
    check.refuse("dpop.key", check.proof(header_overrides={"jwk": jwk}))


def test_a_symmetric_jwk_is_refused(check: Check) -> None:
    jwk = {"kty": "oct", "alg": "HS256"}
    check.refuse("dpop.key", check.proof(header_overrides={"jwk": jwk}))


@pytest.mark.parametrize(
    "jwk",
    [
        None,
        "a key",
        [],
        {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        {"kty": "EC", "crv": "secp256k1", "x": "AAAA", "y": "AAAA"},
        {"kty": "OKP", "crv": "X25519", "x": "AAAA"},
        {"kty": "XYZ"},
    ],
)
def test_the_jwk_must_be_a_usable_public_key(check: Check, jwk: object) -> None:
    check.refuse("dpop.key", check.proof(header_overrides={"jwk": jwk}))


def test_optional_jwk_members_are_honoured(check: Check) -> None:
    jwk = {**client_key().public_jwk, "use": "sig", "key_ops": ["verify"], "alg": "ES256"}
    check.verify(check.proof(header_overrides={"jwk": jwk}))
    for member in ({"use": "enc"}, {"key_ops": ["encrypt"]}, {"alg": "EdDSA"}):
        proof = check.proof(header_overrides={"jwk": {**client_key().public_jwk, **member}})
        check.refuse("dpop.key", proof)


def test_a_jwk_that_names_another_algorithm_does_not_fit(issuer: ForgedIssuer) -> None:
    key = client_key("RS256")
    check = Check(issuer.mint(dpop_key=key), algorithms=["RS256", "PS256"])
    jwk = {**key.public_jwk, "alg": "PS256"}  # RFC 7517 §4.4: this key is for PS256 only
    check.refuse("dpop.algorithm", check.proof(key, header_overrides={"jwk": jwk}))


def test_a_short_rsa_jwk_is_refused(issuer: ForgedIssuer) -> None:
    key = client_key("RS256", 1024)  # keys.py: RSA keys of 2048-8192 bits only
    check = Check(issuer.mint(dpop_key=key), algorithms=["RS256"])
    check.refuse("dpop.key", check.proof(key))


# -- signature (RFC 9449 §4.3 step 6) ----------------------------------------------------


def test_a_proof_signed_by_another_key_is_refused(check: Check) -> None:
    check.refuse("dpop.signature", check.proof(sign_with=DPoPKey.generate()))


def test_a_tampered_proof_is_refused(check: Check) -> None:
    header, _, signature = check.proof().split(".")
    payload = check.proof(method="DELETE").split(".")[1]
    check.refuse("dpop.signature", f"{header}.{payload}.{signature}")


# -- htm (RFC 9449 §4.3 step 8) ----------------------------------------------------------


@pytest.mark.parametrize("htm", ["POST", "get", "GET ", None, ["GET"], 1])
def test_htm_must_be_the_request_method(check: Check, htm: object) -> None:
    check.refuse("dpop.method", check.proof(claim_overrides={"htm": htm}))


# -- htu (RFC 9449 §4.3 step 9, RFC 3986 §6.2.2-6.2.3) --------------------------------------


@pytest.mark.parametrize(
    "htu",
    [
        "https://api.example.test/orders?page=2",
        "https://api.example.test/orders#top",
        "HTTPS://API.Example.TEST/orders",
        "https://api.example.test:443/orders",
        "https://api.example.test:/orders",
        "https://api.example.test/%6Frders",
        "https://api.example.test/a/../orders",
        "https://api.example.test/./orders",
    ],
)
def test_htu_matches_after_normalisation(check: Check, htu: str) -> None:
    check.verify(check.proof(url=htu))


@pytest.mark.parametrize(
    "htu",
    [
        "https://api.example.test/orders/",
        "https://api.example.test/Orders",
        "http://api.example.test/orders",
        "https://api.example.test:8443/orders",
        "https://other.example.test/orders",
        "https://user@api.example.test/orders",
        "https://api.example.test/orders%2F",
        "/orders",
        "api.example.test/orders",
        "https://api.example.tést/orders",
        "",
        None,
        7,
    ],
)
def test_htu_must_be_the_request_url(check: Check, htu: object) -> None:
    check.refuse("dpop.url", check.proof(claim_overrides={"htu": htu}))


def test_the_request_url_query_is_ignored(check: Check) -> None:
    check.verify(check.proof(), url=URL + "?page=2#x")


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("HTTP://Example.COM", "http://example.com/"),
        ("http://example.com:80/", "http://example.com/"),
        ("https://example.com:443", "https://example.com/"),
        ("http://example.com:443/", "http://example.com:443/"),
        ("https://example.com:08443/x", "https://example.com:8443/x"),
        ("http://example.com/%7euser/%41%2f%2F", "http://example.com/~user/A%2F%2F"),
        ("http://example.com/a/b/c/./../../g", "http://example.com/a/g"),
        ("http://example.com/a/%2E%2E/b", "http://example.com/b"),
        ("http://example.com/a/.", "http://example.com/a/"),
        ("http://example.com/..", "http://example.com/"),
        ("http://[::1]:8080/x?y#z", "http://[::1]:8080/x"),
        ("http://%65xample.com/", "http://example.com/"),
    ],
)
def test_normalize_htu(given: str, normal: str) -> None:
    assert normalize_htu(given) == normal


@pytest.mark.parametrize(
    "uri",
    ["ftp://example.com/", "http:///x", "http://example.com:99999/", "http://e.com/%zz", "x"],
)
def test_normalize_htu_refuses_what_is_no_http_uri(uri: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        normalize_htu(uri)


def test_a_non_ascii_request_url_is_compared_percent_encoded(check: Check) -> None:
    proof = check.proof(url="https://api.example.test/caf%C3%A9")
    check.verify(proof, url="https://api.example.test/café")


# -- iat (RFC 9449 §4.3 step 11, §11.1) ----------------------------------------------------


@pytest.mark.parametrize("iat", [NOW - 300, NOW + 30, NOW - 0.5, NOW + 29.9])
def test_iat_within_the_window_passes(check: Check, iat: float) -> None:
    check.verify(check.proof(iat=iat))


@pytest.mark.parametrize("iat", [NOW - 301, NOW + 31, NOW - 3600])
def test_iat_outside_the_window_is_refused(check: Check, iat: float) -> None:
    check.refuse("dpop.iat", check.proof(iat=iat))


@pytest.mark.parametrize("iat", [str(int(NOW)), True, None, [NOW], {"t": NOW}, 10**400, 1e308])
def test_iat_must_be_a_json_number(check: Check, iat: object) -> None:
    check.refuse("dpop.iat", check.proof(claim_overrides={"iat": iat}))


def test_an_infinite_iat_is_refused(check: Check) -> None:
    """JSON reads 1e400 as infinity, which no dict can be written back as: the payload is
    written by hand, then signed for real."""
    header = check.proof().split(".")[0]
    proof = check.proof(claim_overrides={"iat": None})
    payload = json.dumps(json.loads(urlsafe_b64decode(proof.split(".")[1] + "==")))
    raw = payload[:-1] + ', "iat": 1e400}'
    signing_input = f"{header}.{b64url(raw.encode())}".encode()
    signature = algorithm("ES256").sign(signing_input, client_key().private_key)
    check.refuse("dpop.iat", f"{signing_input.decode()}.{b64url(signature)}")


def test_the_window_follows_the_options(token: str) -> None:
    check = Check(token, max_age=60, leeway=0)
    check.refuse("dpop.iat", check.proof(iat=NOW - 61))
    check.refuse("dpop.iat", check.proof(iat=NOW + 1))
    check.verify(check.proof(iat=NOW - 60))


# -- server nonces (RFC 9449 §8, §9; §4.3 step 10) ------------------------------------------


@pytest.fixture
def nonce_check(token: str) -> Check:
    return Check(token, nonces=DPoPNonces(SECRET))


def test_with_nonces_a_fresh_nonce_passes_and_iat_may_be_old(nonce_check: Check) -> None:
    nonce = DPoPNonces(SECRET).issue(NOW)
    result = nonce_check.verify(nonce_check.proof(nonce=nonce, iat=NOW - 3600))
    assert result.nonce_used is True


def test_with_nonces_a_proof_without_one_is_told_to_use_one(nonce_check: Check) -> None:
    error = nonce_check.refuse("dpop.nonce_required", nonce_check.proof())
    assert isinstance(error, DPoPNonceError)
    assert (error.status_code, error.error) == (401, "use_dpop_nonce")
    assert error.nonce == DPoPNonces(SECRET).issue(NOW)


@pytest.mark.parametrize(
    "nonce",
    [
        DPoPNonces(SECRET).issue(NOW - 120),
        DPoPNonces(b"o" * 32).issue(NOW),
        "x",
        7,
        "",
    ],
)
def test_with_nonces_a_stale_or_foreign_nonce_is_refused(nonce_check: Check, nonce: object) -> None:
    error = nonce_check.refuse("dpop.nonce", nonce_check.proof(claim_overrides={"nonce": nonce}))
    assert isinstance(error, DPoPNonceError)
    assert error.nonce is not None


def test_with_nonces_iat_must_still_be_a_number(nonce_check: Check) -> None:
    nonce = DPoPNonces(SECRET).issue(NOW)
    proof = nonce_check.proof(nonce=nonce, claim_overrides={"iat": "now"})
    nonce_check.refuse("dpop.iat", proof)


def test_without_nonces_a_nonce_in_the_proof_is_ignored(check: Check) -> None:
    assert check.verify(check.proof(nonce="anything")).nonce_used is False


# -- jti (RFC 9449 §4.2, §4.3 step 3) ------------------------------------------------------


@pytest.mark.parametrize("jti", ["", "j" * 257, 7, None, ["a"]])
def test_jti_must_be_a_string_of_1_to_256_characters(check: Check, jti: object) -> None:
    check.refuse("dpop.jti", check.proof(claim_overrides={"jti": jti}))


@pytest.mark.parametrize("jti", ["j", "j" * 256, "\u00e9t\u00e9", "\ud800"])
def test_any_jti_of_1_to_256_characters_passes(check: Check, jti: str) -> None:
    assert check.verify(check.proof(jti=jti)).jti == jti


# -- ath (RFC 9449 §4.2, §4.3 step 12) ------------------------------------------------------


def test_ath_is_the_unpadded_base64url_sha256_of_the_token() -> None:
    # RFC 9449 §7.1's example: the token "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    assert (
        access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")
        == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )


@pytest.mark.parametrize(
    "ath",
    [
        None,
        7,
        "",
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo",
        "\ud800",
    ],
)
def test_ath_must_be_the_hash_of_the_token_sent(check: Check, ath: object) -> None:
    check.refuse("dpop.ath", check.proof(claim_overrides={"ath": ath}))


def test_a_padded_ath_is_refused(check: Check) -> None:
    check.refuse(
        "dpop.ath", check.proof(claim_overrides={"ath": access_token_hash(check.token) + "="})
    )


def test_a_proof_for_another_token_is_refused(check: Check, issuer: ForgedIssuer) -> None:
    other = issuer.mint(dpop_key=client_key(), sub="auth0|other")
    check.refuse("dpop.ath", check.proof(access_token=other))


# -- binding (RFC 9449 §6.1, §4.3 step 12) ---------------------------------------------------


def test_a_token_bound_to_another_key_is_refused(check: Check) -> None:
    error = check.refuse("dpop.binding", check.proof(), cnf={"jkt": client_key("EdDSA").thumbprint})
    assert isinstance(error, DPoPProofError)


@pytest.mark.parametrize(
    "cnf",
    [None, {}, {"x5t#S256": "abc"}, {"jkt": 7}, {"jkt": None}, "jkt", ["jkt"]],
)
def test_a_token_without_cnf_jkt_is_unbound(check: Check, cnf: object) -> None:
    error = check.refuse("token.unbound", check.proof(), cnf=cnf)
    assert isinstance(error, DPoPTokenError)
    assert isinstance(error, InvalidTokenError)
    assert (error.status_code, error.error) == (401, "invalid_token")


def test_extra_cnf_members_are_ignored(check: Check) -> None:
    check.verify(check.proof(), cnf={"jkt": client_key().thumbprint, "x5t#S256": "abc"})


# -- replay (RFC 9449 §11.1): last ---------------------------------------------------------


def test_a_proof_is_accepted_once(check: Check) -> None:
    proof = check.proof()
    check.verify(proof)
    error = check.refuse("dpop.replay", proof)
    assert error.status_code == 401


def test_a_jti_is_per_key(issuer: ForgedIssuer) -> None:
    store = MemoryReplayStore()
    verifier = DPoPVerifier(store)
    for alg in ("ES256", "EdDSA"):
        key = client_key(alg)
        token = issuer.mint(dpop_key=key)
        proof = make_proof(key, "GET", URL, access_token=token, iat=NOW, jti="same")
        verifier.verify(
            [proof], method="GET", url=URL, access_token=token, cnf=cnf_of(token), now=NOW
        )
    assert len(store) == 2


class Recorder:
    """A store that records its calls and answers as told."""

    def __init__(self, answer: bool | Exception = True) -> None:
        self.answer = answer
        self.calls: list[tuple[str, int]] = []

    def claim(self, key: str, ttl: int) -> bool:
        self.calls.append((key, ttl))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


# The rest of the window on this clock, plus the 30 s leeway: an instance whose clock is
# behind by up to the leeway still accepts the proof that long.
@pytest.mark.parametrize(
    ("iat", "ttl"), [(NOW, 330), (NOW - 100, 230), (NOW - 299.5, 31), (NOW + 20, 350)]
)
def test_the_jti_is_kept_for_the_rest_of_the_window(token: str, iat: float, ttl: int) -> None:
    store = Recorder()
    check = Check(token)
    check.verifier = DPoPVerifier(store)
    check.verify(check.proof(iat=iat, jti="j1"))
    assert store.calls == [(replay_key(client_key().thumbprint, "j1"), ttl)]


def test_with_nonces_the_jti_is_kept_while_the_nonce_lives(token: str) -> None:
    store = Recorder()
    nonces = DPoPNonces(SECRET, step=60)
    check = Check(token)
    check.verifier = DPoPVerifier(store, nonces=nonces)
    now = 60 * 1000 + 15  # 15 s into a step: this step's nonce lives 105 s more
    check.verify(check.proof(nonce=nonces.issue(now)), now=now)
    assert store.calls[0][1] == 105 + 30  # plus the leeway, as for iat


@pytest.mark.parametrize("jti", ["a", "j" * 256])
def test_the_replay_key_has_a_bounded_length(jti: str) -> None:
    key = replay_key(client_key().thumbprint, jti)
    assert re.fullmatch(r"dpop:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{43}", key)


def test_the_replay_key_separates_thumbprint_and_jti() -> None:
    assert replay_key("ab", "c") != replay_key("a", "bc")


def test_a_proof_is_still_refused_by_an_instance_whose_clock_is_behind(token: str) -> None:
    """Two instances share a store; B's clock is 20 s behind A's (within the leeway).
    A proof accepted by A near the end of its window is still refused by B after A's
    view of the window has closed."""
    clock = [1000.0]
    store = MemoryReplayStore(clock=lambda: clock[0])
    a = Check(token)
    a.verifier = DPoPVerifier(store)
    b = Check(token)
    b.verifier = DPoPVerifier(store)
    proof = a.proof(iat=NOW - 298)
    a.verify(proof, now=NOW)
    clock[0] += 3  # 3 s later: A's window is over, B (20 s behind) is still inside it
    b.refuse("dpop.replay", proof, now=NOW + 3 - 20)


def test_a_store_that_says_seen_is_a_replay(check: Check) -> None:
    check.verifier = DPoPVerifier(Recorder(False))
    check.refuse("dpop.replay", check.proof())


@pytest.mark.parametrize("failure", [ConnectionError("down"), TimeoutError(), RuntimeError("x")])
def test_a_store_that_fails_refuses_with_503(check: Check, failure: Exception) -> None:
    check.verifier = DPoPVerifier(Recorder(failure))
    error = check.refuse("dpop.store_unavailable", check.proof())
    assert isinstance(error, DPoPStoreUnavailableError)
    assert (error.status_code, error.error) == (503, "temporarily_unavailable")
    assert error.retry_after >= 1


def test_a_refused_proof_does_not_use_up_its_jti(check: Check) -> None:
    check.refuse("dpop.method", check.proof(jti="once", method="POST"))
    check.refuse("dpop.binding", check.proof(jti="once"), cnf={"jkt": "other"})
    check.verify(check.proof(jti="once"))


# -- the order of the checks -------------------------------------------------------------

# Each fault, applied to the control: (proof changes, request changes).
FAULTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "dpop.type": ({"header_overrides": {"typ": "JWT"}}, {}),
    "dpop.header": ({"header_overrides": {"crit": ["exp"]}}, {}),
    "dpop.algorithm": ({"header_overrides": {"alg": "RS256"}}, {}),
    "dpop.key": ({"header_overrides": {"jwk": {"kty": "oct", "k": "AAAA"}}}, {}),
    "dpop.signature": ({"sign_with": "other"}, {}),
    "dpop.method": ({"method": "POST"}, {}),
    "dpop.url": ({"url": "https://other.example.test/orders"}, {}),
    "dpop.iat": ({"iat": NOW - 3600}, {}),
    "dpop.jti": ({"jti": ""}, {}),
    "dpop.ath": ({"access_token": "another token"}, {}),
    "dpop.binding": ({}, {"cnf": {"jkt": "someone else"}}),
}
ORDER = list(FAULTS)


def _with_faults(check: Check, *codes: str) -> tuple[str, dict[str, Any]]:
    changes: dict[str, Any] = {}
    request: dict[str, Any] = {}
    for code in codes:
        proof_changes, request_changes = FAULTS[code]
        for name, value in proof_changes.items():
            if isinstance(value, dict) and isinstance(changes.get(name), dict):
                changes[name] = {**changes[name], **value}
            else:
                changes[name] = value
        request.update(request_changes)
    if changes.get("sign_with") == "other":
        changes["sign_with"] = DPoPKey.generate()
    return check.proof(**changes), request


@pytest.mark.parametrize("code", ORDER)
def test_each_fault_alone_gives_its_code(check: Check, code: str) -> None:
    proof, request = _with_faults(check, code)
    check.refuse(code, proof, **request)


@pytest.mark.parametrize(("first", "second"), list(itertools.pairwise(ORDER)))
def test_the_earlier_check_wins(check: Check, first: str, second: str) -> None:
    proof, request = _with_faults(check, first, second)
    check.refuse(first, proof, **request)


def test_the_header_count_comes_before_everything(check: Check) -> None:
    proof, _ = _with_faults(check, "dpop.type")
    check.refuse("dpop.several", [proof, proof])


def test_binding_comes_before_replay(check: Check) -> None:
    proof = check.proof()
    check.verify(proof)
    check.refuse("dpop.binding", proof, cnf={"jkt": "other"})


def test_an_unbound_token_is_found_before_replay(check: Check) -> None:
    proof = check.proof()
    check.verify(proof)
    check.refuse("token.unbound", proof, cnf=None)


# -- the errors and their reason codes ----------------------------------------------------


def test_every_dpop_code_is_well_formed() -> None:
    codes = [row.code for row in DPOP_REASONS]
    assert len(codes) == len(set(codes))
    for row in DPOP_REASONS:
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", row.code)
        assert row.code.startswith("dpop.") or row.code in ("token.unbound", "token.dpop_required")
        assert row.status in (400, 401, 503)
        assert row.fix.endswith(".")
        assert re.fullmatch(r"[\x20\x21\x23-\x5b\x5d-\x7e]+", row.sentence)
        # New codes only: merged into reasons.REASONS, none may change an existing one.
        assert row.code not in REASONS or REASONS[row.code] == row


def _causes(check: Check, nonce_check: Check) -> dict[str, Callable[[], object]]:
    """One way to cause each DPoP code that is no fault of :data:`FAULTS`."""
    proof = check.proof()
    broken = Check(check.token)
    broken.verifier = DPoPVerifier(Recorder(OSError("unreachable")))
    return {
        "dpop.missing": lambda: check.verify([]),
        "dpop.several": lambda: check.verify([proof, proof]),
        "dpop.malformed": lambda: check.verify("x"),
        "dpop.nonce_required": lambda: nonce_check.verify(nonce_check.proof()),
        "dpop.nonce": lambda: nonce_check.verify(nonce_check.proof(nonce="stale")),
        "token.unbound": lambda: check.verify(check.proof(), cnf=None),
        "dpop.replay": lambda: (check.verify(proof), check.verify(proof)),
        "dpop.store_unavailable": lambda: broken.verify(broken.proof()),
    }


def _fault(check: Check, code: str) -> Callable[[], object]:
    proof, request = _with_faults(check, code)
    return lambda: check.verify(proof, **request)


def test_every_dpop_code_can_happen_with_its_status(token: str) -> None:
    """Each code but the class default is raised by the verifier itself, with its row's
    status and sentence; together they cover :data:`DPOP_REASONS`."""
    check, nonce_check = Check(token), Check(token, nonces=DPoPNonces(SECRET))
    rows = {row.code: row for row in DPOP_REASONS}
    causes = _causes(check, nonce_check)
    # The Flask layer raises the last two (tests/dpop/ causes them).
    flask_layer = {"dpop.with_bearer", "token.dpop_required"}
    assert set(causes) | set(FAULTS) | {"dpop.invalid"} | flask_layer == set(rows)
    causes.update({code: _fault(check, code) for code in FAULTS})
    for code, cause in causes.items():
        with pytest.raises(ClaimGuardError) as info:
            cause()
        error = info.value
        assert error.reason == code, error.detail
        assert error.status_code == rows[code].status
        assert str(error) == error.description == rows[code].sentence


@pytest.mark.parametrize(
    ("error", "status", "oauth"),
    [
        (DPoPRequestError(), 400, "invalid_request"),
        (DPoPProofError(), 401, "invalid_dpop_proof"),
        (DPoPNonceError(), 401, "use_dpop_nonce"),
        (DPoPTokenError(), 401, "invalid_token"),
        (DPoPStoreUnavailableError(), 503, "temporarily_unavailable"),
    ],
)
def test_each_error_class_defaults_to_a_code_of_its_status(
    error: ClaimGuardError, status: int, oauth: str
) -> None:
    rows = {row.code: row for row in DPOP_REASONS}
    assert (error.status_code, error.error) == (status, oauth)
    assert rows[error.reason].status == status
    assert error.body() == {"error": oauth, "error_description": rows[error.reason].sentence}


def test_a_code_of_another_status_is_refused() -> None:
    with pytest.raises(ValueError, match="answers 400"):
        DPoPProofError(reason="dpop.malformed")
    with pytest.raises(ValueError, match="unknown DPoP reason"):
        DPoPProofError(reason="token.expired")


def test_the_challenge_uses_the_dpop_scheme_and_names_the_algorithms(check: Check) -> None:
    error = check.refuse("dpop.method", check.proof(method="POST"))
    assert error.www_authenticate('api"x') == (
        'DPoP realm="apix", error="invalid_dpop_proof", '
        'error_description="The DPoP proof is invalid.", algs="ES256 EdDSA"'
    )


def test_the_detail_escapes_what_the_client_sent(check: Check) -> None:
    error = check.refuse("dpop.method", check.proof(claim_overrides={"htm": 'GET"\n'}))
    assert "\n" not in error.detail
    assert '\\"' in error.detail
    assert "\\x0a" in error.detail


# -- options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"algorithms": []},
        {"algorithms": ["HS256"]},
        {"algorithms": ["none"]},
        {"algorithms": ["ES256", "HS256"]},
        {"max_age": 0},
        {"max_age": -1},
        {"leeway": -1},
        {"max_age": math.inf},
        {"max_age": "300"},
        {"leeway": True},
    ],
)
def test_options_that_cannot_work_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        DPoPVerifier(MemoryReplayStore(), **options)


def test_a_store_without_claim_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="claim"):
        DPoPVerifier(object())  # type: ignore[arg-type]


def test_the_clock_is_used_without_now(token: str) -> None:
    check = Check(token)
    check.verifier = DPoPVerifier(MemoryReplayStore(), clock=lambda: NOW + 1000)
    with pytest.raises(DPoPProofError) as info:
        check.verifier.verify(
            [check.proof()], method="GET", url=URL, access_token=token, cnf=cnf_of(token)
        )
    assert info.value.reason == "dpop.iat"


# -- RFC 7638 thumbprints ------------------------------------------------------------------

RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI"
    "4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)


def test_thumbprint_of_the_rfc_7638_example() -> None:
    jwk = {"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_of_the_rfc_8037_ed25519_example() -> None:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_an_ec_thumbprint_hashes_crv_kty_x_y_in_order() -> None:
    jwk = client_key().public_jwk
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"]}, separators=(",", ":")
    )
    expected = b64url(hashlib.sha256(canonical.encode()).digest())
    assert jwk_thumbprint({**jwk, "kid": "ignored", "use": "sig"}) == expected


def test_the_hex_thumbprint_of_key_sets_is_the_same_digest() -> None:
    jwk = client_key("EdDSA").public_jwk
    digest = urlsafe_b64decode(jwk_thumbprint(jwk) + "=")
    assert _thumbprint(jwk) == digest.hex()


# -- the test kit ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_dpop_keys_publish_a_minimal_public_jwk(alg: str) -> None:
    key = client_key(alg)
    assert set(key.public_jwk) <= {"kty", "crv", "x", "y", "n", "e"}
    assert "d" in key.private_jwk
    assert key.thumbprint == jwk_thumbprint(key.public_jwk)


def test_mint_binds_a_token_to_a_dpop_key(issuer: ForgedIssuer) -> None:
    key = client_key()
    assert cnf_of(issuer.mint(dpop_key=key)) == {"jkt": key.thumbprint}
    assert cnf_of(issuer.mint(dpop_key=key, cnf={"jkt": "mine"})) == {"jkt": "mine"}
    assert cnf_of(issuer.mint()) is None


def test_a_bound_token_is_still_refused_as_a_bearer_token(issuer: ForgedIssuer) -> None:
    with pytest.raises(InvalidTokenError) as info:
        issuer.validator().validate(issuer.mint(dpop_key=client_key()))
    assert info.value.reason == "token.bound"


def test_make_proof_writes_what_it_is_told() -> None:
    key = client_key()
    proof = make_proof(
        key,
        "PUT",
        "https://x.test/y?q",
        access_token="tok",
        nonce="n",
        iat=5,
        jti="j",
        header_overrides={"kid": "k", "typ": None},
        claim_overrides={"extra": 1, "nonce": None},
    )
    parsed = parse_compact(proof)
    assert dict(parsed.header) == {"alg": "ES256", "jwk": key.public_jwk, "kid": "k"}
    assert parsed.payload == {
        "jti": "j",
        "htm": "PUT",
        "htu": "https://x.test/y?q",
        "iat": 5,
        "ath": access_token_hash("tok"),
        "extra": 1,
    }


def test_make_proof_can_leave_the_signature_out() -> None:
    assert make_proof(client_key(), "GET", URL, alg="none").endswith(".")
