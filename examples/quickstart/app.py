"""A products API protected by claimguard; test_app.py beside it is its test suite.

Run it against your Auth0 tenant, then call it with an access token requested for the
audience below (``curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:5000/me``)::

    AUTH0_DOMAIN=my-tenant.us.auth0.com python app.py
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from claimguard import ClaimGuard
from claimguard import current_token
from claimguard import requires_any_role
from claimguard import requires_auth
from claimguard import requires_role
from flask import Flask
from flask import abort

guard = ClaimGuard()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the API. ``config`` overrides the settings below (the tests pass theirs)."""
    app = Flask(__name__)
    app.config["CLAIMGUARD_DOMAIN"] = os.environ.get("AUTH0_DOMAIN", "my-tenant.us.auth0.com")
    # Your API's Identifier in the Auth0 dashboard: tokens must be requested for it.
    app.config["CLAIMGUARD_AUDIENCE"] = "https://products.example.com"
    # The namespaced claim your Post-Login Action writes the user's roles to.
    app.config["CLAIMGUARD_ROLES_CLAIM"] = "https://my-app.example.com/roles"
    app.config.update(config or {})
    guard.init_app(app)  # reads the settings now: later changes are not seen

    products = {1: {"id": 1, "name": "Mug", "price": 9.5}}

    @app.get("/me")
    @requires_auth
    def me() -> dict[str, Any]:
        return {"user": current_token.subject, "roles": sorted(current_token.roles)}

    @app.get("/products")
    @requires_any_role("viewer", "editor", "admin")
    def list_products() -> dict[str, Any]:
        return {"products": list(products.values())}

    @app.delete("/products/<int:product_id>")
    @requires_role("admin")
    def delete_product(product_id: int) -> tuple[str, int]:
        if products.pop(product_id, None) is None:
            abort(404)
        return "", 204

    return app


if __name__ == "__main__":
    # Why claimguard refused a request is an INFO record of the "claimguard" logger.
    logging.basicConfig(level="INFO")
    create_app().run(port=int(os.environ.get("PORT", "5000")))
