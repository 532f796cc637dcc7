"""Response-splitting and reflection attacks: request bytes must never reach a response
header or an error body, so CR/LF, quotes
or a fake ``realm=`` in a token field, the Authorization value, the query or the path
can neither add a header, end the challenge's quoted-string, nor echo into a page.

Every answer is checked byte for byte for the marker, in Flask's test client and on the
wire from gunicorn. Log lines are checked too: escaped, never the token itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from claimguard.testing import ForgedIssuer
from example_server import ExampleServer

from .attacks import ADMIN_ONLY
from .attacks import Answer
from .attacks import answer
from .attacks import check_refusal
from .attacks import http_request
from .attacks import raw_http

MARKER = "CgInj3ct"

PAYLOADS = {
    "crlf-header": f"\r\nX-Injected: {MARKER}",
    "lf-header": f"\nSet-Cookie: {MARKER}=1",
    "quote-break": f'", error="{MARKER}',
    "realm-like": f'realm="{MARKER}", error="insufficient_scope", scope="admin',
    "html": f"<script>alert('{MARKER}')</script>",
    "unicode-separators": f"\u2028\u0085{MARKER}\u2029",
    "nul": f"\x00{MARKER}",
}

# Where the payload goes in a token the trusted issuer signed. Each returns the header
# and the payload to sign; the token carries the viewer role.
FIELDS: dict[str, Callable[[ForgedIssuer, str], tuple[dict[str, Any], dict[str, Any]]]] = {
    "kid": lambda issuer, p: ({"alg": "RS256", "kid": issuer.kid + p}, issuer.claims()),
    "alg": lambda issuer, p: ({"alg": "RS256" + p, "kid": issuer.kid}, issuer.claims()),
    "typ": lambda issuer, p: ({"alg": "RS256", "kid": issuer.kid, "typ": p}, issuer.claims()),
    "jku": lambda issuer, p: ({"alg": "RS256", "kid": issuer.kid, "jku": p}, issuer.claims()),
    "header-member-name": lambda issuer, p: (
        {"alg": "RS256", "kid": issuer.kid, "x" + p: 1},
        issuer.claims(),
    ),
    "iss": lambda issuer, p: ({"alg": "RS256", "kid": issuer.kid}, issuer.claims(iss=p)),
    "aud": lambda issuer, p: ({"alg": "RS256", "kid": issuer.kid}, issuer.claims(aud=p)),
    "sub": lambda issuer, p: ({"alg": "RS256", "kid": issuer.kid}, issuer.claims(sub="u" + p)),
    "role": lambda issuer, p: (
        {"alg": "RS256", "kid": issuer.kid},
        issuer.claims(roles=["viewer", "admin" + p]),
    ),
    "scope": lambda issuer, p: ({"alg": "RS256", "kid": issuer.kid}, issuer.claims(scope=p)),
    "claim-name": lambda issuer, p: (
        {"alg": "RS256", "kid": issuer.kid},
        {**issuer.claims(), "x" + p: 1},
    ),
}


def injected_token(issuer: ForgedIssuer, field: str, payload: str) -> str:
    header, claims = FIELDS[field](issuer, payload)
    claims.setdefault(issuer.roles_claim, ["viewer"])
    return issuer.sign(header, claims)


def assert_clean(got: Answer) -> None:
    """No header carries the marker or a line break; neither does the raw head."""
    for name, value in got.headers:
        assert MARKER.lower() not in name.lower(), (name, value)
        assert MARKER.lower() not in value.lower(), (name, value)
        assert not set(value) & set("\r\n\x00"), (name, value)
    assert MARKER.encode().lower() not in got.head.lower()
    names = [name.lower() for name, _ in got.headers]
    assert "x-injected" not in names
    assert "set-cookie" not in names


def assert_refusal_clean(got: Answer) -> None:
    """An error answer: a well-formed RFC 6750 refusal that reflects nothing."""
    assert_clean(got)
    assert MARKER.encode().lower() not in got.body.lower(), got.body
    error = {400: "invalid_request", 401: "invalid_token", 403: "insufficient_scope"}
    assert got.status in error, got.status
    check_refusal(got, got.status, error[got.status])


@pytest.mark.parametrize("payload", list(PAYLOADS))
@pytest.mark.parametrize("field", list(FIELDS))
def test_signed_token_field_is_never_reflected(
    client: FlaskClient, issuer: ForgedIssuer, field: str, payload: str
) -> None:
    token = injected_token(issuer, field, PAYLOADS[payload])
    response = client.delete(ADMIN_ONLY, headers={"Authorization": f"Bearer {token}"})
    assert_refusal_clean(answer(response))


@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_accepted_sub_is_echoed_only_as_escaped_json(
    client: FlaskClient, issuer: ForgedIssuer, payload: str
) -> None:
    """``/me`` echoes the (genuine) token's sub by design: only inside a JSON string
    served as ``application/json``, control characters escaped, never in a header."""
    token = injected_token(issuer, "sub", PAYLOADS[payload])
    got = answer(client.get("/me", headers={"Authorization": f"Bearer {token}"}))
    assert got.status == 200
    assert_clean(got)
    assert got.header("Content-Type") == "application/json"
    assert not set(got.body.decode("ascii")) & set("\r\x00"), got.body
    assert got.body.count(b"\n") == 1  # the one after the JSON document
    assert got.json()["sub"] == "u" + PAYLOADS[payload]


# -- unsigned carriers: the Authorization value, the query, the path -----------------------

CARRIERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "authorization-value": lambda p: {"headers": {"Authorization": "Bearer " + p}},
    "authorization-scheme": lambda p: {"headers": {"Authorization": p + " token"}},
    "query-access-token": lambda p: {
        "path": "/me?access_token=" + quote(p),
        "headers": {"Authorization": "Bearer abc"},
    },
    "path": lambda p: {"path": "/products/" + quote(p)},
    "origin-on-preflight": lambda p: {"headers": {"Origin": p, "X-Other": p}},
}


def _latin1_safe(payload: str) -> str:
    """What a client can put in a header: Werkzeug refuses CR/LF and non-latin-1."""
    return "".join(c for c in payload if c not in "\r\n" and ord(c) < 256)


@pytest.mark.parametrize("payload", list(PAYLOADS))
@pytest.mark.parametrize("carrier", list(CARRIERS))
def test_request_bytes_are_never_reflected(client: FlaskClient, carrier: str, payload: str) -> None:
    request = CARRIERS[carrier](_latin1_safe(PAYLOADS[payload]))
    path = request.get("path", "/me")
    response = client.get(path, headers=request.get("headers", {}))
    got = answer(response)
    assert_clean(got)
    assert MARKER.encode().lower() not in got.body.lower(), got.body
    assert got.status in (400, 401, 404), got.status


# -- on the wire, from gunicorn ----------------------------------------------------------------


@pytest.mark.parametrize("payload", ["crlf-header", "quote-break", "realm-like"])
@pytest.mark.parametrize("field", list(FIELDS))
def test_on_the_wire(
    gunicorn_api: ExampleServer, issuer: ForgedIssuer, field: str, payload: str
) -> None:
    token = injected_token(issuer, field, PAYLOADS[payload])
    request = http_request(ADMIN_ONLY, [(b"Authorization", b"Bearer " + token.encode())])
    got = raw_http(gunicorn_api.port, request.replace(b"GET ", b"DELETE ", 1))
    assert_refusal_clean(got)
    challenge = got.header("WWW-Authenticate")
    assert challenge is not None
    assert challenge.count('"') in (4, 6)  # realm, error, description: nothing else


# -- logs: refusals are explained, escaped, without the token ---------------------------


@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_log_lines_are_escaped_and_never_carry_the_token(
    client: FlaskClient,
    issuer: ForgedIssuer,
    caplog: pytest.LogCaptureFixture,
    payload: str,
) -> None:
    tokens = [injected_token(issuer, field, PAYLOADS[payload]) for field in ("iss", "aud", "kid")]
    with caplog.at_level(logging.DEBUG, logger="claimguard"):
        for token in tokens:
            client.delete(ADMIN_ONLY, headers={"Authorization": f"Bearer {token}"})
    messages = [record.getMessage() for record in caplog.records if record.name == "claimguard"]
    assert messages, "refusals should be logged"
    for message in messages:
        assert not set(message) & set("\r\n\x00\u2028\u2029\u0085"), json.dumps(message)
        assert all(token not in message for token in tokens)
        assert all(token.split(".")[2] not in message for token in tokens)
