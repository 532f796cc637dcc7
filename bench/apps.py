"""The same endpoint four ways, for ``bench/run.py``: ``gunicorn "bench.apps:create_app()"``.

``BENCH_KIND`` picks the protection: ``noauth`` (the ceiling), ``claimguard``,
``quickstart`` (PyJWT ``PyJWKClient`` + ``jwt.decode`` per request, as in Auth0's Flask
quickstart) or ``authlib`` (Authlib's ``ResourceProtector`` with its RFC 9068
validator). Every protected variant verifies the token and checks the ``viewer`` role.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from flask import jsonify

ITEMS = [{"id": n, "name": f"product {n}", "price": n * 1.5} for n in range(5)]


def _settings() -> dict[str, str]:
    return {
        name: os.environ[f"BENCH_{name.upper()}"]
        for name in ("issuer", "audience", "jwks_url", "roles_claim")
    }


def _noauth(app: Flask, settings: dict[str, str]) -> None:
    @app.get("/products")
    def products() -> Any:
        return jsonify(items=ITEMS)


def _claimguard(app: Flask, settings: dict[str, str]) -> None:
    from claimguard import ClaimGuard
    from claimguard import requires_role

    app.config.update(
        CLAIMGUARD_ISSUER=settings["issuer"],
        CLAIMGUARD_AUDIENCE=settings["audience"],
        CLAIMGUARD_JWKS_URL=settings["jwks_url"],
        CLAIMGUARD_ROLES_CLAIM=settings["roles_claim"],
        CLAIMGUARD_TOKEN_CACHE_SIZE=int(os.environ.get("BENCH_CACHE_SIZE", "4096")),
    )
    ClaimGuard(app)

    @app.get("/products")
    @requires_role("viewer")
    def products() -> Any:
        return jsonify(items=ITEMS)


def _quickstart(app: Flask, settings: dict[str, str]) -> None:
    import jwt
    from flask import request

    client = jwt.PyJWKClient(settings["jwks_url"])

    @app.get("/products")
    def products() -> Any:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return jsonify(error="unauthorized"), 401
        token = header[7:]
        try:
            key = client.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=settings["audience"],
                issuer=settings["issuer"],
            )
        except jwt.PyJWTError:
            return jsonify(error="invalid_token"), 401
        if "viewer" not in claims.get(settings["roles_claim"], []):
            return jsonify(error="insufficient_scope"), 403
        return jsonify(items=ITEMS)


def _authlib(app: Flask, settings: dict[str, str]) -> None:
    import requests
    from authlib.integrations.flask_oauth2 import ResourceProtector
    from authlib.integrations.flask_oauth2 import current_token
    from authlib.oauth2.rfc9068 import JWTBearerTokenValidator

    document = requests.get(settings["jwks_url"], timeout=5).json()
    try:  # Authlib >= 1.7 verifies with joserfc and wants its KeySet
        from joserfc.jwk import KeySet

        jwks: Any = KeySet.import_key_set(document)
    except ImportError:
        jwks = document

    class Validator(JWTBearerTokenValidator):  # type: ignore[misc]
        def get_jwks(self) -> Any:
            return jwks

    protector = ResourceProtector()
    protector.register_token_validator(
        Validator(issuer=settings["issuer"], resource_server=settings["audience"])
    )

    @app.get("/products")
    @protector()
    def products() -> Any:
        if "viewer" not in current_token.get(settings["roles_claim"], []):
            return jsonify(error="insufficient_scope"), 403
        return jsonify(items=ITEMS)


KINDS = {
    "noauth": _noauth,
    "claimguard": _claimguard,
    "quickstart": _quickstart,
    "authlib": _authlib,
}


def create_app() -> Flask:
    app = Flask(__name__)
    KINDS[os.environ["BENCH_KIND"]](app, _settings())
    return app
