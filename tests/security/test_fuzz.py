"""Property-based fuzzing (hypothesis) of the header parser, the validator and the Flask
layer. Beyond "only claimguard errors come out", each property has an oracle:

* the header parser agrees with an independent transcription of the RFC 6750 grammar;
* a genuine token mutated anywhere (replace, insert, delete, swap, duplicate) is never
  accepted unless the mutation left it unchanged;
* for genuinely signed tokens with hostile claim values, the validator accepts exactly
  when a plain reading of the claim rules (check order, step 6) says the claims are
  acceptable (no false accept, no false reject) and then reports exactly the roles the claim holds;
* any ``Authorization`` value through the products API gives 200 only for the genuine
  token, otherwise a well-formed RFC 6750 400/401 (never a 5xx).

``max_examples`` keeps the file within a few seconds.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import event
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from claimguard import TokenValidator
from claimguard.bearer import MAX_TOKEN_BYTES
from claimguard.bearer import parse_authorization
from claimguard.errors import InvalidRequestError
from claimguard.errors import InvalidTokenError
from claimguard.errors import MissingTokenError
from claimguard.testing import ForgedIssuer

from .attacks import AUDIENCE
from .attacks import ROLES
from .attacks import check_refusal

FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

B64TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


# -- the header parser against the grammar --------------------------------------------------

# RFC 6750 §2.1, transcribed independently: credentials = "Bearer" 1*SP b64token, with
# optional white space (SP / HTAB) around the field value (RFC 9110 §5.5).
_REFERENCE = re.compile(r"[ \t]*[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)[ \t]*")

_HEADER_PIECES = st.lists(
    st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "DPoP", "Bearer,", "bearer="])
    | st.text(alphabet=" \t,\r\n\x00\xa0\u2028", max_size=3)
    | st.text(alphabet=B64TOKEN_CHARS + "=\"'!#$%&*^`|", min_size=1, max_size=24)
    | st.text(max_size=6),
    max_size=6,
).map("".join)


@FUZZ
@given(value=_HEADER_PIECES)
def test_header_parser_agrees_with_the_rfc6750_grammar(value: str) -> None:
    reference = _REFERENCE.fullmatch(value)
    try:
        token = parse_authorization(value)
    except (MissingTokenError, InvalidRequestError):
        assert reference is None, f"grammatical header {value!r} refused"
        return
    except InvalidTokenError:
        assert reference is not None
        assert len(reference.group(1)) > MAX_TOKEN_BYTES
        return
    assert reference is not None, f"ungrammatical header {value!r} accepted as {token!r}"
    assert token == reference.group(1)


# -- mutating a genuine token -----------------------------------------------------------------


@pytest.fixture(scope="module")
def es256_issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(audience=AUDIENCE, roles_claim=ROLES, algorithm="ES256") as forged:
        yield forged


def _loaded_validator(issuer: ForgedIssuer) -> TokenValidator:
    keys = issuer.key_set(ttl=3600, cooldown=3600)
    assert keys.refresh()
    return issuer.validator(key_set=keys, token_cache_size=0)


@pytest.fixture(scope="module")
def genuine(
    issuer: ForgedIssuer, es256_issuer: ForgedIssuer
) -> dict[str, tuple[str, TokenValidator]]:
    """A genuine admin token and a loaded validator, for RS256 and for ES256."""
    return {
        alg: (forged.mint(roles=["admin"], expires_in=7200), _loaded_validator(forged))
        for alg, forged in (("RS256", issuer), ("ES256", es256_issuer))
    }


_CHAR = st.sampled_from(B64URL + ".=+/~ ") | st.characters(codec="latin-1")
_MUTATION = st.one_of(
    st.tuples(st.just("replace"), st.integers(0, 10_000), _CHAR),
    st.tuples(st.just("insert"), st.integers(0, 10_000), _CHAR),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.just("")),
    st.tuples(st.just("swap"), st.integers(0, 10_000), st.just("")),
    st.tuples(st.just("flip-bit"), st.integers(0, 10_000), st.integers(0, 5).map(str)),
    st.tuples(st.just("duplicate-part"), st.integers(0, 2), st.just("")),
)


def mutate(token: str, operations: list[tuple[str, int, str]]) -> str:
    text = token
    for operation, where, what in operations:
        at = where % (len(text) or 1)
        if operation == "replace" and text:
            text = text[:at] + what + text[at + 1 :]
        elif operation == "insert":
            text = text[:at] + what + text[at:]
        elif operation == "delete" and text:
            text = text[:at] + text[at + 1 :]
        elif operation == "swap" and len(text) > 1:
            at = at % (len(text) - 1)
            text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
        elif operation == "flip-bit" and text and text[at] in B64URL:
            # Change one 6-bit digit by one bit: the smallest possible edit.
            digit = B64URL.index(text[at]) ^ (1 << int(what))
            text = text[:at] + B64URL[digit] + text[at + 1 :]
        elif operation == "duplicate-part":
            pieces = text.split(".")
            index = where % len(pieces)
            text = ".".join([*pieces[: index + 1], pieces[index], *pieces[index + 1 :]])
    return text


@FUZZ
@given(
    alg=st.sampled_from(["RS256", "ES256"]),
    operations=st.lists(_MUTATION, min_size=1, max_size=3),
)
def test_a_mutated_token_is_never_accepted(
    genuine: dict[str, tuple[str, TokenValidator]],
    alg: str,
    operations: list[tuple[str, int, str]],
) -> None:
    token, validator = genuine[alg]
    mutated = mutate(token, operations)
    event("unchanged" if mutated == token else "mutated")
    if mutated == token:
        assert validator.validate(mutated).roles == {"admin"}
        return
    with pytest.raises(InvalidTokenError):
        validator.validate(mutated)


# -- hostile claim values, signed: accept exactly when the claims are acceptable -------------

_MIN_DATE, _MAX_DATE = -62135596800.0, 253402300799.0
LEEWAY = 5.0

_ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=4,
)
_MISSING = object()


def _date(now: int, sign: int) -> st.SearchStrategy[Any]:
    """Times far (an hour) from any boundary, so the clock cannot flip the verdict."""
    return st.sampled_from([now + sign * 3600, float(now + sign * 3600) + 0.5])


def _claims(now: int) -> st.SearchStrategy[dict[str, Any]]:
    """Acceptable claims, then up to three of them replaced by hostile values (or
    removed): each defect is also seen alone, and untouched tokens are seen too."""
    good: dict[str, st.SearchStrategy[Any]] = {
        "iss": st.just("ISSUER"),
        "aud": st.sampled_from([AUDIENCE, [AUDIENCE, "https://other.example"]]),
        "sub": st.just("auth0|1"),
        "exp": _date(now, +1),
        "nbf": st.just(_MISSING) | _date(now, -1),
        "iat": _date(now, -1),
        ROLES: st.lists(st.sampled_from(["admin", "viewer", "ADMIN"]), max_size=3)
        | st.sampled_from(["admin", ["admin", 1], None, {"admin": True}, [["admin"]]]),
        "cnf": st.just(_MISSING),
    }
    hostile: dict[str, st.SearchStrategy[Any]] = {
        "iss": st.sampled_from(["https://evil.example/", _MISSING]),
        "aud": st.sampled_from([["https://other.example"], [], "", _MISSING, [AUDIENCE, 1]]),
        "sub": st.sampled_from(["", _MISSING, 7]),
        "exp": _date(now, -1) | st.sampled_from([1e300, True, "9999999999", _MISSING]),
        "nbf": _date(now, +1) | st.sampled_from(["0", False, -1e300]),
        "iat": _date(now, +1) | st.sampled_from(["0", True, _MISSING]),
        ROLES: st.just(_MISSING),
        "cnf": st.sampled_from([{"jkt": "x"}, {}, None]),
    }

    def corrupt(names: set[str]) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {name: (hostile[name] | _ANY_JSON) if name in names else good[name] for name in good}
        )

    return st.sets(st.sampled_from(sorted(good)), max_size=3).flatmap(corrupt)


def _is_date(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and not (isinstance(value, float) and math.isnan(value))
        and _MIN_DATE <= value <= _MAX_DATE
    )


def acceptable(claims: dict[str, Any], issuer: str, now: float) -> bool:
    """The claim rules (check order, step 6), read plainly."""
    aud = claims.get("aud", _MISSING)
    auds = [aud] if isinstance(aud, str) else aud
    if claims.get("iss") != issuer:
        return False
    if not isinstance(auds, list) or not auds or not all(isinstance(a, str) for a in auds):
        return False
    if AUDIENCE not in auds:
        return False
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        return False
    exp = claims.get("exp", _MISSING)
    if not _is_date(exp) or now >= exp + LEEWAY:
        return False
    if "iat" not in claims:  # RFC 9068 §2.2: iat is required in an access token
        return False
    for name in ("nbf", "iat"):
        value = claims.get(name, _MISSING)
        if value is not _MISSING and (not _is_date(value) or now < value - LEEWAY):
            return False
    return "cnf" not in claims


@FUZZ
@given(data=st.data())
def test_signed_hostile_claims_accepted_exactly_when_acceptable(
    genuine: dict[str, tuple[str, TokenValidator]], issuer: ForgedIssuer, data: st.DataObject
) -> None:
    _, validator = genuine["RS256"]
    now = int(time.time())
    drawn = data.draw(_claims(now))
    claims = {
        name: (issuer.issuer if value == "ISSUER" and name == "iss" else value)
        for name, value in drawn.items()
        if value is not _MISSING
    }
    token = issuer.sign({"alg": "RS256", "kid": issuer.kid}, claims)
    expected = acceptable(claims, issuer.issuer, time.time())
    refusal: InvalidTokenError | None = None
    try:
        verified = validator.validate(token)
    except InvalidTokenError as exc:
        refusal = exc
    event("refused" if refusal is not None else "accepted")
    if refusal is not None:
        assert not expected, f"acceptable claims refused: {refusal.detail}"
        return
    assert expected, f"unacceptable claims accepted: {claims!r}"
    roles = claims.get(ROLES)
    if isinstance(roles, list) and all(isinstance(role, str) for role in roles):
        assert verified.roles == frozenset(roles)
    else:
        assert verified.roles == frozenset()


# -- the Flask layer: any Authorization value -------------------------------------------------

_NOISE = st.text(alphabet=B64TOKEN_CHARS + '="\\, \t', max_size=4) | st.characters(
    codec="latin-1", exclude_characters="\r\n"
)
_VALUE_PIECES = st.one_of(
    # Near-misses around the genuine token: scheme, separator, noise before and after.
    st.tuples(
        st.sampled_from(["", " ", "\t"]),
        st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "DPoP", "Bearer,"]),
        st.sampled_from([" ", "  ", "\t", "", "\xa0", " ,"]),
        st.just("TOKEN"),
        st.just("") | _NOISE,
    ).map("".join),
    st.lists(
        st.sampled_from(["Bearer", "bearer", "Basic", " ", "\t", ",", "=", "TOKEN"]) | _NOISE,
        max_size=6,
    ).map("".join),
)


@FUZZ
@given(pieces=_VALUE_PIECES, with_query=st.booleans())
def test_any_authorization_value_through_the_api(
    client: FlaskClient, issuer: ForgedIssuer, pieces: str, with_query: bool
) -> None:
    token = issuer.mint(roles=["viewer"], expires_in=7200) if "TOKEN" in pieces else ""
    value = pieces.replace("TOKEN", token)
    path = "/me?access_token=x" if with_query else "/me"
    response = client.get(path, headers={"Authorization": value})
    reference = _REFERENCE.fullmatch(value)
    genuine = reference is not None and reference.group(1) == token and token != ""
    event(f"status {response.status_code}")
    if response.status_code == 200:
        assert genuine
        assert not with_query
        return
    assert not (genuine and not with_query)
    status = response.status_code
    assert status in (400, 401), status
    if status == 401 and response.get_json()["error"] == "unauthorized":
        check_refusal(response, 401, None)
    else:
        error = "invalid_request" if status == 400 else "invalid_token"
        check_refusal(response, status, error)
