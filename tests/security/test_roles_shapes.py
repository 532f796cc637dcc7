"""Roles claim shapes: a genuine token whose roles claim is anything but a
JSON array of strings has *no roles* (403, never a 500, never a substring or
case-insensitive match), and a malformed first claim never falls through to a later one.

The route is ``DELETE /products/<id>`` (``requires_role("admin")``): an admin gets 404
for the absent product, anyone else 403 naming the requirement.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from claimguard.testing import ForgedIssuer

from .attacks import ADMIN_ONLY
from .attacks import ROLES
from .attacks import bearer
from .attacks import build_api
from .attacks import check_forbidden_role

LEGACY = "https://my-app.example.com/legacy_roles"

SHAPES: dict[str, Any] = {
    "string": "admin",
    "space-separated-string": "admin viewer",
    "null": None,
    "true": True,
    "number": 1,
    "object-flag": {"admin": True},
    "object-list": {"roles": ["admin"]},
    "nested-list": [["admin"]],
    "mixed-array-number": ["admin", 1],
    "mixed-array-null": ["admin", None],
    "mixed-array-object": ["admin", {"name": "admin"}],
    "array-of-objects": [{"name": "admin"}],
    "empty-array": [],
    "superstring": ["administrator"],
    "substring": ["adm"],
    "split-pieces": ["ad", "min"],
    "trailing-space": ["admin "],
    "leading-space": [" admin"],
    "uppercase": ["ADMIN"],
    "titlecase": ["Admin"],
    "cyrillic-a-homoglyph": ["\u0430dmin"],
    "fullwidth": ["\uff41\uff44\uff4d\uff49\uff4e"],
    "zero-width-space": ["admin\u200b"],
    "nul-suffix": ["admin\x00"],
    "comma-joined": ["viewer,admin"],
    "wildcard": ["*"],
    "regex": [".*"],
    "scoped": ["admin:products"],
}


def _token(issuer: ForgedIssuer, claims: dict[str, Any]) -> str:
    """A genuine token with exactly these extra claims (``None`` values kept as null)."""
    payload = {**issuer.claims(), **claims}
    return issuer.sign({"alg": "RS256", "typ": "JWT", "kid": issuer.kid}, payload)


def test_control_admin_array_passes(client: FlaskClient, issuer: ForgedIssuer) -> None:
    response = client.delete(ADMIN_ONLY, headers=bearer(_token(issuer, {ROLES: ["admin"]})))
    assert response.status_code == 404  # authorised; the product does not exist


@pytest.mark.parametrize("case", list(SHAPES))
def test_roles_claim_shape(client: FlaskClient, issuer: ForgedIssuer, case: str) -> None:
    token = _token(issuer, {ROLES: SHAPES[case]})
    check_forbidden_role(client.delete(ADMIN_ONLY, headers=bearer(token)), ["admin"])


def test_mixed_array_grants_not_even_its_valid_items(
    client: FlaskClient, issuer: ForgedIssuer
) -> None:
    """``["viewer", 1]`` is malformed as a whole: not even ``viewer`` counts."""
    token = _token(issuer, {ROLES: ["viewer", 1]})
    response = client.get("/products", headers=bearer(token))
    check_forbidden_role(response, ["viewer", "editor", "admin"], match="any")


ELSEWHERE: dict[str, dict[str, Any]] = {
    "plain-roles-claim": {"roles": ["admin"]},
    "groups-claim": {"groups": ["admin"]},
    "trailing-slash-namespace": {ROLES + "/": ["admin"]},
    "other-namespace": {"https://other-app.example.com/roles": ["admin"]},
    "uppercase-namespace": {ROLES.upper(): ["admin"]},
    "nested-under-namespace": {"https://my-app.example.com": {"roles": ["admin"]}},
    "as-permission": {"permissions": ["admin"]},
    "as-scope": {"scope": "admin"},
    "pointer-like-literal-name": {"/" + ROLES: ["admin"]},
}


@pytest.mark.parametrize("case", list(ELSEWHERE))
def test_roles_under_a_claim_that_is_not_configured(
    client: FlaskClient, issuer: ForgedIssuer, case: str
) -> None:
    """Roles, permissions and scopes are separate sets; only the configured claim counts."""
    token = _token(issuer, {ROLES: ["viewer"], **ELSEWHERE[case]})
    check_forbidden_role(client.delete(ADMIN_ONLY, headers=bearer(token)), ["admin"])


# -- several configured roles claims: the first present is the only one read --------------


@pytest.fixture(scope="module")
def two_claims_client(issuer: ForgedIssuer, databases: Path) -> FlaskClient:
    config = {**issuer.config(), "CLAIMGUARD_ROLES_CLAIM": [ROLES, LEGACY]}
    return build_api(databases, config).test_client()


def test_two_claims_control_second_is_read_when_first_is_absent(
    two_claims_client: FlaskClient, issuer: ForgedIssuer
) -> None:
    token = _token(issuer, {LEGACY: ["admin"]})
    assert two_claims_client.delete(ADMIN_ONLY, headers=bearer(token)).status_code == 404


FIRST_MALFORMED: dict[str, Any] = {
    "string": "admin",
    "null": None,
    "object": {"admin": True},
    "nested-list": [["admin"]],
    "mixed-array": ["viewer", 1],
    "empty-array": [],
}


@pytest.mark.parametrize("case", list(FIRST_MALFORMED))
def test_first_claim_malformed_never_falls_through(
    two_claims_client: FlaskClient, issuer: ForgedIssuer, case: str
) -> None:
    """A lower-trust later claim (say, one users can edit) is never consulted once the
    first configured claim is present, whatever its shape."""
    token = _token(issuer, {ROLES: FIRST_MALFORMED[case], LEGACY: ["admin"]})
    response = two_claims_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_forbidden_role(response, ["admin"])


# -- a JSON Pointer roles claim ------------------------------------------------------------


@pytest.fixture(scope="module")
def pointer_client(issuer: ForgedIssuer, databases: Path) -> FlaskClient:
    config = {**issuer.config(), "CLAIMGUARD_ROLES_CLAIM": "/realm_access/roles"}
    return build_api(databases, config).test_client()


def test_pointer_control_nested_roles_pass(
    pointer_client: FlaskClient, issuer: ForgedIssuer
) -> None:
    token = _token(issuer, {"realm_access": {"roles": ["admin"]}})
    assert pointer_client.delete(ADMIN_ONLY, headers=bearer(token)).status_code == 404


POINTER_SHAPES: dict[str, dict[str, Any]] = {
    "literal-top-level-name": {"/realm_access/roles": ["admin"]},
    "dotted-name": {"realm_access.roles": ["admin"]},
    "roles-string": {"realm_access": {"roles": "admin"}},
    "roles-object": {"realm_access": {"roles": {"0": "admin"}}},
    "parent-is-array": {"realm_access": [{"roles": ["admin"]}]},
    "parent-is-string": {"realm_access": "roles"},
    "parent-null": {"realm_access": None},
    "one-level-too-deep": {"realm_access": {"roles": {"roles": ["admin"]}}},
}


@pytest.mark.parametrize("case", list(POINTER_SHAPES))
def test_pointer_roles_claim_shape(
    pointer_client: FlaskClient, issuer: ForgedIssuer, case: str
) -> None:
    token = _token(issuer, POINTER_SHAPES[case])
    check_forbidden_role(pointer_client.delete(ADMIN_ONLY, headers=bearer(token)), ["admin"])


def test_every_shape_on_every_route_is_a_403_never_a_500(api: Flask, issuer: ForgedIssuer) -> None:
    """Sweep: each malformed shape on each role-protected route of the products API."""
    routes: list[tuple[str, str, list[str], str]] = [
        ("GET", "/products", ["viewer", "editor", "admin"], "any"),
        ("GET", "/products/1", ["viewer", "editor", "admin"], "any"),
        ("POST", "/products", ["editor", "admin"], "any"),
        ("PATCH", "/products/1", ["editor", "admin"], "any"),
        ("DELETE", ADMIN_ONLY, ["admin"], "all"),
    ]
    client = api.test_client()
    send: Callable[..., Any] = client.open
    for shape in SHAPES.values():
        token = _token(issuer, {ROLES: shape})
        for method, path, required, match in routes:
            response = send(path, method=method, headers=bearer(token), json={"name": "x"})
            check_forbidden_role(response, required, match)
