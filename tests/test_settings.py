"""The CLAIMGUARD_* settings (claimguard.settings), read by ClaimGuard.init_app: every
problem is a ConfigurationError at start-up that names the key."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from claimguard import ClaimGuard
from claimguard import ConfigurationError
from claimguard import requires_role
from claimguard.testing import ForgedIssuer
from protected_app import ROLES
from protected_app import bearer


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(roles_claim=ROLES) as forged:
        yield forged


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"CLAIMGUARD_AUDIENCE": None}, "CLAIMGUARD_AUDIENCE is required"),
        ({"CLAIMGUARD_ISSUER": None, "CLAIMGUARD_JWKS_URL": None}, "no issuer"),
        ({"CLAIMGUARD_ALGORITHMS": ["HS256"]}, "HMAC"),
        ({"CLAIMGUARD_ALGORITHMS": ["none"]}, "unsigned"),
        ({"CLAIMGUARD_ALGORITHMS": ["RS1"]}, "not supported"),
        ({"CLAIMGUARD_ROLES_CLAIM": "sub"}, "protocol claim"),
        ({"CLAIMGUARD_ROLES_CLAIM": ["https://x/roles", "scope"]}, "protocol claim"),
        ({"CLAIMGUARD_LEEWAY": 301}, "CLAIMGUARD_LEEWAY"),
        ({"CLAIMGUARD_LEEWAY": -1}, "CLAIMGUARD_LEEWAY"),
        ({"CLAIMGUARD_LEEWAY": 10**400}, "CLAIMGUARD_LEEWAY"),
        ({"CLAIMGUARD_ROLES_CLAIM": {"https://a/roles", "https://b/roles"}}, "list"),
        ({"CLAIMGUARD_JWKS_CACHE_TTL": 0}, "CLAIMGUARD_JWKS_CACHE_TTL"),
        ({"CLAIMGUARD_JWKS_COOLDOWN": 3601}, "CLAIMGUARD_JWKS_COOLDOWN"),
        ({"CLAIMGUARD_JWKS_MAX_STALE": 604801}, "CLAIMGUARD_JWKS_MAX_STALE"),
        ({"CLAIMGUARD_HTTP_TIMEOUT": 0.05}, "CLAIMGUARD_HTTP_TIMEOUT"),
        ({"CLAIMGUARD_HTTP_TIMEOUT": "5"}, "must be a number"),
        ({"CLAIMGUARD_MAX_TOKEN_AGE": 0}, "CLAIMGUARD_MAX_TOKEN_AGE"),
        ({"CLAIMGUARD_TOKEN_CACHE_SIZE": 1_000_001}, "CLAIMGUARD_TOKEN_CACHE_SIZE"),
        ({"CLAIMGUARD_TOKEN_CACHE_SIZE": 1.5}, "whole number"),
        ({"CLAIMGUARD_STRICT_TYP": "false"}, "CLAIMGUARD_STRICT_TYP"),
        ({"CLAIMGUARD_REALM": 'a"b'}, "CLAIMGUARD_REALM"),
        ({"CLAIMGUARD_ISSUER": "http://idp.example.com/"}, "https://"),
        ({"CLAIMGUARD_ISSUER": "https://idp.example.com/?tenant=a"}, "query or fragment"),
        ({"CLAIMGUARD_JWKS_URL": "ftp://idp.example.com/jwks"}, "https://"),
        ({"CLAIMGUARD_AUDIENCE": "https://tenant.auth0.com/userinfo"}, "userinfo"),
        (
            {"CLAIMGUARD_AUDIENCE": "client123", "CLAIMGUARD_ALLOWED_CLIENTS": ["client123"]},
            "client ID",
        ),
        ({"CLAIMGUARD_AUDIENCES": "typo"}, "did you mean CLAIMGUARD_AUDIENCE"),
        ({"CLAIMGUARD_DOMAIN": "https://x/y/z", "CLAIMGUARD_ISSUER": None}, "host name"),
    ],
)
def test_configuration_errors_at_start_up(
    issuer: ForgedIssuer, config: dict[str, Any], message: str
) -> None:
    app = Flask(__name__)
    issuer.configure(app)
    app.config.update(config)
    with pytest.raises(ConfigurationError, match=message):
        ClaimGuard(app)
    assert "claimguard" not in app.extensions


def test_non_uri_roles_claim_warns_about_namespacing(
    issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    app = Flask(__name__)
    issuer.configure(app)
    app.config["CLAIMGUARD_ROLES_CLAIM"] = ["roles", "/realm_access/roles", ROLES]
    with caplog.at_level(logging.WARNING, logger="claimguard"):
        ClaimGuard(app)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'roles'" in warnings[0]
    assert "namespace" in warnings[0].lower()


# -- issuers and where their keys live ---------------------------------------------------


def test_domain_gives_issuer_and_jwks_url() -> None:
    app = Flask(__name__)
    app.config.update(
        CLAIMGUARD_DOMAIN="my-tenant.us.auth0.com", CLAIMGUARD_AUDIENCE="https://api.example"
    )
    ClaimGuard(app)
    validator = app.extensions["claimguard"].validator
    assert list(validator.issuers) == ["https://my-tenant.us.auth0.com/"]
    keys = validator.issuers["https://my-tenant.us.auth0.com/"]
    assert keys.url == "https://my-tenant.us.auth0.com/.well-known/jwks.json"


def test_domain_with_several_issuers_shares_one_key_set() -> None:
    """An Auth0 tenant reached through its canonical and custom domains."""
    app = Flask(__name__)
    app.config.update(
        CLAIMGUARD_DOMAIN="my-tenant.us.auth0.com",
        CLAIMGUARD_ISSUER=["https://my-tenant.us.auth0.com/", "https://login.example.com/"],
        CLAIMGUARD_AUDIENCE="https://api.example",
    )
    ClaimGuard(app)
    issuers = app.extensions["claimguard"].validator.issuers
    assert issuers["https://my-tenant.us.auth0.com/"] is issuers["https://login.example.com/"]


def test_issuer_without_jwks_url_uses_discovery(issuer: ForgedIssuer) -> None:
    app = Flask(__name__)
    app.config.update(
        CLAIMGUARD_ISSUER=issuer.issuer,
        CLAIMGUARD_AUDIENCE=issuer.audience,
        CLAIMGUARD_ROLES_CLAIM=ROLES,
    )
    ClaimGuard(app)
    app.add_url_rule("/x", "x", requires_role("admin")(lambda: "ok"))
    before = issuer.discovery_requests
    response = app.test_client().get("/x", headers=bearer(issuer.mint(roles=["admin"])))
    assert response.status_code == 200
    assert issuer.discovery_requests == before + 1
