"""HTTP-layer attacks on the ``Authorization`` header (RFC 6750 §2.1): several
credentials, tokens in the query or the body, odd white space and bytes, scheme case,
other schemes, CORS preflight spoofing, and the size limits on both sides of gunicorn's.

In-process cases use Flask's test client; where the bytes on the wire matter (repeated
fields, line folding, bare CR/LF, non-ASCII, sizes) the request goes as raw bytes to
example_api under gunicorn with its real configuration.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from claimguard.bearer import MAX_TOKEN_BYTES
from claimguard.testing import ForgedIssuer
from example_server import ExampleServer

from .attacks import HEADER_MALFORMED
from .attacks import NO_TOKEN
from .attacks import SEVERAL
from .attacks import TOO_LARGE
from .attacks import TWO_WAYS
from .attacks import Answer
from .attacks import bearer
from .attacks import check_refusal
from .attacks import http_request
from .attacks import raw_http
from .attacks import sized_token


@pytest.fixture(scope="module")
def viewer(issuer: ForgedIssuer) -> str:
    return issuer.mint(roles=["viewer"])


# -- several credentials ---------------------------------------------------------------

SEVERAL_FIELDS: dict[str, list[str]] = {
    "same-token-twice": ["Bearer {t}", "Bearer {t}"],
    "valid-then-garbage": ["Bearer {t}", "Bearer garbage"],
    "garbage-then-valid": ["Bearer garbage", "Bearer {t}"],
    "bearer-then-basic": ["Bearer {t}", "Basic dXNlcjpwYXNz"],
    "basic-then-bearer": ["Basic dXNlcjpwYXNz", "Bearer {t}"],
    "bearer-then-empty": ["Bearer {t}", ""],
}


@pytest.mark.parametrize("case", list(SEVERAL_FIELDS))
def test_several_authorization_fields(client: FlaskClient, viewer: str, case: str) -> None:
    headers = [("Authorization", value.format(t=viewer)) for value in SEVERAL_FIELDS[case]]
    check_refusal(client.get("/me", headers=headers), 400, "invalid_request", SEVERAL)


COMMA_JOINED = {
    "two-bearers": "Bearer {t}, Bearer {t}",
    "trailing-comma": "Bearer {t},",
    "leading-comma": ", Bearer {t}",
    "basic-then-bearer": "Basic dXNlcjpwYXNz, Bearer {t}",
    "bearer-then-auth-param": "Bearer {t}, realm=api",
}


@pytest.mark.parametrize("case", list(COMMA_JOINED))
def test_comma_joined_credentials(client: FlaskClient, viewer: str, case: str) -> None:
    headers = {"Authorization": COMMA_JOINED[case].format(t=viewer)}
    check_refusal(client.get("/me", headers=headers), 400, "invalid_request", SEVERAL)


def test_two_other_schemes_comma_joined_are_no_credentials(client: FlaskClient) -> None:
    headers = {"Authorization": "Basic dXNlcjpwYXNz, Negotiate abc"}
    check_refusal(client.get("/me", headers=headers), 401, None)


# -- where the token travels -------------------------------------------------------------

QUERY_AND_HEADER = {
    "same-token": "access_token={t}",
    "empty-query-value": "access_token=",
    "percent-encoded-underscore": "access%5Ftoken={t}",
    "percent-encoded-first-letter": "%61ccess_token={t}",
    "name-only": "access_token",
    "repeated-query": "access_token={t}&access_token={t}",
}


@pytest.mark.parametrize("case", list(QUERY_AND_HEADER))
def test_token_in_query_and_header(client: FlaskClient, viewer: str, case: str) -> None:
    """RFC 6750 §2: clients MUST NOT use more than one method: an ambiguous request."""
    query = QUERY_AND_HEADER[case].format(t=viewer)
    response = client.get("/me?" + query, headers=bearer(viewer))
    check_refusal(response, 400, "invalid_request", TWO_WAYS)


def test_token_only_in_query(client: FlaskClient, viewer: str) -> None:
    """A query token is never read (it leaks into logs and Referer): no credentials."""
    check_refusal(client.get("/me", query_string={"access_token": viewer}), 401, None)


def test_token_only_in_a_form_body(client: FlaskClient, issuer: ForgedIssuer) -> None:
    """RFC 6750 §2.2 form-encoded body tokens are not supported; the body is not read."""
    editor = issuer.mint(roles=["editor"])
    response = client.post("/products", data={"access_token": editor, "name": "x", "price": "1"})
    check_refusal(response, 401, None)


def test_token_only_in_a_json_body(client: FlaskClient, issuer: ForgedIssuer) -> None:
    editor = issuer.mint(roles=["editor"])
    response = client.post("/products", json={"access_token": editor, "name": "x", "price": 1})
    check_refusal(response, 401, None)


OTHER_CARRIERS = {
    "cookie": ("Cookie", "access_token={t}"),
    "proxy-authorization": ("Proxy-Authorization", "Bearer {t}"),
    "x-access-token": ("X-Access-Token", "{t}"),
    "x-forwarded-authorization": ("X-Forwarded-Authorization", "Bearer {t}"),
}


@pytest.mark.parametrize("case", list(OTHER_CARRIERS))
def test_token_in_another_header(client: FlaskClient, viewer: str, case: str) -> None:
    name, value = OTHER_CARRIERS[case]
    check_refusal(client.get("/me", headers={name: value.format(t=viewer)}), 401, None)


# -- white space, bytes, scheme ------------------------------------------------------------

ACCEPTED_FORMS = {
    "double-space": "Bearer  {t}",
    "ten-spaces": "Bearer          {t}",
    "lowercase-scheme": "bearer {t}",
    "uppercase-scheme": "BEARER {t}",
    "mixed-case-scheme": "bEaReR {t}",
    "surrounding-white-space": " \tBearer {t}\t ",
}


@pytest.mark.parametrize("case", list(ACCEPTED_FORMS))
def test_accepted_header_forms(client: FlaskClient, viewer: str, case: str) -> None:
    """RFC 6750 §2.1 "Bearer" 1*SP b64token; RFC 9110 §11.1: the scheme is
    case-insensitive; RFC 9110 §5.5: OWS around the field value is not part of it."""
    headers = {"Authorization": ACCEPTED_FORMS[case].format(t=viewer)}
    assert client.get("/me", headers=headers).status_code == 200


MALFORMED_FORMS = {
    "tab-separator": ("Bearer\t{t}", HEADER_MALFORMED),
    "space-then-tab": ("Bearer \t{t}", HEADER_MALFORMED),
    "no-break-space": ("Bearer\xa0{t}", HEADER_MALFORMED),
    "non-ascii-in-token": ("Bearer {t}\xe9", HEADER_MALFORMED),
    "glued-slash": ("Bearer/{t}", HEADER_MALFORMED),
    "glued-equals": ("Bearer={t}", HEADER_MALFORMED),
    "quoted-token": ('Bearer "{t}"', HEADER_MALFORMED),
    "auth-param-form": ('Bearer token="{t}"', HEADER_MALFORMED),
    "extra-part": ("Bearer {t} extra", HEADER_MALFORMED),
    "scheme-only": ("Bearer", NO_TOKEN),
    "scheme-and-spaces": ("Bearer    ", NO_TOKEN),
}


@pytest.mark.parametrize("case", list(MALFORMED_FORMS))
def test_malformed_header_forms(client: FlaskClient, viewer: str, case: str) -> None:
    value, description = MALFORMED_FORMS[case]
    response = client.get("/me", headers={"Authorization": value.format(t=viewer)})
    check_refusal(response, 400, "invalid_request", description)


NO_CREDENTIALS = {
    "basic": "Basic dXNlcjpwYXNz",
    "dpop-with-a-valid-token": "DPoP {t}",
    "token-without-scheme": "{t}",
    "scheme-glued-to-token": "Bearer{t}",
    "empty": "",
    "white-space-only": " \t ",
}


@pytest.mark.parametrize("case", list(NO_CREDENTIALS))
def test_no_bearer_credentials(client: FlaskClient, viewer: str, case: str) -> None:
    """RFC 6750 §3.1: no error code when there is no bearer authentication at all."""
    headers = {"Authorization": NO_CREDENTIALS[case].format(t=viewer)}
    check_refusal(client.get("/me", headers=headers), 401, None)


# -- CORS preflight spoofing ---------------------------------------------------------------


def test_spoofed_preflight_never_runs_the_view(client: FlaskClient, issuer: ForgedIssuer) -> None:
    """An OPTIONS with Origin and Access-Control-Request-Method passes without a token
    , but only as Flask's default OPTIONS answer: the delete never runs."""
    created = client.post(
        "/products",
        json={"name": "Kept", "price": 1},
        headers=bearer(issuer.mint(roles=["editor"])),
    )
    assert created.status_code == 201
    path = f"/products/{created.get_json()['id']}"
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"}
    response = client.options(path, headers=preflight)
    assert response.status_code == 200
    assert "DELETE" in response.headers["Allow"]
    viewer = bearer(issuer.mint(roles=["viewer"]))
    assert client.get(path, headers=viewer).status_code == 200  # still there


def test_plain_options_is_authenticated(client: FlaskClient, issuer: ForgedIssuer) -> None:
    """An OPTIONS that is not a CORS preflight is authenticated like every
    other method; with a token it gets only Flask's default answer (``Allow``)."""
    anonymous = client.options("/products/1", headers={"Origin": "https://evil.example"})
    check_refusal(anonymous, 401, None)
    response = client.options("/products/1", headers=bearer(issuer.mint(roles=["viewer"])))
    assert response.status_code == 200
    assert response.get_data() == b""
    assert "DELETE" in response.headers["Allow"]
    assert set(response.headers.keys()) <= {"Allow", "Content-Type", "Content-Length"}


def test_head_without_a_token(client: FlaskClient) -> None:
    response = client.head("/products")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


# -- the same, as bytes on the wire to gunicorn ------------------------------------------


def _server_refused(got: Answer) -> None:
    """The HTTP server itself refused the request: a 4xx, never a 5xx, never the app."""
    assert 400 <= got.status < 500, got.head
    assert got.header("WWW-Authenticate") is None


def _wire(token: str) -> dict[str, bytes]:
    t = token.encode()
    return {
        "two-fields": b"Authorization: Bearer " + t + b"\r\nAuthorization: Bearer " + t + b"\r\n",
        "two-fields-differing-case": b"Authorization: Bearer " + t + b"\r\nauthorization: x\r\n",
        "tab": b"Authorization: Bearer\t" + t + b"\r\n",
        "double-space": b"Authorization: Bearer  " + t + b"\r\n",
        "lowercase-name-and-scheme": b"authorization: bearer " + t + b"\r\n",
        "utf8-bytes": b"Authorization: Bearer " + t + b"\xc3\xa9\r\n",
        "latin1-nbsp": b"Authorization: Bearer\xa0" + t + b"\r\n",
        "obs-fold-before-token": b"Authorization: Bearer\r\n " + t + b"\r\n",
        "obs-fold-after-token": b"Authorization: Bearer " + t + b"\r\n\tBearer " + t + b"\r\n",
        "bare-cr": b"Authorization: Bearer " + t + b"\rX-Injected: 1\r\n",
        "bare-lf": b"Authorization: Bearer " + t + b"\nX-Injected: 1\r\n",
        "nul": b"Authorization: Bearer " + t + b"\x00\r\n",
        "space-before-colon": b"Authorization : Bearer " + t + b"\r\n",
    }


WIRE_EXPECTED: dict[str, tuple[int, str | None, str | None]] = {
    # case: (status, error, description); status 0 = refused by gunicorn itself
    "two-fields": (400, "invalid_request", SEVERAL),
    "two-fields-differing-case": (400, "invalid_request", SEVERAL),
    "tab": (400, "invalid_request", HEADER_MALFORMED),
    "double-space": (200, None, None),
    "lowercase-name-and-scheme": (200, None, None),
    "utf8-bytes": (400, "invalid_request", HEADER_MALFORMED),
    "latin1-nbsp": (400, "invalid_request", HEADER_MALFORMED),
    "obs-fold-before-token": (0, None, None),
    "obs-fold-after-token": (0, None, None),
    "bare-cr": (0, None, None),
    "bare-lf": (0, None, None),
    "nul": (0, None, None),
    "space-before-colon": (0, None, None),
}


@pytest.mark.parametrize("case", list(WIRE_EXPECTED))
def test_header_bytes_on_the_wire(gunicorn_api: ExampleServer, viewer: str, case: str) -> None:
    got = raw_http(gunicorn_api.port, http_request("/me", _wire(viewer)[case]))
    status, error, description = WIRE_EXPECTED[case]
    if status == 0:
        _server_refused(got)
    elif status == 200:
        assert got.status == 200, got.body
        assert got.json()["roles"] == ["viewer"]
    else:
        check_refusal(got, status, error, description)
    assert b"X-Injected" not in got.head


def _size_request(issuer: ForgedIssuer, case: str) -> bytes:
    if case == "token-8192-genuine":
        value = b"Bearer " + sized_token(issuer, MAX_TOKEN_BYTES).encode()
    elif case == "token-8193-genuine":
        value = b"Bearer " + sized_token(issuer, MAX_TOKEN_BYTES + 1).encode()
    elif case == "field-30-kb":
        value = b"Bearer " + b"a" * 30_000
    elif case == "field-40-kb":
        value = b"Bearer " + b"a" * 40_960
    else:
        raise AssertionError(case)
    return http_request("/me", [(b"Authorization", value)])


SIZES: dict[str, tuple[int, Any]] = {
    "token-8192-genuine": (200, None),
    "token-8193-genuine": (401, TOO_LARGE),
    # Over claimguard's cap but under gunicorn's 32768-byte field limit: claimguard
    # answers, in JSON, with the RFC 6750 error.
    "field-30-kb": (401, TOO_LARGE),
    # Over gunicorn's limit: gunicorn answers 431 before the app runs.
    "field-40-kb": (431, None),
}


@pytest.mark.parametrize("case", list(SIZES))
def test_token_size_through_gunicorn(
    gunicorn_api: ExampleServer, issuer: ForgedIssuer, case: str
) -> None:
    got = raw_http(gunicorn_api.port, _size_request(issuer, case))
    status, description = SIZES[case]
    if status == 200:
        assert got.status == 200, got.body
    elif status == 431:
        _server_refused(got)
        assert got.status == 431
    else:
        check_refusal(got, 401, "invalid_token", description)


def test_oversized_request_line_through_gunicorn(gunicorn_api: ExampleServer) -> None:
    """A 20 KB query string (over gunicorn's 16384-byte request line): refused by the
    server, never a 5xx."""
    request = http_request("/me?access_token=" + "a" * 20_000, [(b"Authorization", b"Bearer x")])
    _server_refused(raw_http(gunicorn_api.port, request))


def test_header_field_flood_through_gunicorn(gunicorn_api: ExampleServer, viewer: str) -> None:
    """150 header fields (gunicorn allows 100): refused by the server, never a 5xx."""
    fields = [(f"X-Pad-{index}".encode(), b"x") for index in range(150)]
    request = http_request("/me", [*fields, (b"Authorization", b"Bearer " + viewer.encode())])
    _server_refused(raw_http(gunicorn_api.port, request))
