"""Property-based fuzzing (hypothesis) of example_api's own inputs, in-process through
the Flask test client: query strings, JSON bodies, path ids and ``If-Match`` fields.

The property: whatever a caller with the right role sends, the answer is below 500 and
its body is JSON. The strategies lean on what broke before or could: odd Unicode (lone
surrogates, raw or as ``\\udXXX`` escapes in the JSON text; digits of other scripts;
controls), huge and non-finite numbers, deep nesting, wrong types and stray bytes.

``max_examples`` keeps the file within a few seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from claimguard.testing import ForgedIssuer
from example_api import create_app

from .attacks import bearer

FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# -- strategies -----------------------------------------------------------------------

#: Any code point, lone surrogates included (hypothesis leaves them out by default).
any_char = st.characters(codec=None, exclude_categories=())
odd_char = st.one_of(
    st.characters(categories=["Cs"]),  # lone surrogates
    st.characters(categories=["Nd", "No", "Nl"]),  # digits and numbers of every script
    st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Zs"]),  # controls, separators
    st.sampled_from("0123456789+-_.eE \t\x00\ufeff\ufffd"),
)
odd_text = st.text(st.one_of(any_char, odd_char), max_size=40)
huge_digits = st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n)
#: Strings of "digits" only, of any script: superscripts and circled digits pass
#: ``str.isdigit()`` and fail ``int()``; full-width and Arabic-Indic ones pass both.
#: Hypothesis favours low code points (ASCII digits), so the usual suspects are listed:
#: superscripts, circled and parenthesised digits, full-width, Arabic-Indic, Devanagari,
#: mathematical digits.
SUSPECT_DIGITS = (
    "\u00b2\u00b3\u00b9\u2070\u2074\u2081\u2460\u2474\u2488\u24ea"
    "\uff10\uff11\u0660\u0661\u06f1\u0967\U0001d7cf\U0001d7ec"
)
other_digits = st.text(
    st.sampled_from(SUSPECT_DIGITS)
    | st.characters(categories=["Nd", "No"]).filter(str.isdigit)
    | st.sampled_from("0123456789"),
    min_size=1,
    max_size=6,
)
numberish = st.one_of(
    other_digits,
    odd_text,
    huge_digits,
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.from_regex(r"[+-]?[0-9]{0,25}([.][0-9]{0,5})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
)


def percent_encoded(text: str) -> str:
    """``text`` as a query-string component; a lone surrogate becomes the bytes
    ``%ED%B2%80``, which are not UTF-8, exactly as a hostile client could send them."""
    return quote(text, safe="", errors="surrogatepass")


query_pair = st.tuples(st.sampled_from(["limit", "offset"]) | odd_text, numberish)
query_string = st.one_of(
    st.lists(query_pair, max_size=4).map(
        lambda pairs: "&".join(f"{percent_encoded(k)}={percent_encoded(v)}" for k, v in pairs)
    ),
    st.binary(max_size=60).map(lambda raw: quote(raw, safe="=&%")),
)

# JSON values, serialised by json.dumps: surrogates become "\udXXX" escapes in the text,
# NaN and infinities become the non-JSON literals.
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**1000), max_value=10**1000),
    st.floats(allow_nan=True, allow_infinity=True),
    odd_text,
)
json_value = st.recursive(
    json_scalar,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["name", "price", "description", "stock"]) | odd_text,
            children,
            max_size=5,
        )
    ),
    max_leaves=15,
)
product_like = st.fixed_dictionaries(
    {"name": json_value, "price": json_value},
    optional={"description": json_value, "stock": json_value, "": json_value},
)
valid_number = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(str),
    st.floats(min_value=0, max_value=1e6).map(repr),
)
raw_number = st.one_of(
    valid_number,
    st.sampled_from(["1e400", "-1e400", "1E-400", "NaN", "Infinity", "-0", "1" * 5000]),
    numberish,
)
# Pieces of a JSON string literal: \uXXXX escapes of lone surrogates and of any other
# character, a few chosen ones (a valid pair, NUL, a bidi override, tab, line feed), and
# plain characters (no raw control: that would make the text invalid JSON before any
# field is checked).
escape_piece = st.one_of(
    st.integers(min_value=0xD800, max_value=0xDFFF).map(lambda n: f"\\u{n:04x}"),
    st.integers(min_value=0x20, max_value=0xFFFF).map(lambda n: f"\\u{n:04x}"),
    st.sampled_from(["\\ud83d\\ude00", "\\u0000", "\\u202e", "\\t", "\\n"]),
    st.text(
        st.characters(codec="utf-8", exclude_characters='"\\', exclude_categories=["Cc"]),
        max_size=5,
    ),
)
raw_string = st.lists(escape_piece, max_size=8).map("".join)
broken_escape = st.sampled_from(["\\", "\\x", "\\u12", "\\udc8", "\\U0001f600"])


@st.composite
def product_template(draw: st.DrawFn) -> bytes:
    """A product body written as JSON text, its strings full of raw escapes (lone
    surrogates among them); mostly well-formed, so that the fields get checked."""
    name = draw(st.lists(escape_piece, min_size=1, max_size=8).map("".join))
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        name += draw(broken_escape)
    description = draw(st.just("null") | raw_string.map(lambda text: f'"{text}"'))
    # One number in four is odd; the others are valid, so that the strings get checked.
    odd_price, odd_stock = (draw(st.integers(min_value=0, max_value=3)) == 0 for _ in "ps")
    price = draw(raw_number if odd_price else valid_number)
    stock = draw(raw_number if odd_stock else st.integers(min_value=0, max_value=1000).map(str))
    text = f'{{"name": "{name}", "price": {price}, "description": {description}, "stock": {stock}}}'
    return text.encode("utf-8", "surrogatepass")


@st.composite
def nesting(draw: st.DrawFn) -> bytes:
    """Deep (up to 30 000 levels), closed or not."""
    depth = draw(st.integers(min_value=1, max_value=30_000))
    opener = draw(st.sampled_from(["[", '{"a":', '{"name":[']))
    closed = draw(st.booleans())
    return (opener * depth + ("1" + "]" * depth if closed and opener == "[" else "")).encode()


#: A body: a product template with raw escapes and number tokens (twice as likely as
#: the others), a serialised value, deep or broken nesting, odd text, or plain bytes.
json_text = st.one_of(
    product_template(),
    product_template(),
    st.one_of(product_like, json_value).map(lambda v: json.dumps(v, allow_nan=True).encode()),
    nesting(),
    odd_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=200),
)


latin1_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF) | st.sampled_from('\t",W/*'),
    max_size=40,
)
if_match = st.one_of(st.none(), latin1_text, st.sampled_from(["*", '"1.1"', 'W/"1.1"', ""]))
product_id = st.one_of(
    st.integers(min_value=0, max_value=10**25).map(str),
    st.integers(min_value=-5, max_value=5).map(str),
    odd_text.map(percent_encoded),
)


# -- the app --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_api(issuer: ForgedIssuer, new_database: Callable[[], str]) -> Flask:
    """The products API with a database of its own (SQLite, then PostgreSQL: the module
    runs once per backend), its key set loaded."""
    app = create_app({**issuer.config(), "EXAMPLE_API_DATABASE": new_database()})
    app.testing = False  # answer exceptions as the deployed app does (JSON 500)
    assert app.test_client().get("/me", headers=bearer(issuer.mint(roles=[]))).status_code == 200
    return app


@pytest.fixture(scope="module")
def admin(issuer: ForgedIssuer) -> dict[str, str]:
    return bearer(issuer.mint(roles=["admin"], expires_in=3600))


@pytest.fixture(scope="module")
def product_url(fuzz_api: Flask, admin: dict[str, str]) -> str:
    response = fuzz_api.test_client().post(
        "/products", json={"name": "Target", "price": 1}, headers=admin
    )
    assert response.status_code == 201
    location: str = response.headers["Location"]
    return location


def assert_json_below_500(response: TestResponse) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code != 204:
        assert response.mimetype == "application/json", response.get_data()
        body: Any = json.loads(response.get_data())
        assert isinstance(body, dict)


# -- the properties -------------------------------------------------------------------


@FUZZ
@given(query=query_string)
def test_list_query_strings(fuzz_api: Flask, admin: dict[str, str], query: str) -> None:
    response = fuzz_api.test_client().get("/products", query_string=query, headers=admin)
    assert_json_below_500(response)
    if response.status_code == 400:
        assert response.get_json()["error"] == "invalid_query"


@FUZZ
@given(body=json_text)
def test_create_bodies(fuzz_api: Flask, admin: dict[str, str], body: bytes) -> None:
    response = fuzz_api.test_client().post(
        "/products", data=body, headers={**admin, "Content-Type": "application/json"}
    )
    assert_json_below_500(response)
    assert response.status_code in (201, 400, 413)


@FUZZ
@given(method=st.sampled_from(["PUT", "PATCH"]), body=json_text, condition=if_match)
def test_update_bodies_and_preconditions(
    fuzz_api: Flask,
    admin: dict[str, str],
    product_url: str,
    method: str,
    body: bytes,
    condition: str | None,
) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    if condition is not None:
        headers["If-Match"] = condition
    response = fuzz_api.test_client().open(product_url, method=method, data=body, headers=headers)
    assert_json_below_500(response)
    assert response.status_code in (200, 400, 412, 413)


@FUZZ
@given(
    method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE"]),
    identifier=product_id,
    body=json_text,
    condition=if_match,
)
def test_path_ids(
    fuzz_api: Flask,
    admin: dict[str, str],
    method: str,
    identifier: str,
    body: bytes,
    condition: str | None,
) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    if condition is not None:
        headers["If-Match"] = condition
    # Digits are pushed far beyond the products created here, so that no request
    # changes or deletes one; the longest reach 19 digits and more.
    prefix = "999999999999" if identifier.isdigit() else ""
    path = f"/products/{prefix}{identifier}"
    response = fuzz_api.test_client().open(path, method=method, data=body, headers=headers)
    assert_json_below_500(response)
