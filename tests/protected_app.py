"""The Flask app most extension tests share: one route per decorator, sync and async."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from claimguard import ClaimGuard
from claimguard import current_token
from claimguard import get_current_token
from claimguard import requires_any_permission
from claimguard import requires_any_role
from claimguard import requires_any_scope
from claimguard import requires_auth
from claimguard import requires_permission
from claimguard import requires_role
from claimguard import requires_scope
from claimguard.testing import ForgedIssuer

ROLES = "https://my-app.example.com/roles"


def make_app(issuer: ForgedIssuer, **config: Any) -> Flask:
    """An app with one route per decorator, sync and async."""
    app = Flask(__name__)
    issuer.configure(app)
    app.config.update(config)
    ClaimGuard(app)

    def me() -> dict[str, Any]:
        token = get_current_token()
        if token is None:
            return {"sub": None, "roles": []}
        return {"sub": token.subject, "roles": sorted(current_token.roles)}

    routes: dict[str, Callable[..., Any]] = {
        "/auth": requires_auth(me),
        "/auth-called": requires_auth()(me),
        "/optional": requires_auth(optional=True)(me),
        "/admin": requires_role("admin")(me),
        "/admin-and-editor": requires_role("admin", "editor")(me),
        "/staff": requires_any_role("viewer", "editor", "admin")(me),
        "/scope": requires_scope("read:products", "write:products")(me),
        "/any-scope": requires_any_scope("read:products", "write:products")(me),
        "/perm": requires_permission("delete:products")(me),
        "/any-perm": requires_any_permission("read:products", "delete:products")(me),
    }
    for path, view in routes.items():
        app.add_url_rule(path, path, view)

    async def async_me() -> dict[str, Any]:
        return {"sub": current_token.subject, "roles": sorted(current_token.roles)}

    app.add_url_rule("/async-admin", "async-admin", requires_role("admin")(async_me))
    app.add_url_rule("/async-auth", "async-auth", requires_auth(async_me))
    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_no_store(response: Any) -> None:
    assert response.headers["Cache-Control"] == "no-store"
