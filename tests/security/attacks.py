"""What the adversarial suite shares: the fixed sentences of the answers, encoders, the
RFC 6750 answer check, raw HTTP, and the scripted loopback server (:class:`HostileServer`,
the shared :class:`loopback.LoopbackServer`).

The fixtures built on them live in ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from base64 import urlsafe_b64decode
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

from claimguard.testing import ForgedIssuer
from example_api import create_app
from expected import ALGORITHM as ALGORITHM
from expected import AUDIENCE_MISMATCH as AUDIENCE_MISMATCH
from expected import BOUND as BOUND
from expected import CLAIMS as CLAIMS
from expected import EXPIRED as EXPIRED
from expected import ISSUER as ISSUER
from expected import MALFORMED as MALFORMED
from expected import NOT_YET as NOT_YET
from expected import SIGNATURE as SIGNATURE
from expected import TOO_LARGE as TOO_LARGE
from expected import TYPE as TYPE
from expected import UNKNOWN_KEY as UNKNOWN_KEY
from loopback import LoopbackServer
from loopback import Responder

AUDIENCE = "https://products.example.com"
ROLES = "https://my-app.example.com/roles"
#: ``DELETE /products/<id>`` needs ``admin``; this id never exists, so an admin gets 404
#: and anyone else 403 (authorization is decided before existence): no data is harmed.
ADMIN_ONLY = "/products/999999999"

# The fixed sentences of the answers: the only descriptions a client may ever see.
MISSING = "An access token is required."
HEADER_MALFORMED = "The Authorization header is malformed."
NO_TOKEN = "The Authorization header has no token."
SEVERAL = "The request carries more than one credential."
TWO_WAYS = "The access token was sent in more than one way."
LACKS_ROLE = "The access token lacks a required role."
KEYS_UNAVAILABLE = "The signing keys are temporarily unavailable."
FIXED_SENTENCES = frozenset(
    {
        ALGORITHM,
        MALFORMED,
        ISSUER,
        SIGNATURE,
        UNKNOWN_KEY,
        CLAIMS,
        AUDIENCE_MISMATCH,
        NOT_YET,
        TYPE,
        BOUND,
        TOO_LARGE,
        EXPIRED,
        MISSING,
        HEADER_MALFORMED,
        NO_TOKEN,
        SEVERAL,
        TWO_WAYS,
        LACKS_ROLE,
        KEYS_UNAVAILABLE,
        "The access token is invalid.",
        "The access token was issued to a client that is not allowed.",
        "The access token lacks a required scope.",
        "The access token lacks a required permission.",
    }
)


# -- encoding helpers -------------------------------------------------------------------


def b64(data: bytes) -> str:
    """Unpadded base64url, as JWS uses it."""
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The decoded header and payload of a compact JWS, and its signature part."""
    header, payload, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload)), signature


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sized_token(issuer: ForgedIssuer, total: int, **claims: Any) -> str:
    """A token the issuer really signed, exactly ``total`` characters long.

    A padding claim sets the payload length; base64url lengths are never 1 mod 4, so a
    padding header member shifts the header by a character when needed.
    """
    signature_length = len(issuer.mint().split(".")[2])
    payload = issuer.claims(**claims)
    for header_pad in range(4):
        header: dict[str, Any] = {"alg": issuer.algorithm, "typ": "JWT", "kid": issuer.kid}
        if header_pad:
            header["x"] = "h" * header_pad
        header_length = len(b64(json.dumps(header).encode()))
        want = total - header_length - signature_length - 2
        base = len(b64(json.dumps({**payload, "pad": ""}).encode()))
        estimate = max(0, (want - base) * 3 // 4)
        for pad in range(max(0, estimate - 4), estimate + 5):
            body = {**payload, "pad": "p" * pad}
            if len(b64(json.dumps(body).encode())) == want:
                token = issuer.sign(header, body)
                assert len(token) == total
                return token
    raise AssertionError(f"no token of {total} characters")  # pragma: no cover


# -- answers ----------------------------------------------------------------------------


@dataclass
class Answer:
    """An HTTP answer, from Flask's test client or read off a socket."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    #: The raw status line and header block, when read off a socket.
    head: bytes = b""

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


def answer(response: Any) -> Answer:
    """An :class:`Answer` from a Werkzeug test response."""
    return Answer(response.status_code, list(response.headers.items()), response.get_data())


def check_refusal(
    result: Any,
    status: int,
    error: str | None,
    description: str | None = None,
    *,
    realm: str = "api",
) -> dict[str, Any]:
    """Assert the RFC 6750 answer and return its JSON body.

    ``error`` is ``None`` for the bare 401 challenge (no credentials). The description
    must be one of the fixed sentences, identical in the challenge and the body.
    """
    got = result if isinstance(result, Answer) else answer(result)
    assert got.status == status, (got.status, got.body[:300])
    content_type = got.header("Content-Type") or ""
    assert content_type.startswith("application/json"), content_type
    assert got.header("Cache-Control") == "no-store"
    body: dict[str, Any] = got.json()
    challenge = got.header("WWW-Authenticate")
    if status == 503:
        assert challenge is None
        retry = got.header("Retry-After") or ""
        assert retry.isdigit(), retry
        assert int(retry) >= 1
        assert body["error"] == "temporarily_unavailable"
        assert body["error_description"] == KEYS_UNAVAILABLE
        return body
    if error is None:
        assert status == 401
        assert challenge == f'Bearer realm="{realm}"'
        assert body == {"error": "unauthorized", "error_description": MISSING}
        return body
    assert body["error"] == error
    sent = body["error_description"]
    assert sent in FIXED_SENTENCES, sent
    if description is not None:
        assert sent == description, sent
    expected = f'Bearer realm="{realm}", error="{error}", error_description="{sent}"'
    if status == 403:
        assert challenge is not None
        assert challenge.startswith(expected), challenge
    else:
        assert challenge == expected, challenge
    return body


def check_forbidden_role(result: Any, required: list[str], match: str = "all") -> None:
    """A 403 for a missing role, naming the route's requirement (never the token's roles)."""
    body = check_refusal(result, 403, "insufficient_scope", LACKS_ROLE)
    assert body["required_roles"] == required
    assert body["match"] == match


# -- the issuer and the API -------------------------------------------------------------


_app_ids = iter(range(1_000_000))


def build_api(databases: Path, config: dict[str, Any]) -> Flask:
    """example_api with ``config`` (CLAIMGUARD_* settings) and its own database."""
    database = databases / f"products-{next(_app_ids)}.sqlite3"
    app = create_app({**config, "EXAMPLE_API_DATABASE": str(database)})
    app.testing = False  # answer exceptions as the deployed app does (JSON 500)
    return app


# -- example_api under gunicorn, and raw HTTP ---------------------------------------------


def http_request(
    path: str, headers: list[tuple[bytes, bytes]] | bytes = (), *, method: bytes = b"GET"
) -> bytes:
    """The bytes of an HTTP/1.1 request. ``headers`` as pairs, or a raw header block."""
    lines = [method + b" " + path.encode("latin-1") + b" HTTP/1.1", b"Host: 127.0.0.1"]
    if isinstance(headers, bytes):
        block = headers
    else:
        block = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return b"\r\n".join(lines) + b"\r\nConnection: close\r\n" + block + b"\r\n"


def raw_http(port: int, request: bytes, *, timeout: float = 10) -> Answer:
    """Send ``request`` as is and read the whole answer (the server closes)."""
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may answer and close before reading everything (a 431).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        deadline = time.monotonic() + timeout
        while len(received) < 2_000_000 and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    head, separator, body = bytes(received).partition(b"\r\n\r\n")
    assert separator, f"no complete answer: {bytes(received[:200])!r}"
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        assert colon, f"malformed header line {line!r}"
        headers.append((name.decode("latin-1"), value.decode("latin-1").strip()))
    return Answer(status, headers, body, head)


# -- the scripted loopback server -------------------------------------------------------

#: The suite's names for the shared loopback server and its responders (tests/loopback.py).
HostileServer = LoopbackServer
Script = Responder
