"""TokenValidator: every check, in order, against a real loopback issuer.

Each rejection test names the rule (or the attack) it covers. Where it makes sense, a
test also shows that the same token passes once its one defect is removed, so the test
fails if the check it covers were dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from base64 import urlsafe_b64decode
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.hazmat.primitives.serialization import PublicFormat
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import claimguard.validation as validation_module
from claimguard import JWKSCache
from claimguard import TokenValidator
from claimguard.bearer import MAX_TOKEN_BYTES
from claimguard.errors import ConfigurationError
from claimguard.errors import ExpiredTokenError
from claimguard.errors import InvalidTokenError
from claimguard.errors import KeySetUnavailableError
from claimguard.testing import ForgedIssuer
from claimguard.testing import ForgedKey
from expected import ALGORITHM
from expected import AUDIENCE_MISMATCH as AUDIENCE
from expected import BOUND
from expected import CLAIMS
from expected import CLIENT
from expected import EXPIRED
from expected import ISSUER
from expected import MALFORMED
from expected import NOT_YET
from expected import SIGNATURE
from expected import T0
from expected import TOO_LARGE
from expected import TYPE
from expected import UNKNOWN_KEY
from expected import ManualClock as Clock
from expected import at
from expected import refuse

ROLES = "https://my-app.example.com/roles"


def b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def fresh(issuer: ForgedIssuer) -> Iterator[TokenValidator]:
    """A validator with an empty key set: any key lookup would fetch.

    The test fails if the token it checks made the validator fetch the JWKS: use it
    for checks that must come before the key lookup (check order, steps 1-3).
    """
    before = issuer.jwks_requests
    yield issuer.validator()
    assert issuer.jwks_requests == before, "the check should refuse before any fetch"


# -- the valid case ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "forged_issuer",
    [
        {"algorithm": "RS256"},
        {"algorithm": "PS256"},
        {"algorithm": "ES256"},
        {"algorithm": "ES384"},
        {"algorithm": "ES512"},
        {"algorithm": "EdDSA"},
    ],
    indirect=True,
    ids=["RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"],
)
def test_valid_token_passes_for_each_algorithm(forged_issuer: ForgedIssuer) -> None:
    """RFC 7518 §3.3-3.5, RFC 8037: each supported asymmetric algorithm verifies."""
    token = forged_issuer.mint(roles=["admin"], scope="read write", permissions=["p"])
    verified = forged_issuer.validator().validate(token)
    assert verified.header["alg"] == forged_issuer.algorithm
    assert verified.roles == frozenset({"admin"})
    assert verified.scopes == frozenset({"read", "write"})
    assert verified.permissions == frozenset({"p"})
    assert forged_issuer.jwks_requests == 1


# -- step 1: size -----------------------------------------------------------------------


def test_oversized_token_is_refused_without_fetch(
    fresh: TokenValidator, issuer: ForgedIssuer
) -> None:
    """Check order, step 1: a token over 8 KiB is invalid_token, before any parsing."""
    token = issuer.mint(padding="x" * MAX_TOKEN_BYTES)
    assert len(token) > MAX_TOKEN_BYTES
    refuse(fresh, token, TOO_LARGE)


@pytest.mark.parametrize("token", ["", b"a.b.c", None, 42])
def test_non_string_or_empty_token_is_refused(fresh: TokenValidator, token: Any) -> None:
    """The core takes a str; anything else is a refusal, not a TypeError."""
    refuse(fresh, token, MALFORMED)


@pytest.mark.parametrize("token", ["opaque-token", "a.b", "a.b.c.d.e", "x" * 100])
def test_opaque_or_jwe_token_is_refused_without_fetch(fresh: TokenValidator, token: str) -> None:
    """Check order, step 2: an opaque (non-JWT) token or a JWE is malformed."""
    refuse(fresh, token, MALFORMED)


# -- step 2: header ---------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_refused_without_fetch(
    fresh: TokenValidator, issuer: ForgedIssuer, alg: str
) -> None:
    """RFC 8725 §3.2 / CVE-2015-9235: `alg: none` in any case is refused, signed or not."""
    header = {"alg": alg, "typ": "JWT", "kid": issuer.kid}
    signed = issuer.sign(header, issuer.claims())
    refuse(fresh, signed, ALGORITHM)
    unsigned = signed.rsplit(".", 1)[0] + "."
    refuse(fresh, unsigned, MALFORMED)


def test_the_same_header_with_rs256_passes(validator: TokenValidator, issuer: ForgedIssuer) -> None:
    """Control for the alg tests: only the alg differs between refused and accepted."""
    header = {"alg": "RS256", "typ": "JWT", "kid": issuer.kid}
    assert validator.validate(issuer.sign(header, issuer.claims()))


@pytest.mark.parametrize(
    "header",
    [
        {},
        {"alg": None},
        {"alg": ""},
        {"alg": 256},
        {"alg": ["RS256"]},
        {"alg": {"name": "RS256"}},
        {"alg": True},
        {"alg": "rs256"},
        {"alg": " RS256"},
    ],
    ids=["missing", "null", "empty", "number", "array", "object", "bool", "lowercase", "space"],
)
def test_alg_missing_or_not_an_allowed_string_is_refused_without_fetch(
    fresh: TokenValidator, issuer: ForgedIssuer, header: dict[str, Any]
) -> None:
    """RFC 7515 §4.1.1: alg is a case-sensitive string, and must be on our allow-list."""
    refuse(fresh, issuer.sign({**header, "kid": issuer.kid}, issuer.claims()), ALGORITHM)


def test_hs256_signed_with_the_public_key_is_refused_without_fetch(
    fresh: TokenValidator, issuer: ForgedIssuer
) -> None:
    """RFC 8725 §2.1 algorithm confusion: HMAC keyed with the RSA public key PEM."""
    pem = issuer.current_key.public_key.public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": issuer.kid}).encode())
    payload = b64(json.dumps(issuer.claims(roles=["admin"])).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(pem, signing_input, hashlib.sha256).digest()
    refuse(fresh, f"{header}.{payload}.{b64(signature)}", ALGORITHM)


@pytest.fixture
def issuer_without_jwk_alg(issuer: ForgedIssuer) -> Iterator[ForgedIssuer]:
    """The module issuer while its JWKS omits `alg` (some providers do)."""
    jwk = issuer.current_key.public_jwk()
    del jwk["alg"]
    with issuer.jwks_response({"keys": [jwk]}):
        yield issuer


def test_alg_not_on_the_allow_list_is_refused_without_fetch(
    issuer_without_jwk_alg: ForgedIssuer,
) -> None:
    """RFC 8725 §3.1: only configured algorithms; RS512 is refused when only RS256 is allowed."""
    issuer = issuer_without_jwk_alg
    header = {"alg": "RS512", "typ": "JWT", "kid": issuer.kid}
    token = issuer.sign(header, issuer.claims(), algorithm="RS512")
    before = issuer.jwks_requests
    refuse(issuer.validator(algorithms=["RS256"]), token, ALGORITHM)
    assert issuer.jwks_requests == before
    assert issuer.validator(algorithms=["RS256", "RS512"]).validate(token)


def test_key_alg_binds_the_token_alg(issuer: ForgedIssuer) -> None:
    """RFC 7517 §4.4: a key published for RS256 does not verify a PS256 signature it made."""
    header = {"alg": "PS256", "typ": "JWT", "kid": issuer.kid}
    token = issuer.sign(header, issuer.claims(), algorithm="PS256")
    refuse(issuer.validator(algorithms=["RS256", "PS256"]), token, ALGORITHM)
    # Control: published without `alg`, the same RSA key fits PS256 and the token passes.
    jwk = issuer.current_key.public_jwk()
    del jwk["alg"]
    with issuer.jwks_response({"keys": [jwk]}):
        assert issuer.validator(algorithms=["RS256", "PS256"]).validate(token)


def test_key_type_must_fit_the_alg(issuer: ForgedIssuer) -> None:
    """RFC 8725 §3.1: an ES256 token naming an RSA key's kid is refused by key type."""
    ec_key = ForgedKey.generate("ES256", kid=issuer.kid)
    token = issuer.mint(key=ec_key)
    assert json.loads(unb64(token.split(".")[0]))["kid"] == issuer.kid
    refuse(issuer.validator(algorithms=["RS256", "ES256"]), token, ALGORITHM)


@pytest.mark.parametrize(
    "kid",
    [None, 123, ["k"], {"k": 1}, True, "", "k" * 257],
    ids=["null", "number", "array", "object", "bool", "empty", "too-long"],
)
def test_kid_not_a_short_string_is_refused_without_fetch(
    fresh: TokenValidator, issuer: ForgedIssuer, kid: object
) -> None:
    """RFC 7515 §4.1.4: kid is a string; we also cap its length (256)."""
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    refuse(fresh, issuer.sign(header, issuer.claims()), MALFORMED)


def test_kid_at_the_length_cap_reaches_the_key_lookup(issuer: ForgedIssuer) -> None:
    """Control: a 256-character kid is well-formed; it is refused as an unknown key."""
    refuse(issuer.validator(), issuer.mint(headers={"kid": "k" * 256}), UNKNOWN_KEY)


@pytest.mark.parametrize(
    ("name", "value"),
    [("crit", ["exp"]), ("b64", False), ("zip", "DEF"), ("cty", "JWT")],
)
def test_unsupported_header_parameters_are_refused_without_fetch(
    fresh: TokenValidator, issuer: ForgedIssuer, name: str, value: object
) -> None:
    """RFC 7515 §4.1.11 crit, RFC 7797 b64, RFC 7516 zip, nested JWT cty: not implemented."""
    refuse(fresh, issuer.mint(headers={name: value}), MALFORMED)


def test_key_finding_header_fields_are_ignored(
    validator: TokenValidator, issuer: ForgedIssuer
) -> None:
    """Jku, x5u, jwk and x5c never find keys: an attacker's key is not used."""
    attacker = ForgedKey.generate("RS256", kid="attacker")
    headers = {
        "kid": "attacker",
        "jwk": attacker.public_jwk(),
        "jku": "http://127.0.0.1:1/jwks.json",
        "x5u": "http://127.0.0.1:1/cert.pem",
        "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
    }
    refuse(issuer.validator(), issuer.mint(headers=headers, key=attacker), UNKNOWN_KEY)
    # The same fields on a token signed by the real key change nothing.
    assert validator.validate(issuer.mint(headers={k: v for k, v in headers.items() if k != "kid"}))


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"])
def test_strict_typ_accepts_at_jwt(issuer: ForgedIssuer, typ: str) -> None:
    """RFC 9068 §4: typ at+jwt (the application/ prefix optional), compared case-insensitively."""
    assert issuer.validator(strict_typ=True).validate(issuer.mint(headers={"typ": typ}))


@pytest.mark.parametrize("typ", ["JWT", None, "at+jwt2", "jwt", 7, ""])
def test_strict_typ_refuses_other_types_without_fetch(issuer: ForgedIssuer, typ: object) -> None:
    """RFC 9068 §4 / RFC 8725 §3.11: with strict typ, an ID token (typ JWT) is refused."""
    token = issuer.mint(headers={"typ": typ})
    strict = issuer.validator(strict_typ=True)
    before = issuer.jwks_requests
    refuse(strict, token, TYPE)
    assert issuer.jwks_requests == before


@pytest.mark.parametrize(
    "typ", ["JWT", "jwt", "application/jwt", "at+jwt", "application/at+jwt", "AT+JWT", None]
)
def test_access_token_types_pass_when_not_strict(
    validator: TokenValidator, issuer: ForgedIssuer, typ: str | None
) -> None:
    """CLAIMGUARD_STRICT_TYP is off by default (Auth0's default profile writes typ JWT):
    typ may then be absent or name an access token (RFC 7519 §5.1, RFC 9068 §2.1)."""
    assert validator.validate(issuer.mint(headers={"typ": typ}))


@pytest.mark.parametrize(
    "typ",
    [
        "dpop+jwt",  # RFC 9449 §4.2: a DPoP proof
        "application/dpop+jwt",
        "logout+jwt",  # OIDC Back-Channel Logout §2.4
        "secevent+jwt",  # RFC 8417 §2.3: a security event token
        "id_token+jwt",
        "token-introspection+jwt",  # RFC 9701
        "JOSE",
        "at+jwt2",
        "",
        7,
        ["JWT"],
    ],
)
def test_other_kinds_of_jwt_are_refused_whatever_the_strictness(
    validator: TokenValidator, issuer: ForgedIssuer, typ: object
) -> None:
    """RFC 8725 §3.11, explicit typing: a JWT whose typ names another class of token is
    not an access token, even when the issuer signed it and strict typing is off. The
    check comes before any key is fetched."""
    token = issuer.mint(headers={"typ": typ})
    before = issuer.jwks_requests
    error = refuse(validator, token, TYPE)
    assert "another kind of JWT" in error.detail
    refuse(issuer.validator(strict_typ=True), token, TYPE)
    assert issuer.jwks_requests == before


# -- step 3: issuer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_iss",
    [
        lambda issuer: None,
        lambda issuer: 42,
        lambda issuer: [issuer.issuer],
        lambda issuer: "",
        lambda issuer: "https://evil.example/",
        lambda issuer: issuer.issuer.rstrip("/"),
        lambda issuer: issuer.issuer + "/",
        lambda issuer: issuer.issuer.upper(),
        lambda issuer: issuer.issuer + " ",
    ],
    ids=[
        "missing",
        "number",
        "array",
        "empty",
        "other",
        "no-slash",
        "two-slashes",
        "upper",
        "space",
    ],
)
def test_untrusted_issuer_is_refused_without_fetch(
    fresh: TokenValidator, issuer: ForgedIssuer, make_iss: Any
) -> None:
    """RFC 7519 §4.1.1 / RFC 9068 §4: iss matches a configured issuer exactly, before keys."""
    refuse(fresh, issuer.mint(iss=make_iss(issuer)), ISSUER)


def test_issuer_selects_its_own_key_set(issuer: ForgedIssuer) -> None:
    """Only the token's issuer's keys can verify it (no cross-issuer keys)."""
    with ForgedIssuer(algorithm="EdDSA") as other:
        both = TokenValidator(
            issuers={issuer.issuer: issuer.key_set(), other.issuer: other.key_set()},
            audiences=issuer.audience,
            algorithms=["RS256", "EdDSA"],
        )
        assert both.validate(issuer.mint())
        assert both.validate(other.mint())
        # Signed by the other issuer's key, but claiming this issuer: wrong key set.
        forged = other.mint(iss=issuer.issuer, headers={"kid": issuer.kid})
        refuse(both, forged, ALGORITHM)
        forged = other.mint(iss=issuer.issuer)
        refuse(both, forged, UNKNOWN_KEY)


# -- step 4 and 5: key and signature ----------------------------------------------------


def test_unknown_kid_is_refused(issuer: ForgedIssuer) -> None:
    """A kid absent from a freshly fetched set is invalid_token (after one refetch)."""
    validator = issuer.validator()
    before = issuer.jwks_requests
    refuse(validator, issuer.mint(headers={"kid": "no-such-key"}), UNKNOWN_KEY)
    assert issuer.jwks_requests - before <= 2  # first load + at most one kid refetch


def test_tampered_payload_is_refused(validator: TokenValidator, issuer: ForgedIssuer) -> None:
    """RFC 7515 §5.2 step 8: a changed payload (a role added) fails the signature."""
    token = issuer.mint(roles=["viewer"])
    assert validator.validate(token)
    header, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))
    claims[ROLES] = ["admin"]
    tampered = ".".join([header, b64(json.dumps(claims).encode()), signature])
    refuse(validator, tampered, SIGNATURE)


def test_signature_of_another_token_is_refused(
    validator: TokenValidator, issuer: ForgedIssuer
) -> None:
    """A valid signature belongs to its own signing input only."""
    mine = issuer.mint(sub="auth0|me")
    other = issuer.mint(sub="auth0|admin", roles=["admin"])
    assert validator.validate(mine)
    spliced = mine.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[1]
    refuse(validator, spliced, SIGNATURE)


def test_truncated_signature_is_refused(validator: TokenValidator, issuer: ForgedIssuer) -> None:
    """A signature shortened by a few bytes fails (never an exception)."""
    head, signature = issuer.mint().rsplit(".", 1)
    refuse(validator, head + "." + b64(unb64(signature)[:-4]), SIGNATURE)
    refuse(validator, head + "." + b64(b"\x00"), SIGNATURE)


def test_empty_signature_is_refused(validator: TokenValidator, issuer: ForgedIssuer) -> None:
    """RFC 8725 §3.2: a token with an empty signature is unsigned."""
    head = issuer.mint().rsplit(".", 1)[0]
    refuse(validator, head + ".", MALFORMED)


def test_another_key_with_the_same_kid_is_refused(
    validator: TokenValidator, issuer: ForgedIssuer
) -> None:
    """An attacker's key that reuses the published kid cannot sign: the signature fails."""
    impostor = ForgedKey.generate("RS256", kid=issuer.kid)
    refuse(validator, issuer.mint(key=impostor), SIGNATURE)


def test_token_without_kid_needs_a_single_key_set(forged_issuer: ForgedIssuer) -> None:
    """Check order, step 6: no kid is verified only when the set holds exactly one key."""
    validator = forged_issuer.validator()
    assert validator.validate(forged_issuer.mint(headers={"kid": None}))
    forged_issuer.rotate()  # now two keys are published
    validator = forged_issuer.validator()
    refuse(validator, forged_issuer.mint(headers={"kid": None}), UNKNOWN_KEY)
    assert validator.validate(forged_issuer.mint())


# -- step 6: claims ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "aud",
    [None, [], "", 42, [42], ["https://api.example.test", 1], {"aud": "x"}],
    ids=["missing", "empty-list", "empty", "number", "number-list", "mixed-list", "object"],
)
def test_aud_missing_or_malformed_is_refused(
    validator: TokenValidator, issuer: ForgedIssuer, aud: object
) -> None:
    """RFC 7519 §4.1.3: aud is required here, a string or an array of strings."""
    refuse(validator, issuer.mint(aud=aud), AUDIENCE if aud == "" else CLAIMS)


@pytest.mark.parametrize(
    "aud",
    [
        "https://other-api.example.test",
        ["https://other-api.example.test"],
        "https://api.example.test/",
        "HTTPS://API.EXAMPLE.TEST",
        "https://tenant.example.com/userinfo",
    ],
)
def test_aud_for_another_api_is_refused(
    validator: TokenValidator, issuer: ForgedIssuer, aud: object
) -> None:
    """RFC 7519 §4.1.3 / RFC 9068 §4: one of aud must exactly be this API's identifier."""
    refuse(validator, issuer.mint(aud=aud), AUDIENCE)


def test_aud_list_containing_ours_is_accepted(
    validator: TokenValidator, issuer: ForgedIssuer
) -> None:
    """Auth0 sends [API, /userinfo] when openid was requested; one match suffices."""
    aud = ["https://tenant.example.com/userinfo", issuer.audience]
    assert validator.validate(issuer.mint(aud=aud)).audience == tuple(aud)


def test_several_configured_audiences(issuer: ForgedIssuer) -> None:
    """CLAIMGUARD_AUDIENCE may list several; a token matches any of them."""
    second = "https://second-api.example.test"
    validator = issuer.validator(audiences=[issuer.audience, second])
    assert validator.validate(issuer.mint(aud=second))
    assert validator.validate(issuer.mint(aud=issuer.audience))
    refuse(validator, issuer.mint(aud="https://third-api.example.test"), AUDIENCE)


@pytest.mark.parametrize("sub", [None, "", 42, ["auth0|1"], True])
def test_sub_missing_or_not_a_string_is_refused(
    validator: TokenValidator, issuer: ForgedIssuer, sub: object
) -> None:
    """RFC 9068 §2.2: sub is required; a non-empty string."""
    refuse(validator, issuer.mint(sub=sub), CLAIMS)


@pytest.mark.parametrize(
    "exp",
    [None, "FUTURE", True, 1e20, 10**30, -(10**30), [2_000_000_000], {"t": 1}],
    ids=["missing", "string", "bool", "1e20", "huge-int", "huge-negative", "array", "object"],
)
def test_exp_missing_or_not_a_usable_numeric_date_is_refused(
    validator: TokenValidator, issuer: ForgedIssuer, exp: object
) -> None:
    """RFC 7519 §2, §4.1.4: exp is required, a JSON number within datetime's range."""
    value = str(int(time.time()) + 3600) if exp == "FUTURE" else exp
    refuse(validator, issuer.mint(exp=value), CLAIMS)


def test_exp_as_a_400_digit_integer_is_refused(
    validator: TokenValidator, issuer: ForgedIssuer
) -> None:
    """A number too large for a float is a claims refusal, not an OverflowError."""
    refuse(validator, issuer.mint(exp=10**400), CLAIMS)


def test_exp_nan_cannot_be_expressed_in_json(
    validator: TokenValidator, issuer: ForgedIssuer
) -> None:
    """RFC 8259 §6: NaN is not JSON; a payload spelling it is malformed."""
    payload = json.dumps(issuer.claims(exp=float("nan"))).encode()
    assert b"NaN" in payload
    header = {"alg": "RS256", "typ": "JWT", "kid": issuer.kid}
    refuse(validator, issuer.sign(header, payload), MALFORMED)


def test_exp_with_a_fraction_is_accepted(validator: TokenValidator, issuer: ForgedIssuer) -> None:
    """RFC 7519 §2: a NumericDate may have a fraction."""
    exp = time.time() + 3600.5
    verified = validator.validate(issuer.mint(exp=exp))
    assert verified.expires_at.timestamp() == pytest.approx(exp)


def test_expired_token_raises_expired_token_error(
    validator: TokenValidator, issuer: ForgedIssuer
) -> None:
    """RFC 7519 §4.1.4: past exp → ExpiredTokenError (a subclass of InvalidTokenError)."""
    error = refuse(validator, issuer.mint(expires_in=-60), EXPIRED)
    assert type(error) is ExpiredTokenError
    refuse(validator, issuer.mint(exp=-1), EXPIRED)


def test_exp_boundary_with_leeway(issuer: ForgedIssuer, clock: Clock) -> None:
    """RFC 7519 §4.1.4: refused on or after exp (+ leeway), accepted just before."""
    validator = issuer.validator(clock=clock, token_cache_size=0)
    token = at(issuer, exp=int(T0))
    clock.now = T0 + 4.9
    assert validator.validate(token)
    clock.now = T0 + 5
    refuse(validator, token, EXPIRED)


def test_nbf_in_the_future_is_refused(issuer: ForgedIssuer, clock: Clock) -> None:
    """RFC 7519 §4.1.5: not before nbf, beyond the leeway."""
    validator = issuer.validator(clock=clock)
    refuse(validator, at(issuer, nbf=T0 + 6), NOT_YET)
    assert validator.validate(at(issuer, nbf=T0 + 5))
    assert validator.validate(at(issuer, nbf=T0 - 100))


def test_nbf_with_zero_leeway(issuer: ForgedIssuer, clock: Clock) -> None:
    """CLAIMGUARD_LEEWAY 0: one second ahead is too early."""
    validator = issuer.validator(clock=clock, leeway=0)
    refuse(validator, at(issuer, nbf=T0 + 1), NOT_YET)
    assert validator.validate(at(issuer, nbf=T0))


@pytest.mark.parametrize("nbf", ["0", False, [0]])
def test_nbf_not_a_number_is_refused(issuer: ForgedIssuer, clock: Clock, nbf: object) -> None:
    """RFC 7519 §4.1.5: nbf, when present, is a NumericDate."""
    refuse(issuer.validator(clock=clock), at(issuer, nbf=nbf), CLAIMS)


def test_iat_in_the_future_is_refused(issuer: ForgedIssuer, clock: Clock) -> None:
    """Check order, step 6: an iat in the future beyond leeway is refused."""
    validator = issuer.validator(clock=clock)
    refuse(validator, at(issuer, iat=T0 + 6), NOT_YET)
    assert validator.validate(at(issuer, iat=T0 + 5))


@pytest.mark.parametrize("iat", ["now", True, [T0], None])
def test_iat_malformed_is_refused(issuer: ForgedIssuer, clock: Clock, iat: object) -> None:
    """RFC 7519 §4.1.6: iat is a NumericDate."""
    refuse(issuer.validator(clock=clock), at(issuer, iat=iat), CLAIMS)


def test_iat_is_required(issuer: ForgedIssuer, clock: Clock) -> None:
    """RFC 9068 §2.2: iat is REQUIRED in a JWT access token (Auth0 always sets it)."""
    validator = issuer.validator(clock=clock)
    error = refuse(validator, at(issuer, iat=None), CLAIMS)
    assert error.detail == "iat is missing"
    assert validator.validate(at(issuer, iat=T0 - 10))


def test_max_token_age(issuer: ForgedIssuer, clock: Clock) -> None:
    """CLAIMGUARD_MAX_TOKEN_AGE: an iat older than the limit (+ leeway) is refused."""
    validator = issuer.validator(clock=clock, max_token_age=60)
    error = refuse(validator, at(issuer, iat=T0 - 66), EXPIRED)
    assert isinstance(error, ExpiredTokenError)
    assert validator.validate(at(issuer, iat=T0 - 65))
    assert issuer.validator(clock=clock).validate(at(issuer, iat=T0 - 3000))


def test_max_token_age_still_refuses_a_token_without_iat(
    issuer: ForgedIssuer, clock: Clock
) -> None:
    """With a maximum age set, a token without iat stays refused (iat is always required)."""
    refuse(issuer.validator(clock=clock, max_token_age=60), at(issuer, iat=None), CLAIMS)


def test_allowed_clients_via_azp(issuer: ForgedIssuer) -> None:
    """CLAIMGUARD_ALLOWED_CLIENTS checks Auth0's azp."""
    validator = issuer.validator(allowed_clients=["client-a", "client-b"])
    assert validator.validate(issuer.mint(azp="client-b"))
    refuse(validator, issuer.mint(azp="client-c"), CLIENT)
    refuse(validator, issuer.mint(azp=None), CLIENT)
    refuse(validator, issuer.mint(azp=["client-a"]), CLIENT)
    assert issuer.validator().validate(issuer.mint(azp="client-c"))


def test_allowed_clients_via_client_id(issuer: ForgedIssuer) -> None:
    """RFC 9068 §2.2: client_id names the client and takes precedence over azp."""
    validator = issuer.validator(allowed_clients="client-a")
    assert validator.validate(issuer.mint(client_id="client-a"))
    refuse(validator, issuer.mint(client_id="client-x"), CLIENT)
    refuse(validator, issuer.mint(client_id="client-x", azp="client-a"), CLIENT)
    refuse(validator, issuer.mint(client_id=7, azp="client-a"), CLIENT)


@pytest.mark.parametrize(
    "cnf", [{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, {"x5t#S256": "abc"}, {}]
)
def test_sender_constrained_token_is_refused(
    validator: TokenValidator, issuer: ForgedIssuer, cnf: object
) -> None:
    """RFC 9449 §6 / RFC 8705 §3: a cnf-bound token is not replayable as a bearer token."""
    refuse(validator, issuer.mint(cnf=cnf), BOUND)


def test_cnf_null_is_refused(validator: TokenValidator, issuer: ForgedIssuer) -> None:
    """A present cnf claim refuses the token whatever its value."""
    header = {"alg": "RS256", "typ": "JWT", "kid": issuer.kid}
    refuse(validator, issuer.sign(header, {**issuer.claims(), "cnf": None}), BOUND)


# -- configuration ----------------------------------------------------------------------


KEYS = JWKSCache("https://tenant.example.com/.well-known/jwks.json")
GOOD: dict[str, Any] = {
    "issuers": {"https://tenant.example.com/": KEYS},
    "audiences": "https://api.example.com",
}


def build(**overrides: Any) -> TokenValidator:
    return TokenValidator(**{**GOOD, **overrides})


def test_good_configuration_builds_without_io() -> None:
    """Building a validator does no network I/O."""
    validator = build()
    assert validator.algorithms == frozenset({"RS256"})
    assert validator.leeway == 5
    assert KEYS.status().fetches == 0


@pytest.mark.parametrize(
    "issuers",
    [
        {},
        None,
        [("https://tenant.example.com/", KEYS)],
        {"http://tenant.example.com/": KEYS},
        {"tenant.example.com": KEYS},
        {"https://tenant.example.com/": object()},
        {"https://tenant.example.com/": "https://tenant.example.com/.well-known/jwks.json"},
        {"https://tenant.example.com/?t=1": KEYS},
        {"https://tenant.example.com/#x": KEYS},
    ],
    ids=["empty", "none", "list", "http", "no-scheme", "object", "url-string", "query", "frag"],
)
def test_issuers_misconfigured(issuers: object) -> None:
    """At least one https issuer (http on loopback only), bound to a JWKSCache."""
    with pytest.raises(ConfigurationError):
        build(issuers=issuers)


def test_loopback_http_issuer_is_allowed() -> None:
    """Plain http is allowed on loopback for development and tests."""
    keys = JWKSCache("http://127.0.0.1:9/.well-known/jwks.json")
    assert build(issuers={"http://localhost:9/": keys})


@pytest.mark.parametrize("audiences", [None, "", [], [""], [5], 5, ["ok", None], {"a": 1}])
def test_audience_missing_or_malformed(audiences: object) -> None:
    """CLAIMGUARD_AUDIENCE is required: a non-empty string or list of them."""
    with pytest.raises(ConfigurationError):
        build(audiences=audiences)


@pytest.mark.parametrize(
    "audience",
    ["https://tenant.auth0.com/userinfo", "https://tenant.auth0.com/userinfo/"],
)
def test_userinfo_audience_is_refused(audience: str) -> None:
    """/userinfo is on every login token's aud; it is not an API identifier."""
    with pytest.raises(ConfigurationError, match="userinfo"):
        build(audiences=["https://api.example.com", audience])


def test_audience_equal_to_an_allowed_client_is_refused() -> None:
    """ID tokens carry the client ID as aud; they would pass as access tokens."""
    with pytest.raises(ConfigurationError, match="client ID"):
        build(audiences="client-a", allowed_clients=["client-a"])
    assert build(audiences="https://api.example.com", allowed_clients=["client-a"])


@pytest.mark.parametrize("clients", [[], "", [""], [5]])
def test_allowed_clients_malformed(clients: object) -> None:
    """CLAIMGUARD_ALLOWED_CLIENTS, when set, lists non-empty client IDs."""
    with pytest.raises(ConfigurationError):
        build(allowed_clients=clients)


@pytest.mark.parametrize(
    "algorithms",
    [
        "none",
        ["none"],
        ["None"],
        ["RS256", "NONE"],
        ["HS256"],
        ["hs512"],
        "HS384",
        ["RS1"],
        ["ES256K"],
        [],
        None,
        [None],
        5,
    ],
)
def test_algorithms_misconfigured(algorithms: object) -> None:
    """RFC 8725 §3.1-3.2: none and HMAC are refused at start-up; unknown names too."""
    with pytest.raises(ConfigurationError):
        build(algorithms=algorithms)


def test_every_supported_algorithm_is_accepted() -> None:
    """RS/PS/ES 256-512 and EdDSA."""
    names = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
    assert build(algorithms=[*names, "EdDSA"]).algorithms == frozenset([*names, "EdDSA"])
    assert build(algorithms="ES256").algorithms == frozenset({"ES256"})


@pytest.mark.parametrize("leeway", [-1, 300.5, 301, "5", True, float("nan"), float("inf")])
def test_leeway_out_of_range(leeway: object) -> None:
    """CLAIMGUARD_LEEWAY is a number from 0 to 300."""
    with pytest.raises(ConfigurationError):
        build(leeway=leeway)


@pytest.mark.parametrize("leeway", [0, 0.5, 300])
def test_leeway_in_range(leeway: float) -> None:
    """The bounds themselves are allowed; floats help tests."""
    assert build(leeway=leeway).leeway == leeway


@pytest.mark.parametrize(
    "age",
    [0, 0.5, -1, "60", True, float("inf"), 10**400],
    ids=["0", "half", "negative", "string", "bool", "inf", "400-digits"],
)
def test_max_token_age_out_of_range(age: object) -> None:
    """CLAIMGUARD_MAX_TOKEN_AGE is at least 1 second."""
    with pytest.raises(ConfigurationError):
        build(max_token_age=age)


@pytest.mark.parametrize(
    "size",
    [-1, 1_000_001, "10", None, 10**400, float("nan")],
    ids=["negative", "over", "string", "none", "400-digits", "nan"],
)
def test_token_cache_size_out_of_range(size: object) -> None:
    """CLAIMGUARD_TOKEN_CACHE_SIZE is 0 to 1,000,000."""
    with pytest.raises(ConfigurationError):
        build(token_cache_size=size)


@pytest.mark.parametrize("size", [0, 1, 1_000_000])
def test_token_cache_size_in_range(size: int) -> None:
    """0 turns the cache off; 1,000,000 is the largest allowed."""
    assert build(token_cache_size=size)


@pytest.mark.parametrize(
    "claim", ["sub", "scope", "scp", "iss", "aud", "azp", "client_id", "/scope", "/cnf/jkt"]
)
def test_roles_claim_naming_a_protocol_claim_is_refused(claim: str) -> None:
    """A roles claim that names a protocol claim is refused at start-up."""
    with pytest.raises(ConfigurationError, match="protocol claim"):
        build(roles_claims=[ROLES, claim])


@pytest.mark.parametrize("claim", ["roles", "groups", "entitlements", ROLES, "/realm/roles"])
def test_rfc9068_roles_claims_are_allowed(claim: str) -> None:
    """RFC 9068 §2.2.3.1: roles, groups and entitlements stay allowed."""
    assert build(roles_claims=claim).rules.roles_claims == (claim,)


# -- fail closed ------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["parse_compact", "_numeric_date", "algorithm"])
def test_unexpected_exceptions_become_invalid_token(
    issuer: ForgedIssuer, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """Any unexpected exception inside validation is a 401, never a 500."""
    validator = issuer.validator()
    token = issuer.mint()

    def broken(*args: object, **kwargs: object) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(validation_module, target, broken)
    error = refuse(validator, token, MALFORMED)
    assert isinstance(error.__cause__, RuntimeError)
    assert "RuntimeError" in error.detail
    monkeypatch.undo()
    assert validator.validate(token)  # nothing broken was cached


def test_key_set_unavailable_passes_through(issuer: ForgedIssuer) -> None:
    """Keys that cannot be obtained are a 503, not an invalid token."""
    validator = issuer.validator(key_set=issuer.key_set(timeout=2))
    with issuer.outage(), pytest.raises(KeySetUnavailableError):
        validator.validate(issuer.mint())


# -- property: only claimguard answers ---------------------------------------------------


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[ForgedIssuer, TokenValidator]]:
    """An issuer and a validator whose key set is loaded and will refetch at most once."""
    with ForgedIssuer() as forged:
        keys = forged.key_set(ttl=3600, cooldown=3600)
        assert keys.refresh()
        yield forged, forged.validator(key_set=keys, roles_claims=[ROLES, "/realm/roles"])


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_input_gives_a_verified_token_or_a_claimguard_error(
    fuzzed: tuple[ForgedIssuer, TokenValidator], data: st.DataObject
) -> None:
    """Arbitrary text, bytes and signed-but-hostile JSON: a VerifiedToken or our errors only."""
    issuer, validator = fuzzed
    now = int(time.time())
    kind = data.draw(st.sampled_from(["text", "bytes", "signed"]))
    token: Any
    if kind == "text":
        token = data.draw(
            st.text(max_size=300) | st.text(alphabet="AZaz09-_.", min_size=1, max_size=300)
        )
    elif kind == "bytes":
        token = data.draw(st.binary(max_size=100))
    else:
        header = data.draw(
            st.fixed_dictionaries(
                {"alg": st.sampled_from(["RS256", "none", "HS256", "RS512"]) | _JSON},
                optional={
                    "kid": st.sampled_from([issuer.kid, "other-kid"]) | _JSON,
                    "typ": st.sampled_from(["JWT", "at+jwt"]) | _JSON,
                    "crit": _JSON,
                },
            )
        )
        payload = data.draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "iss": st.sampled_from([issuer.issuer, "https://evil.example/"]) | _JSON,
                    "aud": st.sampled_from([issuer.audience, [issuer.audience, "x"]]) | _JSON,
                    "sub": st.sampled_from(["auth0|1"]) | _JSON,
                    "exp": st.sampled_from([now + 3600, now - 3600, 1e20]) | _JSON,
                    "nbf": st.sampled_from([now, now + 3600]) | _JSON,
                    "iat": st.sampled_from([now, now + 3600]) | _JSON,
                    ROLES: st.lists(st.text(max_size=5), max_size=3) | _JSON,
                    "realm": _JSON,
                    "scope": st.text(max_size=20) | _JSON,
                    "permissions": _JSON,
                    "cnf": _JSON,
                },
            )
        )
        token = issuer.sign(header, payload)
    try:
        verified = validator.validate(token)
    except (InvalidTokenError, KeySetUnavailableError):
        pass  # the only ClaimGuardErrors validation may raise; anything else fails here
    else:
        assert verified.issuer == issuer.issuer
        assert issuer.audience in verified.audience
        assert all(isinstance(role, str) for role in verified.roles)
        assert all(isinstance(scope, str) for scope in verified.scopes)
    assert issuer.jwks_requests <= 2  # the initial load and at most one kid refetch


@pytest.mark.parametrize(
    "cnf", [None, {}, {"x5t#S256": "abc"}, {"jkt": ""}, {"jkt": 7}, ["jkt"], "jkt"]
)
def test_with_the_dpop_scheme_a_token_must_be_bound(
    issuer: ForgedIssuer, validator: TokenValidator, cnf: object
) -> None:
    """RFC 9449 §6.1: a token sent with the DPoP scheme names its key in cnf.jkt; one
    that does not is refused before its proof is looked at."""
    claims = {} if cnf is None else {"cnf": cnf}
    with pytest.raises(InvalidTokenError) as info:
        validator.validate(issuer.mint(**claims), dpop=True)
    assert info.value.reason == "token.unbound"


def test_with_the_dpop_scheme_a_bound_token_passes(
    issuer: ForgedIssuer, validator: TokenValidator
) -> None:
    token = validator.validate(issuer.mint(cnf={"jkt": "a-thumbprint"}), dpop=True)
    assert token.dpop_thumbprint == "a-thumbprint"
    assert token.dpop_bound is True
