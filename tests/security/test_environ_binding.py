"""One WSGI environ, two claimguard apps: a token verified for one API proves nothing to
another.

A hand-written dispatcher may pass the same environ through two Flask apps (an outer
app that authenticates, then an inner one that serves). Each app has its own issuers
and audiences, so a verified token left in the environ by the first app must not be
trusted by the second: the second verifies the request again against its own rules.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import Client
from werkzeug.wrappers import Response as WerkzeugResponse

from claimguard import ClaimGuard
from claimguard import get_current_token
from claimguard import requires_role
from claimguard.testing import ForgedIssuer

ROLES = "https://my-app.example.com/roles"
PUBLIC_API = "https://public-api.example.test"
ADMIN_API = "https://admin-api.example.test"


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(roles_claim=ROLES) as forged:
        yield forged


def _app(issuer: ForgedIssuer, audience: str) -> Flask:
    app = Flask(f"api-{audience}")
    issuer.configure(app)
    app.config["CLAIMGUARD_AUDIENCE"] = audience
    ClaimGuard(app)

    @app.get("/admin")
    @requires_role("admin")
    def admin() -> dict[str, str]:
        return {"served_by": audience}

    @app.get("/whoami")
    def whoami() -> dict[str, Any]:
        token = get_current_token()
        return {"sub": None if token is None else token.subject}

    return app


def _chain(first: Flask, second: Flask) -> Callable[..., Iterable[bytes]]:
    """A dispatcher that lets ``first`` see the request, then answers with ``second``."""

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        for _ in first(environ, lambda *args, **kwargs: None):
            pass
        return second(environ, start_response)

    return dispatch


@pytest.fixture(scope="module")
def client(issuer: ForgedIssuer) -> Client:
    return Client(_chain(_app(issuer, PUBLIC_API), _app(issuer, ADMIN_API)), WerkzeugResponse)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_for_the_first_api_is_verified_again_by_the_second(
    client: Client, issuer: ForgedIssuer
) -> None:
    """The public API accepts its own admin token; the admin API, reached with the same
    environ, refuses it for its audience instead of trusting what the first stored."""
    token = issuer.mint(aud=PUBLIC_API, roles=["admin"])
    response = client.get("/admin", headers=_bearer(token))
    assert response.status_code == 401
    assert response.json is not None
    assert response.json["error_description"] == "The access token is not meant for this API."


def test_the_second_api_sees_no_token_it_did_not_verify(
    client: Client, issuer: ForgedIssuer
) -> None:
    """get_current_token() in the second app is None: the first app's token is not its."""
    token = issuer.mint(aud=PUBLIC_API, roles=["admin"], sub="auth0|public")
    response = client.get("/whoami", headers=_bearer(token))
    assert response.status_code == 200
    assert response.json == {"sub": None}


def test_control_a_token_for_the_second_api_passes_through_both(
    client: Client, issuer: ForgedIssuer
) -> None:
    token = issuer.mint(aud=ADMIN_API, roles=["admin"])
    response = client.get("/admin", headers=_bearer(token))
    assert response.status_code == 200
    assert response.json == {"served_by": ADMIN_API}
