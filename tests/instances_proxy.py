"""A small round-robin HTTP reverse proxy on 127.0.0.1, for tests that run several
instances of one API behind one address (tests/test_instances.py).

::

    proxy = RoundRobinProxy()   # bound at once: proxy.url can go into the instances' settings
    proxy.backends = {"A": ("127.0.0.1", 8001), "B": ("127.0.0.1", 8002)}
    with proxy:
        requests.get(f"{proxy.url}/products", ...)
        proxy.served_by()      # Counter({"A": 1}) — which instance answered each request

What it does, and only that:

* It is a ``ThreadingHTTPServer`` (one thread per client connection, HTTP/1.1
  keep-alive towards the client). Each request goes to the next instance in turn,
  on a new upstream connection (``Connection: close``), so that the instance's kernel
  hands it to any of its workers.
* It forwards the method, the path with its query, every end-to-end header as received
  (``Host``, ``Authorization``, ``DPoP``, ``If-Match``, ``Content-Type`` ...) and the
  body (``Content-Length`` only: a chunked request is answered 411). It relays the
  status, every end-to-end header and the body. Hop-by-hop headers (RFC 9110 §7.6.1)
  are dropped both ways.
* **Failover.** An instance that refuses the connection (nothing listens: it was
  stopped) is skipped and the request goes to the next one, as a load balancer's
  passive health check would do; each such retry is counted. The request was never
  sent, so this is safe for every method. An upstream connection that dies *after* the
  request was sent (reset, closed without an answer) is retried elsewhere only for
  ``GET`` and ``HEAD`` (nginx's ``proxy_next_upstream error`` default); any other
  method gets ``502`` — the write may or may not have happened, and the client must
  not count it as acknowledged.
* It records, for every request, the instance that answered (or ``None`` for a 502),
  the method, path and status, in :attr:`log`.

Every upstream wait is bounded (``timeout``); :meth:`stop` shuts the listener down.
Loopback only: it binds 127.0.0.1 and forwards to whatever addresses it is given.
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

__all__ = ["HOP_BY_HOP", "Forwarded", "RoundRobinProxy"]

#: Hop-by-hop header fields (RFC 9110 §7.6.1), never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Seconds an upstream connect, send or read may take; far above any expected answer.
UPSTREAM_TIMEOUT = 15.0
#: Seconds an idle client connection is kept open by its handler thread.
CLIENT_IDLE_TIMEOUT = 30.0
#: Methods retried on another instance when the upstream connection dies mid-request.
IDEMPOTENT_RETRY = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Forwarded:
    """One request as the proxy handled it."""

    started: float  # time.monotonic() when the proxy received it
    method: str
    path: str
    instance: str | None  # the instance that answered; None when the proxy answered 502
    status: int
    refused_by: tuple[str, ...]  # instances that refused the connection first
    dropped_by: tuple[str, ...]  # instances whose connection died after the request


class _Upstream(Exception):
    """The upstream connection failed; ``sent`` tells whether the request went out."""

    def __init__(self, sent: bool, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.sent = sent


class RoundRobinProxy:
    """See the module docstring. ``backends`` maps an instance name to (host, port); it
    may be set after the proxy is made (its port is known at once), before :meth:`start`.
    """

    def __init__(
        self,
        backends: Mapping[str, tuple[str, int]] | None = None,
        *,
        timeout: float = UPSTREAM_TIMEOUT,
    ) -> None:
        self.backends: dict[str, tuple[str, int]] = dict(backends or {})
        self.timeout = timeout
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self.log: list[Forwarded] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.host = "127.0.0.1"
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    # -- life cycle -----------------------------------------------------------------

    def start(self) -> RoundRobinProxy:
        if not self.backends:
            raise ValueError("a proxy needs at least one backend")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (also when never started)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    close = stop  # for contextlib.closing

    def __enter__(self) -> RoundRobinProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what it did ----------------------------------------------------------------

    def records(self, since: float = 0.0) -> list[Forwarded]:
        """The requests received at or after ``since`` (``time.monotonic()``)."""
        with self._lock:
            return [record for record in self.log if record.started >= since]

    def served_by(self, since: float = 0.0) -> Counter[str | None]:
        """How many requests each instance answered (``None``: the proxy's own 502)."""
        return Counter(record.instance for record in self.records(since))

    def failovers(self, since: float = 0.0) -> int:
        """Requests retried on another instance because one refused the connection."""
        return sum(len(record.refused_by) for record in self.records(since))

    # -- forwarding -----------------------------------------------------------------

    def _order(self) -> list[str]:
        """The instances to try for the next request: the next in turn first."""
        names = list(self.backends)
        first = next(self._turn) % len(names)
        return names[first:] + names[:first]

    def _send(
        self, name: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        host, port = self.backends[name]
        connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        sent = False
        try:
            try:
                connection.connect()
            except OSError as exc:
                raise _Upstream(False, exc) from exc
            try:
                connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for field, value in headers:
                    connection.putheader(field, value)
                connection.putheader("Connection", "close")
                if body or method in {"POST", "PUT", "PATCH"}:
                    connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body or None)
                sent = True
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                raise _Upstream(sent, exc) from exc
            return response.status, response.reason, response.getheaders(), data
        finally:
            connection.close()

    def _forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Send the request to the instances in turn until one answers; its answer."""
        started = time.monotonic()
        refused: list[str] = []
        dropped: list[str] = []
        answer: tuple[int, str, list[tuple[str, str]], bytes] | None = None
        served: str | None = None
        for name in self._order():
            try:
                answer = self._send(name, method, path, headers, body)
            except _Upstream as exc:
                if not exc.sent and isinstance(exc.__cause__, ConnectionRefusedError):
                    refused.append(name)
                    continue
                dropped.append(name)
                if method in IDEMPOTENT_RETRY:
                    continue
                break
            served = name
            break
        if answer is None:
            detail = b'{"error":"bad_gateway"}'
            answer = (502, "Bad Gateway", [("Content-Type", "application/json")], detail)
        record = Forwarded(started, method, path, served, answer[0], tuple(refused), tuple(dropped))
        with self._lock:
            self.log.append(record)
        return answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = CLIENT_IDLE_TIMEOUT

            def _relay(self) -> None:
                if self.headers.get("Transfer-Encoding"):
                    self._plain(411, b'{"error":"length_required"}')
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = [
                    (field, value)
                    for field, value in self.headers.items()
                    if field.lower() not in HOP_BY_HOP and field.lower() != "content-length"
                ]
                status, reason, upstream, data = proxy._forward(
                    self.command, self.path, headers, body
                )
                self.send_response_only(status, reason)
                for field, value in upstream:
                    if field.lower() not in HOP_BY_HOP and field.lower() != "content-length":
                        self.send_header(field, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _plain(self, status: int, data: bytes) -> None:
                self.send_response_only(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _relay

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the record in proxy.log is the log

        return Handler
