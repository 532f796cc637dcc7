"""Reading the bearer token from an Authorization header value (RFC 6750 §2.1, §3.1)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from claimguard.bearer import MAX_TOKEN_BYTES
from claimguard.bearer import parse_authorization
from claimguard.errors import ClaimGuardError
from claimguard.errors import InvalidRequestError
from claimguard.errors import InvalidTokenError
from claimguard.errors import MissingTokenError

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"


# -- no credentials → 401 with a bare challenge ----------------------------------------


@pytest.mark.parametrize("value", [None, "", " ", "   ", "\t", " \t "])
def test_absent_or_blank_header_is_missing(value: str | None) -> None:
    """RFC 6750 §3.1: a request without authentication information gets no error code."""
    with pytest.raises(MissingTokenError):
        parse_authorization(value)


@pytest.mark.parametrize(
    "value",
    [
        "Basic dXNlcjpwYXNz",
        f"DPoP {TOKEN}",
        f"Token {TOKEN}",
        "Negotiate abc",
        f"Bearertoken {TOKEN}",
        TOKEN,
        'Digest username="a", realm="b"',
    ],
)
def test_another_scheme_is_missing(value: str) -> None:
    """Another scheme (Basic, DPoP, …) counts as no credentials (401)."""
    with pytest.raises(MissingTokenError):
        parse_authorization(value)


def test_query_token_alone_is_missing() -> None:
    """A query-string token alone is not read: no credentials."""
    with pytest.raises(MissingTokenError):
        parse_authorization(None, query_token=True)


def test_query_token_beside_another_scheme_is_missing() -> None:
    """A query token beside a non-bearer header is still no bearer credentials."""
    with pytest.raises(MissingTokenError):
        parse_authorization("Basic dXNlcjpwYXNz", query_token=True)


# -- well-formed ------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_scheme_is_case_insensitive(scheme: str) -> None:
    """RFC 9110 §11.1 / RFC 6750 §2.1: the auth-scheme is case-insensitive."""
    assert parse_authorization(f"{scheme} {TOKEN}") == TOKEN


@pytest.mark.parametrize("spaces", [" ", "  ", " " * 10])
def test_one_or_more_spaces_after_the_scheme(spaces: str) -> None:
    """RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token."""
    assert parse_authorization(f"Bearer{spaces}{TOKEN}") == TOKEN


def test_surrounding_whitespace_is_ignored() -> None:
    """RFC 9110 §5.5: optional white space around a field value is not part of it."""
    assert parse_authorization(f" \tBearer {TOKEN} \t") == TOKEN


@pytest.mark.parametrize("token", ["abc=", "abc==", "a-._~+/Z9==", "x", "aaa"])
def test_b64token_characters_and_trailing_padding_are_allowed(token: str) -> None:
    """RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="."""
    assert parse_authorization(f"Bearer {token}") == token


def test_token_at_the_size_cap_is_accepted() -> None:
    """Check order, step 1: up to 8 KiB is fine."""
    token = "a" * MAX_TOKEN_BYTES
    assert parse_authorization(f"Bearer {token}") == token


# -- malformed → 400 invalid_request ----------------------------------------------------


@pytest.mark.parametrize("value", ["Bearer", "bearer", "Bearer ", "Bearer    ", "Bearer \t"])
def test_bearer_without_token_is_invalid_request(value: str) -> None:
    """`Bearer` with no token is a malformed request (400)."""
    with pytest.raises(InvalidRequestError):
        parse_authorization(value)


@pytest.mark.parametrize(
    "value",
    [f"Bearer\t{TOKEN}", f"Bearer \t{TOKEN}", f"Bearer\n{TOKEN}", f"Bearer\r\n {TOKEN}"],
)
def test_tab_or_line_break_after_the_scheme_is_invalid_request(value: str) -> None:
    """RFC 6750 §2.1: only SP separates scheme and token (1*SP), never HTAB or CRLF."""
    with pytest.raises(InvalidRequestError):
        parse_authorization(value)


@pytest.mark.parametrize("value", [f"Bearer={TOKEN}", f"Bearer:{TOKEN}", 'Bearer"abc"'])
def test_token_glued_to_the_scheme_is_invalid_request(value: str) -> None:
    """RFC 6750 §2.1: the scheme and the token are separated by at least one space."""
    with pytest.raises(InvalidRequestError):
        parse_authorization(value)


@pytest.mark.parametrize("value", ["Bearer a b", f"Bearer {TOKEN} extra", "Bearer a\tb"])
def test_extra_parts_are_invalid_request(value: str) -> None:
    """Extra parts after the token are malformed (400)."""
    with pytest.raises(InvalidRequestError):
        parse_authorization(value)


@pytest.mark.parametrize(
    "token",
    [
        "abc$def",
        "abc;def",
        '"abc"',
        "abc\\def",
        "a=b",
        "=abc",
        "abc\x00",
        "abc\x7f",
        "t\u00f6ken",
        "\u0430bc",  # Cyrillic a
        "abc\u200b",  # zero-width space
        "abc\ud800",
    ],
)
def test_characters_outside_b64token_are_invalid_request(token: str) -> None:
    """RFC 6750 §2.1: anything outside the b64token grammar (incl. non-ASCII) is malformed."""
    with pytest.raises(InvalidRequestError):
        parse_authorization(f"Bearer {token}")


@pytest.mark.parametrize(
    "value",
    [
        "Bearer a, Bearer b",
        "Bearer a,Bearer b",
        "Basic x, Bearer y",
        "Basic x,\tbearer y",
        "Bearer a,",
        "Bearer a, Basic b",
    ],
)
def test_several_credentials_folded_into_one_value_are_invalid_request(value: str) -> None:
    """RFC 9110 §5.3: repeated headers fold with commas; several credentials are a 400."""
    with pytest.raises(InvalidRequestError):
        parse_authorization(value)


def test_several_non_bearer_credentials_are_missing() -> None:
    """Folded credentials of other schemes only are still "no bearer credentials"."""
    with pytest.raises(MissingTokenError):
        parse_authorization("Basic a, Basic b")


def test_query_token_beside_a_header_token_is_invalid_request() -> None:
    """RFC 6750 §2: clients MUST NOT use more than one method to transmit the token."""
    assert parse_authorization(f"Bearer {TOKEN}", query_token=False) == TOKEN
    with pytest.raises(InvalidRequestError):
        parse_authorization(f"Bearer {TOKEN}", query_token=True)


def test_raw_bytes_are_read_as_latin1() -> None:
    """RFC 9110 §5.5: raw header bytes (ASGI) are ISO-8859-1; the grammar then applies."""
    assert parse_authorization(b"Bearer " + TOKEN.encode()) == TOKEN
    with pytest.raises(MissingTokenError):
        parse_authorization(b"")
    with pytest.raises(InvalidRequestError):
        parse_authorization(b"Bearer t\xc3\xb6ken")


@pytest.mark.parametrize("value", [42, ["Bearer", TOKEN], object()])
def test_a_value_that_is_not_text_is_invalid_request(value: object) -> None:
    """A header value of another type is refused as malformed, never a TypeError (500)."""
    with pytest.raises(InvalidRequestError):
        parse_authorization(value)  # type: ignore[arg-type]


# -- oversized → 401 invalid_token ------------------------------------------------------


def test_token_over_the_size_cap_is_invalid_token() -> None:
    """Check order, step 1: a token larger than 8 KiB is a 401 invalid_token."""
    with pytest.raises(InvalidTokenError) as info:
        parse_authorization("Bearer " + "a" * (MAX_TOKEN_BYTES + 1))
    assert info.value.description == "The access token is too large."


def test_huge_header_is_refused_quickly() -> None:
    """A megabyte header costs a length check, not a regex over the whole value."""
    with pytest.raises(InvalidTokenError):
        parse_authorization("Bearer " + "a" * 1_000_000)


# -- property: only claimguard errors ---------------------------------------------------


_HEADERS = st.one_of(
    st.text(max_size=120),
    st.binary(max_size=120),
    st.builds(lambda rest: "Bearer" + rest, st.text(max_size=120)),
    st.builds(
        lambda scheme, sep, token: scheme + sep + token,
        st.sampled_from(["Bearer", "bearer", "Basic", "DPoP", ""]),
        st.sampled_from([" ", "  ", "\t", ",", ", Bearer ", ""]),
        st.text(alphabet='AZaz09-._~+/=, \t"\\\u00e9', max_size=60),
    ),
)


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(value=_HEADERS, query_token=st.booleans())
def test_any_header_gives_a_token_or_a_claimguard_error(
    value: str | bytes, query_token: bool
) -> None:
    """Whatever the client sends, parsing either returns a b64token or raises our errors."""
    try:
        token = parse_authorization(value, query_token=query_token)
    except (MissingTokenError, InvalidRequestError, InvalidTokenError):
        return
    except ClaimGuardError as exc:  # pragma: no cover - shown on failure
        pytest.fail(f"unexpected error class {type(exc).__name__}")
    assert token
    assert token.isascii()
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    assert token in text
    assert not query_token
    assert len(token) <= MAX_TOKEN_BYTES
