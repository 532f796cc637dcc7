"""example_api's answers to malformed input, in-process (Flask test client): every case
is a JSON 4xx naming what is wrong, never a 500.

Query strings, JSON bodies (encoding, grammar, strings, numbers), path ids, ``If-Match``
fields, the schema migration that adds row versions, and the public readiness answer.
The same rules over real HTTP (ETags, the two-editor race) are in test_example_api.py.

Each test that stores products runs on SQLite and on PostgreSQL (the
``database_backend`` parameter of ``new_database``, tests/conftest.py): the database
behind the API must never change an answer, above all never turn a 400 into a 500.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from claimguard.testing import ForgedIssuer
from example_api import create_app

ROLES = "https://my-app.example.com/roles"
AUDIENCE = "https://products.example.com"
JSON = "application/json"


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(audience=AUDIENCE, roles_claim=ROLES) as forged:
        yield forged


def build(issuer: ForgedIssuer, database: str | Path) -> Flask:
    """The API on ``database``; close its store (:func:`close`) when done with it."""
    app = create_app({**issuer.config(), "EXAMPLE_API_DATABASE": str(database)})
    app.testing = False  # answer exceptions as the deployed app does (JSON 500)
    return app


def close(app: Flask) -> None:
    """Release the app's database connections (PostgreSQL keeps a pool)."""
    app.extensions["example_api.store"].close()


@pytest.fixture(scope="module")
def app(issuer: ForgedIssuer, new_database: Callable[[], str]) -> Iterator[Flask]:
    """The API for the module, once per database backend."""
    built = build(issuer, new_database())
    yield built
    close(built)


@pytest.fixture(scope="module")
def tokens(issuer: ForgedIssuer) -> dict[str, str]:
    return {role: issuer.mint(roles=[role]) for role in ("viewer", "editor", "admin")}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def auth(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def json_answer(response: TestResponse, status: int) -> dict[str, Any]:
    """The answer's JSON body, after checking its status and media type."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == JSON
    body: dict[str, Any] = response.get_json()
    return body


def post(
    client: FlaskClient,
    tokens: dict[str, str],
    data: str | bytes,
    content_type: str = JSON,
    **headers: str,
) -> TestResponse:
    return client.post(
        "/products",
        data=data,
        headers={**auth(tokens, "editor"), "Content-Type": content_type, **headers},
    )


def create(client: FlaskClient, tokens: dict[str, str], **fields: Any) -> TestResponse:
    response = post(client, tokens, json.dumps({"name": "Mug", "price": 9.5, **fields}))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response


# -- query strings --------------------------------------------------------------------

BAD_NUMBERS = [
    "\u00b9",  # superscript one: isdigit() but int() fails
    "\uff11",  # full-width one: int() accepts it
    "\u0661",  # Arabic-Indic one: int() accepts it
    "+1",
    "-0",
    "-1",
    " 1",
    "1 ",
    "\t1",
    "",
    "1_000",
    "0x10",
    "1e3",
    "1.0",
    "\x00",
    "1\x00",
    "9" * 19,
    "9" * 5000,
    "\ufffd",
    "abc",
]


@pytest.mark.parametrize("name", ["limit", "offset"])
@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_malformed_query_numbers_are_invalid_query(
    client: FlaskClient, tokens: dict[str, str], name: str, value: str
) -> None:
    response = client.get("/products", query_string={name: value}, headers=auth(tokens, "viewer"))
    body = json_answer(response, 400)
    assert body == {"error": "invalid_query", "fields": {name: body["fields"][name]}}


@pytest.mark.parametrize(
    "query",
    [
        "limit=%ED%B2%80",  # an encoded lone surrogate: not UTF-8
        "limit=%FF",
        "limit=%",
        "offset=%C2%B9",
        "limit=1&limit=2",
        "offset=0&offset=0",
    ],
)
def test_raw_query_strings_are_invalid_query(
    client: FlaskClient, tokens: dict[str, str], query: str
) -> None:
    response = client.get("/products", query_string=query, headers=auth(tokens, "viewer"))
    assert json_answer(response, 400)["error"] == "invalid_query"


def test_every_bad_query_parameter_is_reported(client: FlaskClient, tokens: dict[str, str]) -> None:
    response = client.get(
        "/products", query_string="limit=0&offset=-1", headers=auth(tokens, "viewer")
    )
    assert set(json_answer(response, 400)["fields"]) == {"limit", "offset"}


@pytest.mark.parametrize(
    ("query", "limit", "offset"),
    [
        ("limit=007", 7, 0),
        ("limit=100000", 100, 0),
        ("limit=999999999999999999", 100, 0),
        ("offset=999999999999999999", 20, 999999999999999999),
        ("unknown=%FF", 20, 0),
    ],
)
def test_well_formed_query_numbers(
    client: FlaskClient, tokens: dict[str, str], query: str, limit: int, offset: int
) -> None:
    response = client.get("/products", query_string=query, headers=auth(tokens, "viewer"))
    body = json_answer(response, 200)
    assert (body["limit"], body["offset"]) == (limit, offset)


# -- the body: bytes, encoding, JSON grammar ------------------------------------------

MALFORMED_BODIES: list[tuple[str, bytes]] = [
    ("deep arrays", b"[" * 60_000),
    ("deep objects", b'{"a":' * 12_000),
    ("deep inside a field", b'{"name": "Mug", "price": 1, "x": ' + b"[" * 30_000),
    ("not UTF-8", b'{"name": "caf\xe9", "price": 1}'),
    ("encoded surrogate", b'{"name": "\xed\xb2\x80", "price": 1}'),
    ("UTF-8 BOM", b'\xef\xbb\xbf{"name": "Mug", "price": 1}'),
    ("UTF-16 with BOM", '{"name": "Mug", "price": 1}'.encode("utf-16")),
    ("UTF-16 without BOM", '{"name": "Mug", "price": 1}'.encode("utf-16-le")),
    ("UTF-32 with BOM", '{"name": "Mug", "price": 1}'.encode("utf-32")),
    ("empty", b""),
    ("truncated", b'{"name": "Mug", "price": '),
    ("trailing data", b'{"name": "Mug", "price": 1} {}'),
    ("NaN", b'{"name": "Mug", "price": NaN}'),
    ("Infinity", b'{"name": "Mug", "price": Infinity}'),
    ("-Infinity", b'{"name": "Mug", "price": -Infinity}'),
    ("NaN elsewhere", b'{"name": "Mug", "price": 1, "x": [NaN]}'),
    ("5000-digit integer", b'{"name": "Mug", "price": ' + b"9" * 5000 + b"}"),
    ("single quotes", b"{'name': 'Mug', 'price': 1}"),
    ("NUL byte", b'{"name": "Mug", "price": 1}\x00'),
    ("raw control in string", b'{"name": "M\x01ug", "price": 1}'),
]


@pytest.mark.parametrize(
    "data", [body for _, body in MALFORMED_BODIES], ids=[name for name, _ in MALFORMED_BODIES]
)
def test_malformed_bodies_are_invalid_body(
    client: FlaskClient, tokens: dict[str, str], data: bytes
) -> None:
    body = json_answer(post(client, tokens, data), 400)
    assert body == {"error": "invalid_body", "fields": {"body": body["fields"]["body"]}}


@pytest.mark.parametrize("data", ["null", "1", '"Mug"', "[]", "true", '[{"name": "Mug"}]'])
def test_a_body_that_is_not_an_object_is_refused(
    client: FlaskClient, tokens: dict[str, str], data: str
) -> None:
    body = json_answer(post(client, tokens, data), 400)
    assert body == {"error": "invalid_body", "fields": {"body": "must be a JSON object"}}


def test_duplicate_names_are_refused(client: FlaskClient, tokens: dict[str, str]) -> None:
    """Which duplicate wins differs between JSON parsers (RFC 8259 section 4)."""
    body = json_answer(post(client, tokens, '{"name": "Mug", "price": 1, "price": -1}'), 400)
    assert body == {"error": "invalid_body", "fields": {"price": "appears more than once"}}
    nested = post(client, tokens, '{"name": "Mug", "price": 1, "x": {"a": 1, "a": 2}}')
    assert json_answer(nested, 400)["fields"] == {"a": "appears more than once"}


@pytest.mark.parametrize(
    ("content_type", "headers"),
    [
        ("application/json; charset=latin-1", {}),
        ("application/json; charset=utf-16", {}),
        ("application/json", {"Content-Encoding": "gzip"}),
        ("text/plain", {}),
        ("application/x-www-form-urlencoded", {}),
    ],
)
def test_other_media_types_charsets_and_codings_are_415(
    client: FlaskClient, tokens: dict[str, str], content_type: str, headers: dict[str, str]
) -> None:
    response = post(client, tokens, '{"name": "Mug", "price": 1}', content_type, **headers)
    assert json_answer(response, 415)["error"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "application/json; charset=UTF-8", "application/json"],
)
def test_utf8_charset_is_accepted(
    client: FlaskClient, tokens: dict[str, str], content_type: str
) -> None:
    response = post(client, tokens, '{"name": "Caf\u00e9", "price": 1}'.encode(), content_type)
    assert json_answer(response, 201)["name"] == "Caf\u00e9"


# -- the body: fields -----------------------------------------------------------------

# Raw JSON texts: ``\\udc80`` is the JSON escape of a lone surrogate.
BAD_FIELDS = [
    ('{"name": "\\udc80", "price": 1}', "name"),
    ('{"name": "Mug\\ud800", "price": 1}', "name"),
    ('{"name": "\\udfff\\ud800", "price": 1}', "name"),
    ('{"name": "Mug", "price": 1, "description": "\\udc80"}', "description"),
    ('{"name": "M\\u0000ug", "price": 1}', "name"),
    ('{"name": "M\\u001fug", "price": 1}', "name"),
    ('{"name": "M\\u007fug", "price": 1}', "name"),
    ('{"name": "M\\u0085ug", "price": 1}', "name"),
    ('{"name": "Mug\\u000a", "price": 1}', "name"),
    ('{"name": "M\\tug", "price": 1}', "name"),
    ('{"name": "M\\u2028ug", "price": 1}', "name"),
    ('{"name": "\\u202egum", "price": 1}', "name"),
    ('{"name": "a\\u2066b", "price": 1}', "name"),
    ('{"name": "Mug", "price": 1, "description": "a\\u0000b"}', "description"),
    ('{"name": "Mug", "price": 1, "description": "bell\\u0007"}', "description"),
    ('{"name": "Mug", "price": 1, "description": "\\u007f"}', "description"),
    ('{"name": "Mug", "price": 1e400}', "price"),
    ('{"name": "Mug", "price": -1e400}', "price"),
    ('{"name": "Mug", "price": 1e16}', "price"),
    ('{"name": "Mug", "price": -0.0001}', "price"),
    ('{"name": "Mug", "price": 1, "stock": ' + "1" + "0" * 400 + "}", "stock"),
    ('{"name": "Mug", "price": 1, "stock": 1e400}', "stock"),
    ('{"name": "Mug", "price": 1, "stock": -0.0}', "stock"),
    ('{"name": ["Mug"], "price": 1}', "name"),
    ('{"name": {"a": 1}, "price": 1}', "name"),
    ('{"name": "Mug", "price": [1]}', "price"),
    ('{"name": "Mug", "price": 1, "description": {}}', "description"),
]


@pytest.mark.parametrize(("data", "field"), BAD_FIELDS)
def test_bad_field_values_are_named(
    client: FlaskClient, tokens: dict[str, str], data: str, field: str
) -> None:
    body = json_answer(post(client, tokens, data), 400)
    assert body["error"] == "invalid_body"
    assert set(body["fields"]) == {field}


@pytest.mark.parametrize(
    ("data", "name", "description"),
    [
        ('{"name": "\\ud83d\\ude00 mug", "price": 1}', "\U0001f600 mug", None),
        ('{"name": "\\u0645\\u0642", "price": 1}', "\u0645\u0642", None),
        ('{"name": "a\\u200db", "price": 1}', "a\u200db", None),
        ('{"name": "Mug", "price": 1, "description": "a\\tb\\r\\nc"}', "Mug", "a\tb\r\nc"),
    ],
)
def test_valid_unicode_text_is_stored(
    client: FlaskClient, tokens: dict[str, str], data: str, name: str, description: str | None
) -> None:
    """A surrogate *pair* is one scalar (an emoji); joiners and other scripts are fine."""
    product = json_answer(post(client, tokens, data), 201)
    assert (product["name"], product["description"]) == (name, description)


def test_a_negative_zero_price_reads_back_as_zero(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    """``-0.0`` is a valid price (not below 0); SQLite drops the sign of a stored zero
    and PostgreSQL keeps it, so the store drops it for both: ``0.0`` in every answer."""
    created = json_answer(post(client, tokens, '{"name": "Mug", "price": -0.0}'), 201)
    assert repr(created["price"]) == "0.0"
    fetched = client.get(f"/products/{created['id']}", headers=auth(tokens, "viewer"))
    assert repr(json_answer(fetched, 200)["price"]) == "0.0"


def test_unknown_field_names_are_cut_cleaned_and_capped(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    members = {f"x{n}": n for n in range(40)}
    members["y" * 10_000] = 1
    data = json.dumps({"name": "Mug", "price": 1, **members})
    fields = json_answer(post(client, tokens, data), 400)["fields"]
    assert len(fields) == 11
    assert fields["body"] == "has 41 unknown fields"
    assert all(len(name) <= 50 for name in fields)
    odd = json_answer(post(client, tokens, '{"name": "Mug", "price": 1, "\\udc80\\u0000": 1}'), 400)
    assert odd["fields"] == {"\ufffd\ufffd": "unknown field"}


# -- path ids -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/products/-1",
        "/products/99999999999999999999",
        "/products/99999999999999999999999",
        "/products/" + "9" * 5000,
        "/products/%D9%A1",  # Arabic-Indic one
        "/products/%EF%BC%91",  # full-width one
        "/products/%C2%B9",  # superscript one
        "/products/1.0",
        "/products/%2B1",
    ],
)
def test_malformed_ids_are_404(client: FlaskClient, tokens: dict[str, str], path: str) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = client.open(path, method=method, headers=auth(tokens, "admin"))
        assert json_answer(response, 404)["error"] == "not_found"


@pytest.mark.parametrize(
    "zero",
    [
        "\u0660",  # Arabic-Indic
        "\u06f0",  # extended Arabic-Indic
        "\u0966",  # Devanagari
        "\uff10",  # full-width
        "\U0001d7ce",  # mathematical bold
    ],
)
def test_an_existing_id_in_other_digits_is_404(
    client: FlaskClient, tokens: dict[str, str], zero: str
) -> None:
    """``int()`` reads every script's digits: ``/products/<id in Arabic-Indic>`` must not
    reach the product (one resource, one URL; and no path filter in front of the API
    expects it)."""
    url, _ = product_with_etag(client, tokens)
    ascii_id = url.rsplit("/", 1)[1]
    other = "".join(chr(ord(zero) + int(digit)) for digit in ascii_id)
    assert client.get(url, headers=auth(tokens, "viewer")).status_code == 200
    for method in ("GET", "PATCH", "DELETE"):
        response = client.open(
            "/products/" + quote(other), method=method, json={}, headers=auth(tokens, "admin")
        )
        json_answer(response, 404)
    assert client.get(url, headers=auth(tokens, "viewer")).status_code == 200


@pytest.mark.parametrize(
    "product_id", ["0", "000", "9223372036854775807", "9223372036854775808", "9" * 19]
)
def test_ids_no_product_can_have_are_checked_after_authorization(
    client: FlaskClient, tokens: dict[str, str], product_id: str
) -> None:
    """Ids of 1-19 ASCII digits reach the view: 403 for a caller without the role, then
    404 for every method (never a 405, and never a 500 for ids beyond 64-bit integers,
    which SQLite cannot bind and PostgreSQL's bigint cannot hold)."""
    path = f"/products/{product_id}"
    assert client.delete(path, headers=auth(tokens, "viewer")).status_code == 403
    assert client.put(path, json={}, headers=auth(tokens, "viewer")).status_code == 403
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = client.open(path, method=method, json={}, headers=auth(tokens, "admin"))
        json_answer(response, 404)


# -- If-Match -------------------------------------------------------------------------


def product_with_etag(client: FlaskClient, tokens: dict[str, str]) -> tuple[str, str]:
    created = create(client, tokens)
    return created.headers["Location"], created.headers["ETag"]


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "12.1",
        '"a" "b"',
        '*, "1.1"',
        "*, *",
        '"a',
        'w/"1.1"',
        'W/ "1.1"',
        '"a b"',
        '"a""b"',
        '"\x7f"',
    ],
)
def test_malformed_if_match_is_400_and_writes_nothing(
    client: FlaskClient, tokens: dict[str, str], value: str
) -> None:
    url, tag = product_with_etag(client, tokens)
    for method in ("PATCH", "DELETE"):
        response = client.open(
            url,
            method=method,
            json={"stock": 1} if method == "PATCH" else None,
            headers={**auth(tokens, "admin"), "If-Match": value},
        )
        body = json_answer(response, 400)
        assert body["error"] == "invalid_header"
        assert list(body["fields"]) == ["If-Match"]
    assert client.get(url, headers=auth(tokens, "viewer")).headers["ETag"] == tag


def test_if_match_lists_stars_and_weak_tags(client: FlaskClient, tokens: dict[str, str]) -> None:
    url, tag = product_with_etag(client, tokens)
    editor = auth(tokens, "editor")

    def patch(if_match: str | list[str]) -> TestResponse:
        headers: list[tuple[str, str]] = list(editor.items())
        for value in [if_match] if isinstance(if_match, str) else if_match:
            headers.append(("If-Match", value))
        return client.patch(url, json={"stock": 2}, headers=headers)

    weak = json_answer(patch("W/" + tag), 412)
    assert weak["error"] == "precondition_failed"
    json_answer(patch(""), 412)  # an empty list: nothing matches
    json_answer(patch(" , ,"), 412)
    json_answer(patch('"other", W/' + tag), 412)
    tag = patch(f' "other" ,,{tag} , "x,y"').headers["ETag"]  # a list holding it
    tag = patch(['"other"', tag]).headers["ETag"]  # two field lines are one list
    tag = patch("*").headers["ETag"]
    assert json_answer(patch(" * "), 200)["stock"] == 2


def test_a_tag_of_another_product_does_not_match(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    _, first_tag = product_with_etag(client, tokens)
    second_url, _ = product_with_etag(client, tokens)
    response = client.patch(
        second_url, json={"stock": 3}, headers={**auth(tokens, "editor"), "If-Match": first_tag}
    )
    json_answer(response, 412)


def test_precondition_comes_after_authorization_and_existence_before_the_body(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    """403 before anything; 404 before 412; 412 before the body is read
    (RFC 9110 section 13.2.1)."""
    url, _ = product_with_etag(client, tokens)
    stale = {"If-Match": '"0.0"', "Content-Type": JSON}
    viewer = client.put(url, data="{bad", headers={**auth(tokens, "viewer"), **stale})
    assert viewer.status_code == 403
    missing = client.put(
        "/products/999999", data="{bad", headers={**auth(tokens, "editor"), **stale}
    )
    json_answer(missing, 404)
    star = client.put(
        "/products/999999", json={}, headers={**auth(tokens, "admin"), "If-Match": "*"}
    )
    json_answer(star, 404)
    json_answer(client.put(url, data="{bad", headers={**auth(tokens, "editor"), **stale}), 412)
    json_answer(client.delete("/products/999999", headers={**auth(tokens, "admin"), **stale}), 404)


def test_etag_is_never_built_from_request_bytes(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    url, tag = product_with_etag(client, tokens)
    product_id = url.rsplit("/", 1)[1]
    assert tag == f'"{product_id}.1"'
    response = client.get(url, headers={**auth(tokens, "viewer"), "If-Match": '"x\x80y"'})
    assert response.headers["ETag"] == tag


# -- schema migration -----------------------------------------------------------------

OLD_SCHEMA = """
CREATE TABLE products (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    price       REAL    NOT NULL CHECK (price >= 0),
    description TEXT,
    stock       INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
)
"""


def test_a_database_without_versions_is_migrated(
    issuer: ForgedIssuer, tokens: dict[str, str], tmp_path: Path
) -> None:
    """``make demo`` reuses its database file: rows made before versions existed get
    version 1, and starting twice (two workers) migrates once. SQLite only: no
    PostgreSQL database was ever made without versions."""
    database = tmp_path / "old.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute(OLD_SCHEMA)
        connection.execute(
            "INSERT INTO products (name, price, description, stock, created_at, updated_at)"
            " VALUES ('Old', 1.5, NULL, 2, '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z')"
        )
    connection.close()
    build(issuer, database)
    client = build(issuer, database).test_client()
    old = client.get("/products/1", headers=auth(tokens, "viewer"))
    assert json_answer(old, 200)["name"] == "Old"
    assert old.headers["ETag"] == '"1.1"'
    patched = client.patch(
        "/products/1", json={"stock": 3}, headers={**auth(tokens, "editor"), "If-Match": '"1.1"'}
    )
    assert json_answer(patched, 200)["stock"] == 3
    assert patched.headers["ETag"] == '"1.2"'
    assert "version" not in patched.get_json()


# -- readiness ------------------------------------------------------------------------


def test_readiness_answers_status_only(client: FlaskClient, issuer: ForgedIssuer) -> None:
    client.get("/me", headers={"Authorization": f"Bearer {issuer.mint(roles=[])}"})
    response = client.get("/health/ready")
    body = json_answer(response, 200)
    assert body == {"status": "ready", "issuers": [{"loaded": True, "fresh": True}]}
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert "127.0.0.1" not in text
    assert "pid" not in text


def test_not_ready_details_go_to_the_log_once_per_interval(
    new_database: Callable[[], str], caplog: pytest.LogCaptureFixture
) -> None:
    with ForgedIssuer(audience=AUDIENCE, roles_claim=ROLES) as down, down.outage():
        app = build(down, new_database())
        client = app.test_client()
        with caplog.at_level(logging.WARNING, logger="example_api"):
            answers = [client.get("/health/ready") for _ in range(5)]
        records = [r for r in caplog.records if r.name == "example_api"]
        for answer in answers:
            body = json_answer(answer, 503)
            assert body == {"status": "not_ready", "issuers": [{"loaded": False, "fresh": False}]}
            assert down.base_url not in answer.get_data(as_text=True)
        assert len(records) == 1, [r.getMessage() for r in records]
        message = records[0].getMessage()
        assert records[0].levelno == logging.WARNING
        assert "not ready" in message
        assert down.issuer in message
        close(app)
