"""example_api as a real HTTP server (gunicorn, several workers) behind ForgedIssuer:
the role matrix (viewer reads, editor writes, admin deletes; authorization before
existence and before the body), body validation, JSON errors, ETags and If-Match,
persistence across a restart and concurrent writers.

Every test that stores products runs twice, on SQLite and on PostgreSQL (the
``database_backend`` parameter of ``new_database``, tests/conftest.py): gunicorn's
workers must give the same answers whichever database is behind them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from claimguard import ConfigurationError
from claimguard.testing import ForgedIssuer
from example_api import create_app
from example_api.config import from_environment
from example_server import ExampleServer

ROLES = "https://my-app.example.com/roles"
TIMEOUT = 10


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(audience="https://products.example.com", roles_claim=ROLES) as forged:
        yield forged


def server_config(issuer: ForgedIssuer, database: str) -> dict[str, Any]:
    return {**issuer.config(), "EXAMPLE_API_DATABASE": database}


@pytest.fixture(scope="module")
def server(issuer: ForgedIssuer, new_database: Callable[[], str]) -> Iterator[str]:
    """example_api under gunicorn (2 workers), once per module and database backend."""
    api = ExampleServer(issuer.config(), database=new_database())
    try:
        yield api.base
    finally:
        api.stop()


def auth(issuer: ForgedIssuer, role: str | None) -> dict[str, str]:
    if role is None:
        return {}
    return {"Authorization": f"Bearer {issuer.mint(roles=[role] if role else [])}"}


def create(base: str, issuer: ForgedIssuer, **fields: Any) -> dict[str, Any]:
    body = {"name": "Mug", "price": 9.5, **fields}
    response = requests.post(
        f"{base}/products", json=body, headers=auth(issuer, "editor"), timeout=TIMEOUT
    )
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


# -- the role matrix ------------------------------------------------------------------

MATRIX = [
    # method, path template, role, expected status
    ("GET", "/products", None, 401),
    ("GET", "/products", "", 403),
    ("GET", "/products", "viewer", 200),
    ("GET", "/products", "editor", 200),
    ("GET", "/products", "admin", 200),
    ("GET", "/products/{id}", None, 401),
    ("GET", "/products/{id}", "", 403),
    ("GET", "/products/{id}", "viewer", 200),
    ("GET", "/products/{id}", "admin", 200),
    ("POST", "/products", None, 401),
    ("POST", "/products", "viewer", 403),
    ("POST", "/products", "editor", 201),
    ("POST", "/products", "admin", 201),
    ("PUT", "/products/{id}", "viewer", 403),
    ("PUT", "/products/{id}", "editor", 200),
    ("PUT", "/products/{id}", "admin", 200),
    ("PATCH", "/products/{id}", "viewer", 403),
    ("PATCH", "/products/{id}", "editor", 200),
    ("PATCH", "/products/{id}", "admin", 200),
    ("DELETE", "/products/{id}", None, 401),
    ("DELETE", "/products/{id}", "viewer", 403),
    ("DELETE", "/products/{id}", "editor", 403),
    ("DELETE", "/products/{id}", "admin", 204),
    ("GET", "/me", None, 401),
    ("GET", "/me", "", 200),
    ("GET", "/health", None, 200),
]


@pytest.mark.parametrize(("method", "path", "role", "status"), MATRIX)
def test_role_matrix(
    server: str, issuer: ForgedIssuer, method: str, path: str, role: str | None, status: int
) -> None:
    product = create(server, issuer)
    body = {"name": "Teapot", "price": 20} if method in {"POST", "PUT", "PATCH"} else None
    response = requests.request(
        method,
        server + path.format(id=product["id"]),
        json=body,
        headers=auth(issuer, role),
        timeout=TIMEOUT,
    )
    assert response.status_code == status, response.text
    assert (
        response.headers.get("Content-Type", "application/json").startswith("application/json")
        or status == 204
    )


def test_authorization_is_decided_before_existence(server: str, issuer: ForgedIssuer) -> None:
    """A caller without the role gets 403, never a 404 that reveals what exists."""
    for method in ("PUT", "PATCH", "DELETE"):
        response = requests.request(
            method,
            f"{server}/products/999999",
            json={"name": "x", "price": 1},
            headers=auth(issuer, "viewer"),
            timeout=TIMEOUT,
        )
        assert response.status_code == 403
    missing = requests.get(
        f"{server}/products/999999", headers=auth(issuer, "viewer"), timeout=TIMEOUT
    )
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"


def test_authorization_before_body_parsing(server: str, issuer: ForgedIssuer) -> None:
    """An unauthorised caller learns nothing about body validation."""
    response = requests.post(
        f"{server}/products", data="not json", headers=auth(issuer, "viewer"), timeout=TIMEOUT
    )
    assert response.status_code == 403


def test_create_answers_201_with_location(server: str, issuer: ForgedIssuer) -> None:
    response = requests.post(
        f"{server}/products",
        json={"name": "  Lamp ", "price": 0, "description": "warm", "stock": 4},
        headers=auth(issuer, "admin"),
        timeout=TIMEOUT,
    )
    assert response.status_code == 201
    product = response.json()
    assert response.headers["Location"] == f"/products/{product['id']}"
    assert product["name"] == "Lamp"
    assert product["stock"] == 4
    assert product["created_at"] == product["updated_at"]
    fetched = requests.get(
        server + response.headers["Location"], headers=auth(issuer, "viewer"), timeout=TIMEOUT
    )
    assert fetched.json() == product


def test_put_replaces_and_patch_updates(server: str, issuer: ForgedIssuer) -> None:
    product = create(server, issuer, description="old", stock=5)
    url = f"{server}/products/{product['id']}"
    replaced = requests.put(
        url, json={"name": "New", "price": 1.25}, headers=auth(issuer, "editor"), timeout=TIMEOUT
    ).json()
    assert (replaced["name"], replaced["price"], replaced["description"], replaced["stock"]) == (
        "New",
        1.25,
        None,
        0,
    )
    patched = requests.patch(
        url, json={"stock": 7}, headers=auth(issuer, "editor"), timeout=TIMEOUT
    ).json()
    assert (patched["name"], patched["stock"]) == ("New", 7)


def test_me_reports_the_token(server: str, issuer: ForgedIssuer) -> None:
    token = issuer.mint(roles=["viewer"], scope="read:products", permissions=["read:products"])
    response = requests.get(
        f"{server}/me", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    assert response.json() == {
        "sub": "auth0|forged-user",
        "roles": ["viewer"],
        "scopes": ["read:products"],
        "permissions": ["read:products"],
    }


def test_pagination_is_capped(server: str, issuer: ForgedIssuer) -> None:
    for _ in range(3):
        create(server, issuer)
    headers = auth(issuer, "viewer")
    page = requests.get(
        f"{server}/products?limit=2&offset=1", headers=headers, timeout=TIMEOUT
    ).json()
    assert (page["limit"], page["offset"], len(page["items"])) == (2, 1, 2)
    assert page["total"] >= 3
    capped = requests.get(f"{server}/products?limit=100000", headers=headers, timeout=TIMEOUT)
    assert capped.json()["limit"] == 100
    for bad in ("limit=0", "limit=-1", "limit=abc", "offset=-5", "offset=1e3", "limit=%C2%B9"):
        response = requests.get(f"{server}/products?{bad}", headers=headers, timeout=TIMEOUT)
        assert response.status_code == 400, bad
        assert response.json()["error"] == "invalid_query"


# -- body validation ------------------------------------------------------------------

INVALID_BODIES = [
    ({}, {"name", "price"}),
    ({"name": "", "price": 1}, {"name"}),
    ({"name": "   ", "price": 1}, {"name"}),
    ({"name": "x" * 201, "price": 1}, {"name"}),
    ({"name": 5, "price": 1}, {"name"}),
    ({"name": "Mug", "price": -1}, {"price"}),
    ({"name": "Mug", "price": "9.5"}, {"price"}),
    ({"name": "Mug", "price": True}, {"price"}),
    ({"name": "Mug", "price": None}, {"price"}),
    ({"name": "Mug", "price": 10**30}, {"price"}),
    ({"name": "Mug", "price": 10**400}, {"price"}),
    ({"name": "Mug", "price": 1, "stock": -1}, {"stock"}),
    ({"name": "Mug", "price": 1, "stock": 1.5}, {"stock"}),
    ({"name": "Mug", "price": 1, "stock": False}, {"stock"}),
    ({"name": "Mug", "price": 1, "description": 3}, {"description"}),
    ({"name": "Mug", "price": 1, "id": 7}, {"id"}),
    ([1, 2], {"body"}),
]


@pytest.mark.parametrize(("body", "fields"), INVALID_BODIES)
def test_invalid_bodies_get_400_with_field_errors(
    server: str, issuer: ForgedIssuer, body: Any, fields: set[str]
) -> None:
    response = requests.post(
        f"{server}/products", json=body, headers=auth(issuer, "editor"), timeout=TIMEOUT
    )
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "invalid_body"
    assert set(payload["fields"]) == fields


def test_nan_and_infinity_prices_are_refused(server: str, issuer: ForgedIssuer) -> None:
    for literal in ("NaN", "Infinity", "-Infinity"):
        response = requests.post(
            f"{server}/products",
            data=f'{{"name": "Mug", "price": {literal}}}',
            headers={**auth(issuer, "editor"), "Content-Type": "application/json"},
            timeout=TIMEOUT,
        )
        assert response.status_code == 400, literal


def test_empty_patch_is_refused(server: str, issuer: ForgedIssuer) -> None:
    product = create(server, issuer)
    response = requests.patch(
        f"{server}/products/{product['id']}",
        json={},
        headers=auth(issuer, "editor"),
        timeout=TIMEOUT,
    )
    assert response.status_code == 400


def test_inputs_that_used_to_crash_are_400_over_http(server: str, issuer: ForgedIssuer) -> None:
    """A superscript digit in the query, a lone surrogate in a name, a deeply nested
    body: each a JSON 400 naming what is wrong, never a 500."""
    editor = {**auth(issuer, "editor"), "Content-Type": "application/json"}
    query = requests.get(
        f"{server}/products?limit=%C2%B9", headers=auth(issuer, "viewer"), timeout=TIMEOUT
    )
    surrogate = requests.post(
        f"{server}/products",
        data='{"name": "\\udc80", "price": 1}',
        headers=editor,
        timeout=TIMEOUT,
    )
    nested = requests.post(f"{server}/products", data="[" * 60_000, headers=editor, timeout=TIMEOUT)
    assert (query.status_code, query.json()) == (
        400,
        {"error": "invalid_query", "fields": {"limit": query.json()["fields"]["limit"]}},
    )
    assert surrogate.status_code == 400
    assert surrogate.json()["fields"] == {"name": "must be valid Unicode text (no lone surrogate)"}
    assert nested.status_code == 400
    assert list(nested.json()["fields"]) == ["body"]


# -- ETags and If-Match (RFC 9110 sections 8.8.3 and 13.1.1) -------------------------------


def conditional(
    method: str, url: str, headers: dict[str, str], if_match: str | None, **fields: Any
) -> requests.Response:
    send = dict(headers)
    if if_match is not None:
        send["If-Match"] = if_match
    return requests.request(method, url, json=fields or None, headers=send, timeout=TIMEOUT)


def test_every_product_answer_carries_a_strong_etag(server: str, issuer: ForgedIssuer) -> None:
    editor = auth(issuer, "editor")
    created = requests.post(
        f"{server}/products", json={"name": "Mug", "price": 1}, headers=editor, timeout=TIMEOUT
    )
    url = server + created.headers["Location"]
    read = requests.get(url, headers=auth(issuer, "viewer"), timeout=TIMEOUT)
    patched = requests.patch(url, json={"stock": 1}, headers=editor, timeout=TIMEOUT)
    replaced = requests.put(url, json={"name": "Cup", "price": 2}, headers=editor, timeout=TIMEOUT)
    again = requests.get(url, headers=auth(issuer, "viewer"), timeout=TIMEOUT)
    tags = [r.headers["ETag"] for r in (created, read, patched, replaced, again)]
    assert all(tag.startswith('"') and tag.endswith('"') for tag in tags)  # strong: no W/
    assert tags[0] == tags[1]
    assert len({tags[1], tags[2], tags[3]}) == 3  # every write changes it
    assert tags[3] == tags[4]


def test_if_match_guards_put_patch_and_delete(server: str, issuer: ForgedIssuer) -> None:
    editor, admin = auth(issuer, "editor"), auth(issuer, "admin")
    product = create(server, issuer, stock=5)
    url = f"{server}/products/{product['id']}"
    first = requests.get(url, headers=editor, timeout=TIMEOUT).headers["ETag"]
    changed = conditional("PATCH", url, editor, first, stock=4)
    assert changed.status_code == 200
    # Stale, weak, another product's: 412 JSON, and nothing written.
    for stale in (first, "W/" + changed.headers["ETag"], '"1.1"'):
        for method, headers, fields in (
            ("PATCH", editor, {"stock": 0}),
            ("PUT", editor, {"name": "Lost", "price": 0}),
            ("DELETE", admin, {}),
        ):
            refused = conditional(method, url, headers, stale, **fields)
            assert refused.status_code == 412, (method, stale, refused.text)
            assert refused.json()["error"] == "precondition_failed"
    current = requests.get(url, headers=editor, timeout=TIMEOUT)
    assert (current.json()["stock"], current.headers["ETag"]) == (4, changed.headers["ETag"])
    # A list holding the current tag, and "*", match.
    listed = conditional(
        "PUT", url, editor, f'"0.0", {current.headers["ETag"]}', name="Ok", price=1
    )
    assert listed.status_code == 200
    assert conditional("PATCH", url, editor, "*", stock=9).status_code == 200
    malformed = conditional("DELETE", url, admin, "not-a-tag")
    assert (malformed.status_code, malformed.json()["error"]) == (400, "invalid_header")
    latest = requests.get(url, headers=editor, timeout=TIMEOUT).headers["ETag"]
    assert conditional("DELETE", url, admin, latest).status_code == 204
    assert conditional("DELETE", url, admin, "*").status_code == 404


def test_writes_without_if_match_work_as_before(server: str, issuer: ForgedIssuer) -> None:
    product = create(server, issuer)
    url = f"{server}/products/{product['id']}"
    assert conditional("PATCH", url, auth(issuer, "editor"), None, stock=2).status_code == 200
    assert conditional("DELETE", url, auth(issuer, "admin"), None).status_code == 204


def test_authorization_comes_before_the_precondition(server: str, issuer: ForgedIssuer) -> None:
    product = create(server, issuer)
    url = f"{server}/products/{product['id']}"
    for method, role in (("PATCH", "viewer"), ("PUT", "viewer"), ("DELETE", "editor")):
        for if_match in ('"0.0"', "garbage"):
            response = conditional(method, url, auth(issuer, role), if_match, stock=1)
            assert response.status_code == 403, (method, if_match)


def test_two_editors_with_the_same_etag_exactly_one_wins(server: str, issuer: ForgedIssuer) -> None:
    """Editors who all read the same version and all write with its ETag, at the same
    moment, through several gunicorn workers: one 200, every other one 412, and the
    product holds the winner's write. Repeated for several rounds."""
    editors, rounds = 6, 8
    tokens = [auth(issuer, "editor") for _ in range(editors)]
    product = create(server, issuer)
    url = f"{server}/products/{product['id']}"
    for round_number in range(rounds):
        tag = requests.get(url, headers=tokens[0], timeout=TIMEOUT).headers["ETag"]
        barrier = threading.Barrier(editors, timeout=TIMEOUT)

        def edit(number: int, tag: str = tag, barrier: threading.Barrier = barrier) -> int:
            with requests.Session() as session:
                session.get(f"{server}/health", timeout=TIMEOUT)  # connect before the race
                barrier.wait()
                response = session.put(
                    url,
                    json={"name": f"editor-{number}", "price": 1},
                    headers={**tokens[number], "If-Match": tag},
                    timeout=TIMEOUT,
                )
                return response.status_code

        with ThreadPoolExecutor(max_workers=editors) as pool:
            statuses = list(pool.map(edit, range(editors)))
        assert sorted(statuses) == [200] + [412] * (editors - 1), (round_number, statuses)
        winner = statuses.index(200)
        final = requests.get(url, headers=tokens[0], timeout=TIMEOUT).json()
        assert final["name"] == f"editor-{winner}"


# -- JSON errors, never HTML -----------------------------------------------------------


def test_errors_are_json(server: str, issuer: ForgedIssuer) -> None:
    editor = auth(issuer, "editor")
    cases = [
        (requests.get(f"{server}/nowhere", timeout=TIMEOUT), 404, "not_found"),
        (requests.delete(f"{server}/health", timeout=TIMEOUT), 405, "method_not_allowed"),
        (
            requests.post(
                f"{server}/products",
                data='"' + "x" * 70_000 + '"',
                headers={**editor, "Content-Type": "application/json"},
                timeout=TIMEOUT,
            ),
            413,
            "payload_too_large",
        ),
        (
            requests.post(
                f"{server}/products",
                data="name=Mug",
                headers={**editor, "Content-Type": "application/x-www-form-urlencoded"},
                timeout=TIMEOUT,
            ),
            415,
            "unsupported_media_type",
        ),
        (
            requests.post(
                f"{server}/products",
                data="{bad json",
                headers={**editor, "Content-Type": "application/json"},
                timeout=TIMEOUT,
            ),
            400,
            "invalid_body",
        ),
    ]
    for response, status, error in cases:
        assert response.status_code == status
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json()["error"] == error
    assert "Allow" in cases[1][0].headers


def test_oversized_token_is_answered_by_claimguard_in_json(server: str) -> None:
    """gunicorn's header limits sit above claimguard's 8 KiB token cap, so the answer
    is claimguard's JSON 401, not the server's own refusal."""
    response = requests.get(
        f"{server}/products", headers={"Authorization": "Bearer " + "a" * 9000}, timeout=TIMEOUT
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


# -- persistence and concurrency ------------------------------------------------------


def test_data_survives_a_restart(issuer: ForgedIssuer, new_database: Callable[[], str]) -> None:
    config = server_config(issuer, new_database())
    first = ExampleServer(config, workers=1)
    try:
        product = create(first.base, issuer, name="Kept")
    finally:
        first.stop()
    second = ExampleServer(config, workers=1)
    try:
        response = requests.get(
            f"{second.base}/products/{product['id']}",
            headers=auth(issuer, "viewer"),
            timeout=TIMEOUT,
        )
    finally:
        second.stop()
    assert response.json() == product


def test_concurrent_writers_across_workers_lose_nothing(
    issuer: ForgedIssuer, new_database: Callable[[], str]
) -> None:
    writes = 200
    api = ExampleServer(server_config(issuer, new_database()), workers=3)
    editor = auth(issuer, "editor")

    def write(number: int) -> int:
        with requests.Session() as session:
            response = session.post(
                f"{api.base}/products",
                json={"name": f"item-{number}", "price": number},
                headers=editor,
                timeout=TIMEOUT,
            )
            return response.status_code

    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(write, range(writes)))
        listing = requests.get(
            f"{api.base}/products?limit=100", headers=auth(issuer, "viewer"), timeout=TIMEOUT
        ).json()
    finally:
        api.stop()
    assert statuses == [201] * writes
    assert listing["total"] == writes


# -- configuration --------------------------------------------------------------------


def test_create_app_without_issuer_refuses_to_start(
    new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No silent fallback to a development issuer."""
    for name in ("CLAIMGUARD_ISSUER", "CLAIMGUARD_DOMAIN", "CLAIMGUARD_JWKS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLAIMGUARD_AUDIENCE", "https://products.example.com")
    with pytest.raises(ConfigurationError, match="no issuer"):
        create_app({"EXAMPLE_API_DATABASE": new_database()})


def test_environment_parsing() -> None:
    config = from_environment(
        {
            "CLAIMGUARD_ISSUER": "https://a.example/, https://b.example/",
            "CLAIMGUARD_AUDIENCE": "https://api.example",
            "CLAIMGUARD_LEEWAY": "10",
            "CLAIMGUARD_HTTP_TIMEOUT": "2.5",
            "CLAIMGUARD_STRICT_TYP": "true",
            "EXAMPLE_API_DATABASE": "/tmp/x.sqlite3",
            "EXAMPLE_API_THREADS": "8",
        }
    )
    assert config["CLAIMGUARD_ISSUER"] == ["https://a.example/", "https://b.example/"]
    assert config["CLAIMGUARD_LEEWAY"] == 10
    assert config["CLAIMGUARD_HTTP_TIMEOUT"] == 2.5
    assert config["CLAIMGUARD_STRICT_TYP"] is True
    assert config["CLAIMGUARD_ROLES_CLAIM"] == [ROLES]
    assert config["EXAMPLE_API_DATABASE"] == "/tmp/x.sqlite3"
    assert config["EXAMPLE_API_DB_POOL_MAX"] == 9  # a connection per thread, plus one


def test_mapping_overrides_environment(
    issuer: ForgedIssuer, new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAIMGUARD_AUDIENCE", "https://from-env.example")
    app = create_app({**issuer.config(), "EXAMPLE_API_DATABASE": new_database()})
    app.extensions["example_api.store"].close()
    assert app.config["CLAIMGUARD_AUDIENCE"] == issuer.audience


def test_bad_environment_values_are_configuration_errors(
    issuer: ForgedIssuer, new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in issuer.config().items():
        monkeypatch.setenv(name, ",".join(value) if isinstance(value, list) else value)
    monkeypatch.setenv("CLAIMGUARD_LEEWAY", "soon")
    with pytest.raises(ConfigurationError, match="CLAIMGUARD_LEEWAY"):
        create_app({"EXAMPLE_API_DATABASE": new_database()})


def test_huge_ids_are_404_never_500(server: str, issuer: ForgedIssuer) -> None:
    """Ids beyond the databases' 64-bit integers do not match the route: a JSON 404."""
    response = requests.get(
        f"{server}/products/99999999999999999999999",
        headers=auth(issuer, "viewer"),
        timeout=TIMEOUT,
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
