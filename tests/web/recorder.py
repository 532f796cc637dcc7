"""A recording reverse proxy between the Next.js server and example_api, on 127.0.0.1.

The browser tests point the web app's ``EXAMPLE_API_URL`` here. Every request is
passed on to example_api unchanged and recorded with the answer's status, so a test
can see exactly what the API received: the method and path, the bearer token (decoded
with :func:`decode_jwt`), and whether a browser cookie came along (it must not). With
DPoP, :attr:`Seen.dpop_token` and :attr:`Seen.proof` are the token and its proof, and
:attr:`Seen.answer_headers` what the API answered (``WWW-Authenticate``, ``DPoP-Nonce``).
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from loopback import BackgroundHTTPServer

#: Request headers not passed on (hop-by-hop, RFC 9110 §7.6.1) or rewritten here.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Seen:
    """One request that went through the proxy."""

    method: str
    path: str
    headers: dict[str, str]
    status: int
    #: The API's answer headers, names in lower case (repeated ones joined by ", ").
    answer_headers: dict[str, str] = field(default_factory=dict)
    #: The request body as received (up to the proxy's limit).
    body: bytes = b""

    @property
    def token(self) -> str | None:
        """The bearer token sent, ``None`` without one."""
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        return token if scheme.lower() == "bearer" and token else None

    @property
    def dpop_token(self) -> str | None:
        """The token sent with the ``DPoP`` scheme (RFC 9449 §7.1), ``None`` without one."""
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        return token if scheme.lower() == "dpop" and token else None

    @property
    def proof(self) -> str | None:
        """The ``DPoP`` proof header sent, ``None`` without one."""
        return self.headers.get("dpop")


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def decode_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A JWS compact serialization's header and payload, unverified (example_api
    verified it; the tests only read what it carried)."""
    header, payload, _signature = token.split(".")
    return json.loads(_b64url(header)), json.loads(_b64url(payload))


class RecordingProxy:
    """Forwards every request to ``upstream`` and records it; :meth:`close` it."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname in {"127.0.0.1", "localhost"}, "loopback only"
        self._upstream = (parts.hostname, parts.port or 80)
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._http = BackgroundHTTPServer(self._handler())

    @property
    def url(self) -> str:
        return self._http.url

    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def count(self) -> int:
        with self._lock:
            return len(self._seen)

    def since(self, mark: int) -> list[Seen]:
        """What came through after :meth:`count` returned ``mark``."""
        with self._lock:
            return list(self._seen[mark:])

    def tokens(self) -> set[str]:
        return {seen.token for seen in self.seen() if seen.token}

    def dpop_tokens(self) -> set[str]:
        return {seen.dpop_token for seen in self.seen() if seen.dpop_token}

    def close(self) -> None:
        self._http.close()

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, MAX_BODY)) if length else None
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in _HOP_BY_HOP
                }
                connection = http.client.HTTPConnection(*proxy._upstream, timeout=15)
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    payload = answer.read()
                    status = answer.status
                    answer_headers = answer.getheaders()
                finally:
                    connection.close()
                received: dict[str, str] = {}
                for name, value in answer_headers:
                    key = name.lower()
                    received[key] = f"{received[key]}, {value}" if key in received else value
                proxy._record(
                    Seen(
                        self.command,
                        self.path,
                        {name.lower(): value for name, value in self.headers.items()},
                        status,
                        received,
                        body or b"",
                    )
                )
                self.send_response(status)
                for name, value in answer_headers:
                    # send_response wrote its own Server and Date already.
                    if name.lower() not in _HOP_BY_HOP | {"server", "date"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

        return Handler
