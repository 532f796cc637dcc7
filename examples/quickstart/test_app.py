"""The tests of app.py. ``forged_issuer`` (a fixture of the package) runs a real issuer
on 127.0.0.1, so each request goes through discovery, key fetch and signature checks.

Run them in this folder with ``python -m pytest``.
"""

from __future__ import annotations

import pytest
from claimguard.testing import ForgedIssuer
from flask.testing import FlaskClient

from app import create_app


@pytest.fixture
def client(forged_issuer: ForgedIssuer) -> FlaskClient:
    # create_app(config) trusting the forged issuer. The app keeps its own audience and
    # roles claim, and forged_issuer.mint() writes tokens for exactly those.
    app = forged_issuer.build_app(create_app, {"TESTING": True})
    return app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_admin_can_delete(client: FlaskClient, forged_issuer: ForgedIssuer) -> None:
    token = forged_issuer.mint(roles=["admin"])
    assert client.delete("/products/1", headers=bearer(token)).status_code == 204
    assert client.delete("/products/1", headers=bearer(token)).status_code == 404


def test_viewer_can_list_but_not_delete(client: FlaskClient, forged_issuer: ForgedIssuer) -> None:
    token = forged_issuer.mint(roles=["viewer"])
    assert client.get("/products", headers=bearer(token)).status_code == 200
    refused = client.delete("/products/1", headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json["error"] == "insufficient_scope"
    assert refused.json["required_roles"] == ["admin"]


def test_roles_come_from_the_claim_the_action_sets(
    client: FlaskClient, forged_issuer: ForgedIssuer
) -> None:
    # The claim name spelled out, as the Post-Login Action writes it: if the app read
    # roles from any other claim, this viewer would be refused.
    token = forged_issuer.mint(**{"https://my-app.example.com/roles": ["viewer"]})
    assert client.get("/products", headers=bearer(token)).status_code == 200
    assert client.get("/me", headers=bearer(token)).json["roles"] == ["viewer"]


def test_no_token_expired_token_or_another_api(
    client: FlaskClient, forged_issuer: ForgedIssuer
) -> None:
    assert client.get("/products").status_code == 401
    expired = forged_issuer.mint(roles=["admin"], expires_in=-60)
    assert client.get("/products", headers=bearer(expired)).status_code == 401
    elsewhere = forged_issuer.mint(roles=["admin"], aud="https://another-api.example.com")
    assert client.get("/products", headers=bearer(elsewhere)).status_code == 401
