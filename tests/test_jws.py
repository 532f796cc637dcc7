"""The strict compact-JWS parser (RFC 7515 §7.1, RFC 8725 §3): one reading per token."""

from __future__ import annotations

import json
from base64 import urlsafe_b64encode
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from claimguard.errors import InvalidTokenError
from claimguard.jws import MAX_JSON_DEPTH
from claimguard.jws import parse_compact
from claimguard.jws import parse_json_object

HEADER = {"alg": "RS256", "typ": "JWT", "kid": "k1"}
PAYLOAD = {"iss": "https://issuer.example/", "sub": "auth0|1", "exp": 2_000_000_000}
SIGNATURE = b"\x01\x02\x03\x04\x05"
MALFORMED = "The access token is malformed."


def b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def part(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode("utf-8")
    return b64(raw)


def token(header: object = HEADER, payload: object = PAYLOAD, signature: bytes = SIGNATURE) -> str:
    return ".".join([part(header), part(payload), b64(signature)])


def refused(text: str) -> InvalidTokenError:
    with pytest.raises(InvalidTokenError) as info:
        parse_compact(text)
    assert info.value.description == MALFORMED
    return info.value


# -- the well-formed case ---------------------------------------------------------------


def test_well_formed_token_is_decoded() -> None:
    """RFC 7515 §7.1: three base64url parts; header and payload JSON objects."""
    text = token()
    parsed = parse_compact(text)
    assert parsed.header == HEADER
    assert parsed.payload == PAYLOAD
    assert parsed.signature == SIGNATURE
    assert parsed.signing_input == text.rsplit(".", 1)[0].encode("ascii")


def test_unicode_claims_survive() -> None:
    """RFC 7519 §7.2: the payload is UTF-8 JSON; non-ASCII values are fine."""
    parsed = parse_compact(token(payload={"name": "J\u00fcrgen \U0001f600"}))
    assert parsed.payload == {"name": "J\u00fcrgen \U0001f600"}


def test_fractional_numbers_are_kept() -> None:
    """RFC 7519 §2: NumericDate may hold fractions."""
    assert parse_compact(token(payload={"exp": 1.5})).payload == {"exp": 1.5}


def test_nesting_at_the_depth_limit_is_accepted() -> None:
    """Real claims nest a few levels; the cap leaves plenty of room."""
    nested: object = "x"
    for _ in range(MAX_JSON_DEPTH - 1):  # the payload object itself is one level
        nested = [nested]
    assert parse_compact(token(payload={"deep": nested})).payload["deep"] == nested


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    """Only structure nests: "[[[" inside a string value is just text."""
    text = "[{" * 100 + '\\"' + "]}" * 100
    assert parse_compact(token(payload={"s": text})).payload == {"s": text}


# -- shape ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "abc", "a.b", "a.b.c.d", "a.b.c.d.e.f", ".", "..", "...", "opaque-access-token"],
)
def test_not_three_parts_is_refused(text: str) -> None:
    """RFC 7515 §7.1: a compact JWS has exactly three parts (an opaque token has one)."""
    refused(text)


def test_five_parts_jwe_is_refused() -> None:
    """RFC 7516 §7.1: five parts is an encrypted JWE, never accepted as an access token."""
    error = refused(token() + ".YWJj.ZGVm")
    assert "JWE" in error.detail
    # The log names the usual cause: Auth0 encrypts tokens requested without audience.
    assert "requested no audience" in error.detail
    assert "requested no audience" not in str(error)


def test_empty_header_is_refused() -> None:
    """RFC 7515 §7.1: the protected header is required."""
    refused("." + part(PAYLOAD) + "." + b64(SIGNATURE))


def test_empty_payload_is_refused() -> None:
    """A JWT access token has claims (RFC 7519 §3)."""
    refused(part(HEADER) + ".." + b64(SIGNATURE))


def test_empty_signature_is_refused() -> None:
    """RFC 8725 §3.2: an unsigned token (empty signature) is never accepted."""
    error = refused(part(HEADER) + "." + part(PAYLOAD) + ".")
    assert "signature" in error.detail


def test_non_ascii_token_is_refused() -> None:
    """A compact JWS is ASCII only."""
    refused(token() + "\u00e9")


# -- base64url --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["ab$c", "ab c", "ab\nc", "ab*c", "ab%3D"])
def test_characters_outside_base64url_are_refused(bad: str) -> None:
    """RFC 7515 §2: parts are base64url."""
    refused(".".join([bad, part(PAYLOAD), b64(SIGNATURE)]))


def test_padded_base64_is_refused() -> None:
    """RFC 7515 §2: base64url "with all trailing '=' characters omitted"."""
    header = part({"alg": "RS256"})
    assert len(header) % 4  # it would need padding
    padded = header + "=" * (-len(header) % 4)
    parse_compact(".".join([header, part(PAYLOAD), b64(SIGNATURE)]))  # unpadded is fine
    refused(".".join([padded, part(PAYLOAD), b64(SIGNATURE)]))


def test_standard_base64_alphabet_is_refused() -> None:
    """RFC 7515 §2: "+" and "/" belong to base64, not base64url."""
    raw = b"\xfb\xff\xbf"  # encodes to characters 62 and 63 only
    assert b64(raw) == "-_-_"
    parse_compact(".".join([part(HEADER), part(PAYLOAD), "-_-_"]))
    refused(".".join([part(HEADER), part(PAYLOAD), "+/+/"]))


def test_impossible_length_is_refused() -> None:
    """Base64 never leaves one character over (length % 4 == 1)."""
    sig = b64(SIGNATURE)
    refused(".".join([part(HEADER), part(PAYLOAD), sig + "A" * (5 - len(sig) % 4)]))


def test_non_canonical_trailing_bits_are_refused() -> None:
    """RFC 4648 §3.5: non-zero pad bits would let two strings encode one signature."""
    sig = b64(b"\x00")  # "AA": the second character carries 4 unused bits
    assert sig == "AA"
    parse_compact(".".join([part(HEADER), part(PAYLOAD), sig]))
    for variant in ("AB", "AP", "A_"):
        refused(".".join([part(HEADER), part(PAYLOAD), variant]))


def test_non_canonical_header_is_refused() -> None:
    """The same canonical rule holds for the header and the payload."""
    header = part({"alg": "RS256"})
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    bumped = header[:-1] + last[last.index(header[-1]) + 1]
    refused(".".join([bumped, part(PAYLOAD), b64(SIGNATURE)]))


# -- JSON -------------------------------------------------------------------------------


def test_non_utf8_is_refused() -> None:
    """RFC 7515 §5.2 step 3 / RFC 7519 §7.2: the header is UTF-8."""
    refused(token(header=b'{"alg":"RS256","x":"\xff"}'))
    refused(token(payload=b'{"sub":"\xc3"}'))


@pytest.mark.parametrize("raw", [b"{", b"not json", b"", b"{'alg':'RS256'}", b'{"a":1}x'])
def test_non_json_is_refused(raw: bytes) -> None:
    """RFC 7515 §5.2 step 4: the header must be valid JSON."""
    refused(token(header=raw))
    refused(token(payload=raw))


@pytest.mark.parametrize("value", [["RS256"], 1, "RS256", None, True])
def test_json_that_is_not_an_object_is_refused(value: object) -> None:
    """RFC 7515 §4 / RFC 7519 §7.2: header and claims are JSON objects."""
    refused(token(header=value))
    refused(token(payload=value))


def test_duplicate_member_in_header_is_refused() -> None:
    """RFC 7515 §5.2 / RFC 8725 §3.4: no second reading of `alg` by another parser."""
    refused(token(header=b'{"alg":"RS256","alg":"none"}'))


def test_duplicate_member_in_payload_is_refused() -> None:
    """RFC 7519 §4: claim names must be unique; a duplicate `sub` is refused."""
    refused(token(payload=b'{"sub":"alice","sub":"admin"}'))


def test_nested_duplicate_member_is_refused() -> None:
    """Duplicates inside nested objects are refused as well."""
    refused(token(payload=b'{"realm_access":{"roles":["a"],"roles":["admin"]}}'))


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_refused(literal: bytes) -> None:
    """RFC 8259 §6: NaN and Infinity are not JSON numbers."""
    refused(token(payload=b'{"exp":' + literal + b"}"))


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    """5000 levels of arrays: an InvalidTokenError, never RecursionError (stack exhaustion)."""
    deep = b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"
    error = refused(token(payload=deep))
    assert "deeper" in error.detail
    refused(token(header=b"{" + b'"a":{' * 5000 + b"}" * 5001))


def test_depth_one_past_the_limit_is_refused() -> None:
    """The limit is exact: MAX_JSON_DEPTH + 1 levels are refused."""
    ok = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    too_deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    assert parse_json_object(b'{"a":' + ok[1:-1] + b"}", "payload")
    refused(token(payload=b'{"a":' + too_deep[1:-1] + b"}"))


def test_depth_scan_is_linear_on_hostile_strings() -> None:
    """Thousands of escaped quotes after deep brackets cannot make the scan quadratic."""
    hostile = b'{"a":' + b"[" * 40 + b'"' + b'\\"' * 3000
    refused(token(payload=hostile))
    unterminated = b'{"a":"' + b'\\"' * 3000 + b"[" * 40
    refused(token(payload=unterminated))


def test_huge_integer_is_refused_not_a_crash() -> None:
    """Python's int-from-string limit raises ValueError: a refusal, not a 500."""
    refused(token(payload=b'{"exp":' + b"9" * 5000 + b"}"))


# -- property ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.text(alphabet="ABCabc012-_.=+/", max_size=200),
        st.builds(
            lambda h, p, s: ".".join([b64(h), b64(p), b64(s)]),
            st.binary(max_size=60),
            st.binary(max_size=60),
            st.binary(max_size=20),
        ),
    )
)
def test_any_text_parses_or_raises_invalid_token(text: str) -> None:
    """Whatever the input, the parser raises InvalidTokenError or returns two objects."""
    try:
        parsed = parse_compact(text)
    except InvalidTokenError:
        return
    assert isinstance(parsed.header, Mapping)
    assert isinstance(parsed.payload, dict)
