"""The request-time check every protection shares (claimguard.request_check): the app
state it needs, the token it stores (bound to the validator, written only after every
check passed) and how it tells a CORS preflight from another OPTIONS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from claimguard import ClaimGuard
from claimguard import ExpiredTokenError
from claimguard import InsufficientScopeError
from claimguard import VerifiedToken
from claimguard.request_check import ENVIRON_KEY
from claimguard.request_check import app_state
from claimguard.request_check import find_app_state
from claimguard.request_check import is_preflight
from claimguard.request_check import stored_token
from claimguard.request_check import verify_current_request
from claimguard.requirements import Requirement
from claimguard.testing import ForgedIssuer

ROLES = "https://my-app.example.com/roles"
ADMIN = (Requirement("roles", ("admin",)),)


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(roles_claim=ROLES) as forged:
        yield forged


@pytest.fixture
def app(issuer: ForgedIssuer) -> Flask:
    app = Flask(__name__)
    issuer.configure(app)
    ClaimGuard(app)
    return app


def test_without_the_extension_the_check_fails_closed() -> None:
    app = Flask(__name__)
    with app.test_request_context("/"):
        assert find_app_state() is None
        with pytest.raises(RuntimeError, match="init_app"):
            app_state()
        with pytest.raises(RuntimeError, match="init_app"):
            verify_current_request()


def test_the_token_is_stored_for_this_validator_only_after_every_check(
    app: Flask, issuer: ForgedIssuer
) -> None:
    viewer = {"Authorization": f"Bearer {issuer.mint(roles=['viewer'])}"}
    with app.test_request_context("/", headers=viewer) as context:
        with pytest.raises(InsufficientScopeError):
            verify_current_request(ADMIN)
        assert ENVIRON_KEY not in context.request.environ
    admin = {"Authorization": f"Bearer {issuer.mint(roles=['admin'])}"}
    with app.test_request_context("/", headers=admin) as context:
        token = verify_current_request(ADMIN)
        validator = app_state().validator
        assert token is not None
        assert stored_token(context.request.environ, validator) is token
        assert stored_token(context.request.environ, issuer.validator()) is None


def test_optional_without_credentials_stores_nothing(app: Flask) -> None:
    with app.test_request_context("/") as context:
        assert verify_current_request(optional=True) is None
        # Only a marker that the optional check passed: no token for anyone to read.
        stored = context.request.environ[ENVIRON_KEY]
        assert not any(isinstance(value, VerifiedToken) for value in stored.values())


@pytest.mark.parametrize(
    ("method", "headers", "preflight"),
    [
        ("OPTIONS", {"Origin": "https://a.example", "Access-Control-Request-Method": "GET"}, True),
        ("OPTIONS", {"Origin": "https://a.example"}, False),
        ("OPTIONS", {"Access-Control-Request-Method": "GET"}, False),
        ("GET", {"Origin": "https://a.example", "Access-Control-Request-Method": "GET"}, False),
    ],
)
def test_a_preflight_is_an_options_with_origin_and_requested_method(
    method: str, headers: dict[str, str], preflight: bool
) -> None:
    with Flask(__name__).test_request_context("/", method=method, headers=headers):
        assert is_preflight() is preflight


def test_a_remembered_authorization_value_still_goes_through_the_validator(
    app: Flask, issuer: ForgedIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeated header skips only the bearer parse: the validator still decides (time
    window, key still held) on every request."""
    header = f"Bearer {issuer.mint(roles=['viewer'])}"
    with app.test_request_context("/", headers={"Authorization": header}):
        assert verify_current_request() is not None
        state = app_state()
    assert state.bearer_tokens == {header: header.removeprefix("Bearer ")}

    def expired(token: str) -> VerifiedToken:
        raise ExpiredTokenError(detail="expired now")

    monkeypatch.setattr(state.validator, "validate", expired)
    with (
        app.test_request_context("/", headers={"Authorization": header}),
        pytest.raises(ExpiredTokenError),
    ):
        verify_current_request()
