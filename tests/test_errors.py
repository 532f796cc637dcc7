"""The exception tree and what each error means on the wire (RFC 6750 §3)."""

from __future__ import annotations

import re

import pytest

from claimguard.errors import BearerError
from claimguard.errors import ClaimGuardError
from claimguard.errors import ConfigurationError
from claimguard.errors import ExpiredTokenError
from claimguard.errors import InsufficientScopeError
from claimguard.errors import InvalidRequestError
from claimguard.errors import InvalidTokenError
from claimguard.errors import KeySetUnavailableError
from claimguard.errors import MissingTokenError
from claimguard.errors import loggable

# RFC 6750 §3: error_description may hold %x20-21 / %x23-5B / %x5D-7E only.
CHALLENGE_SAFE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


# -- the tree ---------------------------------------------------------------------------


def test_hierarchy_matches_the_design() -> None:
    """Every error is a ClaimGuardError; the RFC 6750 ones are BearerErrors."""
    for cls in (ConfigurationError, KeySetUnavailableError, BearerError):
        assert issubclass(cls, ClaimGuardError)
    for cls in (MissingTokenError, InvalidRequestError, InvalidTokenError, InsufficientScopeError):
        assert issubclass(cls, BearerError)
    assert issubclass(ExpiredTokenError, InvalidTokenError)
    assert not issubclass(KeySetUnavailableError, BearerError)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (MissingTokenError(), 401, None),
        (InvalidRequestError(), 400, "invalid_request"),
        (InvalidTokenError(), 401, "invalid_token"),
        (ExpiredTokenError(), 401, "invalid_token"),
        (InsufficientScopeError("roles", ["admin"]), 403, "insufficient_scope"),
        (KeySetUnavailableError(), 503, "temporarily_unavailable"),
    ],
)
def test_status_and_error_code(error: ClaimGuardError, status: int, code: str | None) -> None:
    """Status code and RFC 6750 §3.1 error code of each answer."""
    assert error.status_code == status
    assert error.error == code


# -- WWW-Authenticate -------------------------------------------------------------------


def test_missing_token_challenge_has_no_error_information() -> None:
    """RFC 6750 §3.1: a request without credentials gets a bare challenge, no error code."""
    assert MissingTokenError().www_authenticate("api") == 'Bearer realm="api"'


def test_invalid_request_challenge() -> None:
    """RFC 6750 §3: error and error_description are auth-params of the challenge."""
    error = InvalidRequestError()
    assert error.www_authenticate("api") == (
        'Bearer realm="api", error="invalid_request", '
        'error_description="The Authorization header is malformed."'
    )


def test_invalid_token_challenge() -> None:
    """RFC 6750 §3.1 invalid_token, with our fixed description."""
    error = InvalidTokenError("The access token is malformed.", detail="secret detail")
    assert error.www_authenticate("api") == (
        'Bearer realm="api", error="invalid_token", '
        'error_description="The access token is malformed."'
    )


def test_expired_token_challenge_uses_the_expired_sentence() -> None:
    """One fixed sentence per failure kind, e.g. "The access token expired"."""
    value = ExpiredTokenError(detail="expired 10s ago").www_authenticate("api")
    assert value == (
        'Bearer realm="api", error="invalid_token", error_description="The access token expired."'
    )


def test_insufficient_scope_challenge_names_scopes_for_scope_failures() -> None:
    """RFC 6750 §3: the scope attribute lists the scopes needed (scope failures only)."""
    error = InsufficientScopeError("scopes", ["read:products", "write:products"])
    assert error.www_authenticate("api") == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="The access token lacks a required scope.", '
        'scope="read:products write:products"'
    )


@pytest.mark.parametrize("kind", ["roles", "permissions"])
def test_insufficient_scope_challenge_has_no_scope_for_roles_or_permissions(kind: str) -> None:
    """Roles and permissions are not OAuth scopes: no scope="…" attribute for them."""
    value = InsufficientScopeError(kind, ["admin"]).www_authenticate("api")
    assert "scope=" not in value.replace("insufficient_scope", "")
    assert value.startswith('Bearer realm="api", error="insufficient_scope", error_description="')


def test_key_set_unavailable_has_no_challenge_and_a_retry_after() -> None:
    """Keys unavailable is 503 with an integer Retry-After and no challenge."""
    error = KeySetUnavailableError(retry_after=12)
    assert error.www_authenticate("api") is None
    assert error.retry_after == 12


@pytest.mark.parametrize(
    ("given", "expected"),
    [(0, 1), (-5, 1), (0.2, 1), (1.5, 2), (30, 30), (float("nan"), 30), (float("inf"), 30)],
)
def test_retry_after_is_a_whole_number_of_at_least_one(given: float, expected: int) -> None:
    """RFC 9110 §10.2.3: Retry-After is whole seconds; 0 would invite a retry storm."""
    assert KeySetUnavailableError(retry_after=given).retry_after == expected


def test_realm_is_made_challenge_safe() -> None:
    """A realm with a quote cannot break out of its quoted-string."""
    value = MissingTokenError().www_authenticate('a"pi\\x')
    assert value == 'Bearer realm="apix"'


# -- descriptions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "description",
    [
        'bad "quoted" value',
        "back\\slash",
        "line\r\nInjected: header",
        "caf\u00e9 \u2026 \U0001f600",
        "tab\there\x00nul",
    ],
)
def test_description_is_stripped_to_rfc6750_characters(description: str) -> None:
    """RFC 6750 §3: error_description excludes `"`, `\\`, CR/LF and non-ASCII."""
    error = InvalidTokenError(description)
    assert CHALLENGE_SAFE.fullmatch(error.description)
    challenge = error.www_authenticate("api")
    assert "\r" not in challenge
    assert "\n" not in challenge
    assert challenge.count('"') == 6  # realm, error, error_description: nothing injected


def test_description_that_strips_to_nothing_falls_back_to_the_default() -> None:
    """An all-unsafe description never leaves the client an empty explanation."""
    assert InvalidTokenError('"\\\r\n').description == "The access token is invalid."


def test_detail_stays_out_of_the_wire() -> None:
    """Details are for logs; the body and challenge carry the fixed sentence."""
    error = InvalidTokenError(detail="aud mismatch: 'https://evil.example'")
    assert "evil" not in error.www_authenticate("api")
    assert "evil" not in str(error.body())
    assert "evil" in error.detail
    assert "evil" not in str(error)


@pytest.mark.parametrize(
    "error",
    [
        MissingTokenError(detail="no Authorization header on GET /admin"),
        InvalidRequestError(detail="two credentials: 'Bearer a, Bearer b'"),
        InvalidTokenError("The access token is not meant for this API.", detail="aud 'x'"),
        ExpiredTokenError(detail="expired 60s ago"),
        InsufficientScopeError("roles", ["admin"], detail="sub 'auth0|1' has ['viewer']"),
        KeySetUnavailableError(detail="https://tenant.example/jwks.json: HTTP 502"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_str_of_a_refusal_is_the_public_sentence(error: ClaimGuardError) -> None:
    """A catch-all handler that renders str(error) (errorhandler(Exception), a framework
    that prints exception messages) sends the client the public sentence, never the
    log-only detail with the audiences, the subject or its roles."""
    assert str(error) == error.description
    assert error.detail not in str(error)
    assert error.args == (error.description,)


# -- bodies -----------------------------------------------------------------------------


def test_missing_token_body() -> None:
    """No credentials → {"error": "unauthorized", "error_description": …}."""
    assert MissingTokenError().body() == {
        "error": "unauthorized",
        "error_description": "An access token is required.",
    }


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidRequestError(), "invalid_request"),
        (InvalidTokenError(), "invalid_token"),
        (ExpiredTokenError(), "invalid_token"),
        (KeySetUnavailableError(), "temporarily_unavailable"),
    ],
)
def test_error_body_shape(error: ClaimGuardError, code: str) -> None:
    """The body repeats the error code and the description, nothing else."""
    assert error.body() == {"error": code, "error_description": error.description}


@pytest.mark.parametrize(
    ("kind", "match"),
    [("roles", "all"), ("roles", "any"), ("scopes", "all"), ("permissions", "any")],
)
def test_insufficient_scope_body_names_the_failed_requirement(kind: str, match: str) -> None:
    """The 403 body names the route's requirement and how it matches."""
    body = InsufficientScopeError(kind, ("admin", "editor"), match).body()
    assert body == {
        "error": "insufficient_scope",
        "error_description": f"The access token lacks a required {kind[:-1]}.",
        f"required_{kind}": ["admin", "editor"],
        "match": match,
    }


def test_insufficient_scope_refuses_unknown_kind_and_match() -> None:
    """A typo in the requirement kind or match mode is a programming error, not a 403."""
    with pytest.raises(ValueError, match="kind"):
        InsufficientScopeError("role", ["admin"])
    with pytest.raises(ValueError, match="match"):
        InsufficientScopeError("roles", ["admin"], "some")


def test_configuration_error_keeps_its_message() -> None:
    """ConfigurationError tells the operator what to fix, verbatim."""
    error = ConfigurationError('CLAIMGUARD_AUDIENCE is required ("x")')
    assert error.description == 'CLAIMGUARD_AUDIENCE is required ("x")'
    assert str(error) == 'CLAIMGUARD_AUDIENCE is required ("x")'
    assert error.www_authenticate("api") is None


# -- loggable ---------------------------------------------------------------------------


def test_loggable_quotes_plain_text() -> None:
    """Untrusted values are logged quoted."""
    assert loggable("auth0|42") == '"auth0|42"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a\nb", '"a\\x0ab"'),
        ("a\r\nINFO forged", '"a\\x0d\\x0aINFO forged"'),
        ("\x1b[31m", '"\\x1b[31m"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("caf\u00e9", '"caf\\xe9"'),
        ("\u2026", '"\\u2026"'),
        ("\U0001f600", '"\\U0001f600"'),
        ("\x7f", '"\\x7f"'),
    ],
)
def test_loggable_escapes_control_quotes_and_non_ascii(value: str, expected: str) -> None:
    """A value from a token can neither forge a log line nor smuggle terminal escapes."""
    assert loggable(value) == expected


def test_loggable_escapes_backslashes_so_a_value_cannot_close_its_quotes() -> None:
    """`\\"` in a value must not read as an escaped backslash plus a closing quote."""
    rendered = loggable('x\\" forged="yes')
    assert rendered == '"x\\\\\\" forged=\\"yes"'
    # Exactly two unescaped quotes: the ones loggable put around the value.
    assert len(re.findall(r'(?<!\\)(?:\\\\)*"', rendered)) == 2
    assert loggable("\\xe9") != loggable("\u00e9")


def test_loggable_truncates() -> None:
    """A long value cannot flood the log: cut at the limit and marked."""
    assert loggable("a" * 1000) == '"' + "a" * 80 + '"...'
    assert loggable("abcdef", limit=3) == '"abc"...'
    assert loggable("a" * 80) == '"' + "a" * 80 + '"'


def test_loggable_renders_non_strings_bounded() -> None:
    """Non-string claims (numbers, lists, deep nesting) are rendered, bounded, never raise."""
    assert loggable(None) == '"None"'
    assert loggable(["RS256"]) == "\"['RS256']\""
    nested: list[object] = []
    for _ in range(5000):
        nested = [nested]
    rendered = loggable(nested)
    assert len(rendered) < 100
    assert len(loggable(list(range(10_000)))) < 100
    assert len(loggable({"k" * 500: "v" * 500})) < 200


def test_loggable_survives_a_hostile_repr() -> None:
    """Whatever an object's repr does, a log line comes out."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("boom")

    assert loggable(Hostile()).startswith('"')
