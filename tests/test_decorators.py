"""The route decorators (claimguard.decorators): each one, sync and async views, misuse
refused at import, optional auth, and OPTIONS / CORS preflights."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from claimguard import requires_any_role
from claimguard import requires_auth
from claimguard import requires_permission
from claimguard import requires_role
from claimguard import requires_scope
from claimguard.testing import ForgedIssuer
from protected_app import ROLES
from protected_app import bearer
from protected_app import make_app


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(roles_claim=ROLES) as forged:
        yield forged


@pytest.mark.parametrize(
    ("path", "claims", "status"),
    [
        ("/auth", {}, 200),
        ("/auth-called", {}, 200),
        ("/admin", {"roles": ["admin"]}, 200),
        ("/admin", {"roles": ["Admin"]}, 403),
        ("/admin", {}, 403),
        ("/admin-and-editor", {"roles": ["admin", "editor"]}, 200),
        ("/admin-and-editor", {"roles": ["admin"]}, 403),
        ("/staff", {"roles": ["viewer"]}, 200),
        ("/staff", {"roles": ["guest"]}, 403),
        ("/scope", {"scope": "read:products write:products"}, 200),
        ("/scope", {"scope": "read:products"}, 403),
        ("/any-scope", {"scope": "write:products"}, 200),
        ("/any-scope", {"scope": "read:users"}, 403),
        ("/perm", {"permissions": ["delete:products"]}, 200),
        ("/perm", {"roles": ["delete:products"]}, 403),
        ("/any-perm", {"permissions": ["read:products"]}, 200),
        ("/any-perm", {"permissions": []}, 403),
        ("/async-admin", {"roles": ["admin"]}, 200),
        ("/async-admin", {"roles": ["viewer"]}, 403),
        ("/async-auth", {}, 200),
    ],
)
def test_decorator_matrix(
    issuer: ForgedIssuer, path: str, claims: dict[str, Any], status: int
) -> None:
    """Each decorator, sync and async: all-of vs any-of; roles, scopes and permissions
    are separate sets; matching is exact and case-sensitive."""
    client = make_app(issuer).test_client()
    response = client.get(path, headers=bearer(issuer.mint(**claims)))
    assert response.status_code == status


def test_async_views_stay_async(issuer: ForgedIssuer) -> None:
    import inspect

    async def view() -> str:
        return "ok"

    assert inspect.iscoroutinefunction(requires_role("admin")(view))
    assert not inspect.iscoroutinefunction(requires_role("admin")(lambda: "ok"))


def test_async_view_without_token_is_refused(issuer: ForgedIssuer) -> None:
    response = make_app(issuer).test_client().get("/async-admin")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "misuse",
    [
        lambda: requires_role(),
        lambda: requires_role(""),
        lambda: requires_role("  "),
        lambda: requires_any_role(),
        lambda: requires_scope(None),  # type: ignore[arg-type]
        lambda: requires_permission(),
        lambda: requires_role(lambda: None),  # bare @requires_role
        lambda: requires_auth("admin"),  # type: ignore[call-overload]
    ],
)
def test_decorator_misuse_fails_at_import(misuse: Callable[[], Any]) -> None:
    """A typo must never produce a route that lets everyone in."""
    with pytest.raises(TypeError):
        misuse()


# -- optional auth -----------------------------------------------------------------------


def test_optional_auth(issuer: ForgedIssuer) -> None:
    """Optional auth allows a *missing* token only; a bad one is still refused."""
    client = make_app(issuer).test_client()
    anonymous = client.get("/optional")
    assert anonymous.status_code == 200
    assert anonymous.get_json() == {"sub": None, "roles": []}
    signed_in = client.get("/optional", headers=bearer(issuer.mint(roles=["viewer"])))
    assert signed_in.get_json() == {"sub": "auth0|forged-user", "roles": ["viewer"]}
    assert client.get("/optional", headers=bearer(issuer.mint(expires_in=-60))).status_code == 401
    assert client.get("/optional", headers={"Authorization": "Bearer"}).status_code == 400


def test_optional_auth_fails_closed_when_keys_are_unavailable() -> None:
    with ForgedIssuer() as forged:
        app = make_app(forged, CLAIMGUARD_HTTP_TIMEOUT=1)
        token = forged.mint()
        with forged.outage():
            assert app.test_client().get("/optional", headers=bearer(token)).status_code == 503


# -- OPTIONS and CORS preflights ---------------------------------------------------------


def test_cors_preflight_passes_without_token_and_skips_the_view(issuer: ForgedIssuer) -> None:
    app = make_app(issuer)
    calls: list[str] = []

    @app.route("/explicit-options", methods=["GET", "OPTIONS"], provide_automatic_options=False)
    @requires_auth
    def explicit() -> str:
        calls.append("called")
        return "view"

    client = app.test_client()
    preflight = client.options(
        "/explicit-options",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert "GET" in preflight.headers["Allow"]
    assert calls == []
    # Any other OPTIONS is authenticated like every other method.
    plain = client.options("/explicit-options", headers={"Origin": "https://app.example"})
    assert plain.status_code == 401
    assert calls == []


def test_plain_options_on_an_ordinary_route_is_authenticated(issuer: ForgedIssuer) -> None:
    """Only a real CORS preflight passes without a token; Flask's automatic
    OPTIONS answer must not become a way around the check."""
    client = make_app(issuer).test_client()
    assert client.options("/admin").status_code == 401
    assert (
        client.options("/admin", headers=bearer(issuer.mint(roles=["viewer"]))).status_code == 403
    )
    allowed = client.options("/admin", headers=bearer(issuer.mint(roles=["admin"])))
    assert allowed.status_code == 200
    assert "GET" in allowed.headers["Allow"]
    preflight = client.options(
        "/admin", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 200


# -- without the extension ---------------------------------------------------------------


def test_decorator_without_extension_raises_runtime_error() -> None:
    app = Flask(__name__)
    app.testing = True

    @app.get("/x")
    @requires_auth
    def x() -> str:
        return "never"

    with pytest.raises(RuntimeError, match="init_app"):
        app.test_client().get("/x")
