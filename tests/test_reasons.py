"""Reason codes (claimguard.reasons): the one table of why a request is refused.

The table below is the contract, written out once in the tests: each code, its status
and its public sentence. The sentences are what clients have always been sent; a change
to any of them fails here first. The other tests check that every refusal claimguard
raises names a code of the table, and that each code can actually happen.
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest

import claimguard.errors as errors_module
from claimguard import ClaimGuardError
from claimguard import ConfigurationError
from claimguard import InsufficientScopeError
from claimguard import InvalidTokenError
from claimguard import KeySetUnavailableError
from claimguard import parse_authorization
from claimguard.claims import ClaimRules
from claimguard.reasons import REASONS
from claimguard.reasons import sentence
from claimguard.requirements import Requirement
from claimguard.testing import ForgedIssuer
from claimguard.testing.issuer import ForgedKey

SOURCE = Path(__file__).resolve().parent.parent / "src" / "claimguard"
ROLES = "https://my-app.example.com/roles"

CONTRACT = {
    "server.error": (500, "The request could not be authorized."),
    "config.invalid": (500, "The server's authorization settings are misconfigured."),
    "keys.unavailable": (503, "The signing keys are temporarily unavailable."),
    "request.unauthorized": (401, "The request could not be authorized."),
    "request.no_credentials": (401, "An access token is required."),
    "request.malformed": (400, "The Authorization header is malformed."),
    "request.empty_token": (400, "The Authorization header has no token."),
    "request.several_credentials": (400, "The request carries more than one credential."),
    "request.several_methods": (400, "The access token was sent in more than one way."),
    "token.invalid": (401, "The access token is invalid."),
    "token.too_large": (401, "The access token is too large."),
    "token.malformed": (401, "The access token is malformed."),
    "token.encrypted": (401, "The access token is malformed."),
    "token.algorithm": (401, "The access token uses an unsupported algorithm."),
    "token.type": (401, "The access token has an unsupported type."),
    "token.issuer": (401, "The access token was issued by an untrusted issuer."),
    "key.unknown_kid": (401, "The access token was signed by an unknown key."),
    "key.algorithm": (401, "The access token uses an unsupported algorithm."),
    "token.signature": (401, "The access token signature is invalid."),
    "token.claims": (401, "The access token has invalid claims."),
    "token.audience": (401, "The access token is not meant for this API."),
    "token.expired": (401, "The access token expired."),
    "token.max_age": (401, "The access token expired."),
    "token.not_yet_valid": (401, "The access token is not valid yet."),
    "token.client": (401, "The access token was issued to a client that is not allowed."),
    "token.bound": (
        401,
        "The access token is bound to a key and cannot be used as a bearer token.",
    ),
    "dpop.missing": (400, "The request has no DPoP proof."),
    "dpop.several": (400, "The request carries more than one DPoP proof."),
    "dpop.malformed": (400, "The DPoP proof is malformed."),
    "dpop.with_bearer": (400, "A DPoP proof was sent with the Bearer scheme."),
    "dpop.invalid": (401, "The DPoP proof is invalid."),
    "dpop.type": (401, "The DPoP proof is invalid."),
    "dpop.header": (401, "The DPoP proof is invalid."),
    "dpop.algorithm": (401, "The DPoP proof uses an unsupported algorithm."),
    "dpop.key": (401, "The DPoP proof is invalid."),
    "dpop.signature": (401, "The DPoP proof signature is invalid."),
    "dpop.method": (401, "The DPoP proof is invalid."),
    "dpop.url": (401, "The DPoP proof is invalid."),
    "dpop.iat": (401, "The DPoP proof is too old or not valid yet."),
    "dpop.jti": (401, "The DPoP proof is invalid."),
    "dpop.ath": (401, "The DPoP proof is invalid."),
    "dpop.binding": (401, "The DPoP proof key does not match the access token."),
    "dpop.replay": (401, "The DPoP proof was already used."),
    "dpop.nonce_required": (401, "The DPoP proof must carry a fresh server nonce."),
    "dpop.nonce": (401, "The DPoP proof must carry a fresh server nonce."),
    "token.unbound": (401, "The access token is not bound to a DPoP key."),
    "token.dpop_required": (401, "This API requires a DPoP-bound access token."),
    "dpop.store_unavailable": (503, "The DPoP proof cannot be checked right now."),
    "roles.missing": (403, "The access token lacks a required role."),
    "scopes.missing": (403, "The access token lacks a required scope."),
    "permissions.missing": (403, "The access token lacks a required permission."),
}

#: The codes only a class default carries: an error raised without a reason.
GENERIC = {"server.error", "request.unauthorized", "token.invalid", "dpop.invalid"}
#: DPoP's codes, each caused in tests/test_dpop.py (the verifier's) and
#: tests/dpop/ (the Flask layer's).
DPOP = {code for code in CONTRACT if code.startswith("dpop.")} | {
    "token.unbound",
    "token.dpop_required",
}


def test_the_table_is_the_contract() -> None:
    assert {code: (r.status, r.sentence) for code, r in REASONS.items()} == CONTRACT


@pytest.mark.parametrize("code", sorted(REASONS))
def test_each_code_is_well_formed_and_says_how_to_fix_it(code: str) -> None:
    reason = REASONS[code]
    assert reason.code == code
    assert re.fullmatch(r"[a-z]+\.[a-z_]+", code)
    assert reason.fix.endswith(".")
    assert sentence(code) == reason.sentence
    # RFC 6750 §3: the sentence goes into error_description as it is.
    assert re.fullmatch(r"[\x20\x21\x23-\x5b\x5d-\x7e]+", reason.sentence)


def test_an_unknown_code_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown reason code"):
        sentence("token.nope")
    with pytest.raises(ValueError, match="unknown reason code"):
        InvalidTokenError(reason="token.nope")


# -- every raise site names a code of the table ---------------------------------------


def _calls() -> Iterator[tuple[str, int, ast.Call]]:
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                yield path.name, node.lineno, node


def _name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _reason(call: ast.Call) -> str | None:
    """The code a call passes as ``reason="…"``, if it spells one out (``reason=None``,
    as the authorized signal sends, names no code)."""
    for keyword in call.keywords:
        value = keyword.value
        if keyword.arg == "reason" and isinstance(value, ast.Constant) and value.value is not None:
            return str(value.value)
    return None


def test_every_reason_written_in_the_code_is_in_the_table() -> None:
    """A code spelled wrong at a raise site would fail only when that refusal happens."""
    written = [(where, line, _reason(call)) for where, line, call in _calls() if _reason(call)]
    assert written
    assert [site for site in written if site[2] not in REASONS] == []


def test_each_raise_site_answers_the_status_of_its_reason() -> None:
    sites = [
        (where, line, getattr(errors_module, _name(call)), _reason(call))
        for where, line, call in _calls()
        if _name(call) in errors_module.__all__ and _reason(call)
    ]
    assert sites
    wrong = [site for site in sites if REASONS[site[3]].status != site[2].status_code]
    assert wrong == []


def test_no_refusal_writes_its_own_sentence() -> None:
    """Sentences come from the table: a raise site passes a reason, never a description.
    (ConfigurationError's argument is the operator's message; InsufficientScopeError's is
    the kind, which picks the reason.)"""
    own = [
        (where, line, _name(call))
        for where, line, call in _calls()
        if _name(call) in errors_module.__all__
        and _name(call).endswith("Error")
        and _name(call) not in ("ConfigurationError", "InsufficientScopeError")
        and call.args
    ]
    assert own == []


@pytest.mark.parametrize(
    "error",
    [
        getattr(errors_module, name)
        for name in errors_module.__all__
        if name not in ("loggable", "InsufficientScopeError")
    ],
)
def test_each_error_class_defaults_to_a_reason_of_its_status(error: type[ClaimGuardError]) -> None:
    assert REASONS[error.default_reason].status == error.status_code
    raised = ConfigurationError("message") if error is ConfigurationError else error()
    assert raised.reason == error.default_reason


@pytest.mark.parametrize("kind", ["roles", "scopes", "permissions"])
def test_a_missing_privilege_names_its_kind(kind: str) -> None:
    error = InsufficientScopeError(kind, ["x"])
    assert error.reason == f"{kind}.missing"
    assert str(error) == sentence(error.reason)
    assert REASONS[error.reason].status == error.status_code


# -- every code can happen ------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(roles_claim=ROLES) as forged:
        yield forged


def _header(value: str | None, query_token: bool = False) -> Callable[[], object]:
    return lambda: parse_authorization(value, query_token=query_token)


def _tampered(issuer: ForgedIssuer) -> str:
    header, _, signature = issuer.mint().split(".")
    payload = issuer.mint(sub="auth0|someone-else").split(".")[1]
    return f"{header}.{payload}.{signature}"


def _refusals(issuer: ForgedIssuer) -> dict[str, Callable[[], object]]:
    """One way to cause each specific reason, by code."""
    validator = issuer.validator()
    strict = issuer.validator(max_token_age=60, allowed_clients=["client-a"], strict_typ=True)
    now = int(time.time())
    ec_key = ForgedKey.generate("ES256", kid=issuer.kid)
    mixed = issuer.validator(algorithms=["RS256", "ES256"])
    check = issuer.validator().validate
    rules = ClaimRules(ROLES)
    token = validator.validate(issuer.mint())

    def missing(kind: str) -> Callable[[], object]:
        return lambda: Requirement(kind, ("x",)).check(token, rules)

    def unavailable() -> object:
        with ForgedIssuer() as gone:
            keys = gone.key_set(timeout=1)
            gone_validator = gone.validator(key_set=keys)
            mint = gone.mint()
            with gone.outage():
                return gone_validator.validate(mint)

    return {
        "config.invalid": lambda: Requirement("roles", ("x",)).check(token, ClaimRules()),
        "keys.unavailable": unavailable,
        "request.no_credentials": _header(None),
        "request.malformed": _header("Bearer a b"),
        "request.empty_token": _header("Bearer"),
        "request.several_credentials": _header("Bearer a, Bearer b"),
        "request.several_methods": _header("Bearer abc", query_token=True),
        "token.too_large": _header("Bearer " + "a" * 9000),
        "token.malformed": lambda: check("opaque-token"),
        "token.encrypted": lambda: check("a.b.c.d.e"),
        "token.algorithm": lambda: check(issuer.mint(headers={"alg": "RS512"})),
        "key.algorithm": lambda: mixed.validate(issuer.mint(key=ec_key)),
        "token.type": lambda: check(issuer.mint(headers={"typ": "dpop+jwt"})),
        "token.issuer": lambda: check(issuer.mint(iss="https://evil.example/")),
        "key.unknown_kid": lambda: check(issuer.mint(headers={"kid": "unknown"})),
        "token.signature": lambda: check(_tampered(issuer)),
        "token.claims": lambda: check(issuer.mint(sub=7)),
        "token.audience": lambda: check(issuer.mint(aud="https://other.example")),
        "token.expired": lambda: check(issuer.mint(expires_in=-60)),
        "token.max_age": lambda: strict.validate(
            issuer.mint(iat=now - 600, azp="client-a", headers={"typ": "at+jwt"})
        ),
        "token.not_yet_valid": lambda: check(issuer.mint(nbf=now + 600)),
        "token.client": lambda: strict.validate(
            issuer.mint(azp="client-b", headers={"typ": "at+jwt"})
        ),
        "token.bound": lambda: check(issuer.mint(cnf={"jkt": "x"})),
        "roles.missing": missing("roles"),
        "scopes.missing": missing("scopes"),
        "permissions.missing": missing("permissions"),
    }


def test_every_specific_code_can_happen(issuer: ForgedIssuer) -> None:
    """Each code other than the class defaults is raised by claimguard itself, with the
    table's status and sentence; together they cover the whole table."""
    refusals = _refusals(issuer)
    assert set(refusals) | GENERIC | DPOP == set(REASONS)
    for code, cause in refusals.items():
        with pytest.raises(ClaimGuardError) as info:
            cause()
        error = info.value
        assert error.reason == code, error.detail
        assert error.status_code == REASONS[code].status
        if not isinstance(error, ConfigurationError):  # its str() is the operator's message
            assert str(error) == error.description == REASONS[code].sentence


def test_a_reason_given_with_a_description_keeps_both() -> None:
    error = KeySetUnavailableError("Try later.", reason="keys.unavailable", retry_after=3)
    assert (error.reason, str(error), error.retry_after) == ("keys.unavailable", "Try later.", 3)
    assert InvalidTokenError().reason == "token.invalid"
