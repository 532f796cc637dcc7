"""The test suite's one loopback HTTP server: real HTTP on 127.0.0.1, no network.

Tests use it wherever the ``ForgedIssuer`` will not do: key sets and discovery documents
it would never serve, hostile endpoints (huge, trickling, lying, silent), and checks on
what a client sent. One server answers each path with a *responder* and records, per
path, every request that reached it::

    with LoopbackServer() as server:
        url = server.serve({"keys": [...]})      # JSON on a fresh path (per-URL hit counts)
        server.serve({"issuer": ...}, path="/.well-known/openid-configuration")
        server.route("/slow", Reply(body, chunk=1, pause=0.02))   # one byte per 20 ms
        server.route("/jwks", dribble(raw_answer, pause=0.05, raw=True))  # slow headers
        ...
        assert server.hits(url) == 1
        assert "authorization" not in server.headers_seen("/jwks")[0]

Responders (any ``Callable[[handler, server, path], None]``, see :data:`Responder`):

* :class:`Reply`: status, headers, body; with or without a truthful Content-Length,
  written in chunks with an optional pause before each, or ``raw`` (the body is the
  whole answer, status line and headers included);
* :func:`reply`: an ordinary answer (JSON Content-Type unless other headers are given);
* :func:`dribble`: one byte per ``pause`` seconds (the body, or the whole raw answer);
* :func:`stream`: a body of any size, written piece by piece and never held in memory;
* :func:`silent`: accept the request and say nothing.

Answers are HTTP/1.0, so the server closes every connection and clients keep no pooled
sockets open after a test. A client that hangs up mid-answer (``BrokenPipeError``,
``ConnectionResetError``) is expected and only counted in :attr:`LoopbackServer.hangups`.
:meth:`LoopbackServer.close` wakes pausing responders, waits briefly for handlers to
finish, shuts the server down and joins its thread, so no socket or thread outlives the
test (the suite runs with ``filterwarnings = error``).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "LoopbackServer",
    "Reply",
    "Responder",
    "dribble",
    "reply",
    "silent",
    "stream",
]

#: Answers one request: ``(handler, server, path)``. It writes through ``handler``
#: (``send_response``/``send_header``/``end_headers``/``wfile``) and reports the body
#: bytes it wrote with :meth:`LoopbackServer.record_sent`.
Responder = Callable[[BaseHTTPRequestHandler, "LoopbackServer", str], None]

JSON_HEADERS = {"Content-Type": "application/json"}


class BackgroundHTTPServer:
    """A ``ThreadingHTTPServer`` on a free 127.0.0.1 port, serving from a daemon thread
    until :meth:`close`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        """Stop serving, close the socket and join the thread (at most 5 s)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _path(url_or_path: str) -> str:
    return urlsplit(url_or_path).path


class LoopbackServer:
    """HTTP/1.0 on a free 127.0.0.1 port, served from a background thread.

    Each path is answered by the responder given to :meth:`route` (or :meth:`serve`);
    unrouted paths get a JSON 404. Every request is recorded, also unrouted ones:
    :meth:`hits`, :meth:`total_hits` and :meth:`headers_seen` read the records;
    ``hangups`` counts answers the client cut short and ``sent`` the body bytes written,
    both per path. ``stopping`` is set by :meth:`close`; long-running responders watch it.
    """

    def __init__(self) -> None:
        self.hangups: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.stopping = threading.Event()
        self._routes: dict[str, Responder] = {}
        self._requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._active = 0
        self._ids = itertools.count(1)
        self._http = BackgroundHTTPServer(self._handler())

    # -- answers ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._http.url

    def route(self, path: str, responder: Responder) -> str:
        """Answer ``path`` with ``responder`` from now on; returns its URL."""
        with self._lock:
            self._routes[path] = responder
        return self.base_url + path

    def serve(
        self,
        document: Any,
        *,
        path: str | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Serve ``document`` as JSON (``bytes`` as they are) at ``path``; returns its URL.

        Without ``path``, a new unique path (``/doc-N/.well-known/jwks.json``), so that
        :meth:`hits` counts the requests for this one document. ``headers`` replace the
        default ``Content-Type: application/json``; Content-Length is always sent.
        """
        if path is None:
            path = f"/doc-{next(self._ids)}/.well-known/jwks.json"
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        return self.route(path, reply(status, body, headers))

    # -- what reached the server ------------------------------------------------------

    def hits(self, url_or_path: str) -> int:
        """How many requests reached this URL (or path)."""
        path = _path(url_or_path)
        with self._lock:
            return sum(1 for seen, _ in self._requests if seen == path)

    def total_hits(self) -> int:
        """How many requests reached the server, on any path."""
        with self._lock:
            return len(self._requests)

    def headers_seen(self, url_or_path: str) -> list[dict[str, str]]:
        """The headers of each request for this URL (or path), in order; names lowercased."""
        path = _path(url_or_path)
        with self._lock:
            return [headers for seen, headers in self._requests if seen == path]

    def record_sent(self, path: str, count: int) -> None:
        """For responders: ``count`` more body bytes were written on ``path``."""
        with self._lock:
            self.sent[path] += count

    # -- life cycle -------------------------------------------------------------------

    def close(self) -> None:
        """Wake pausing responders, give handlers up to 3 s, stop and join the thread."""
        self.stopping.set()
        deadline = time.monotonic() + 3
        while self._active and time.monotonic() < deadline:
            time.sleep(0.01)
        self._http.close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = _path(self.path)
                headers = {name.lower(): value for name, value in self.headers.items()}
                with server._lock:
                    server._requests.append((path, headers))
                    server._active += 1
                    responder = server._routes.get(path, NOT_FOUND)
                try:
                    responder(self, server, path)
                except (BrokenPipeError, ConnectionResetError):
                    with server._lock:  # the client gave up: often what the test wants
                        server.hangups[path] += 1
                finally:
                    with server._lock:
                        server._active -= 1

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler


# -- responders ---------------------------------------------------------------------------


@dataclass
class Reply:
    """A fixed answer: status, headers and body, written as the fields say."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    #: Send a truthful Content-Length; without it the body ends when the server closes
    #: the connection (HTTP/1.0), so the client cannot know the size in advance.
    content_length: bool = True
    #: Bytes per write.
    chunk: int = 65536
    #: Seconds to wait before each chunk (a trickling endpoint); cut short by ``close()``.
    pause: float = 0.0
    #: ``body`` is the whole answer, status line and headers included, sent as is.
    raw: bool = False

    def __call__(self, handler: BaseHTTPRequestHandler, server: LoopbackServer, path: str) -> None:
        if not self.raw:
            handler.send_response(self.status)
            for name, value in self.headers.items():
                handler.send_header(name, value)
            if self.content_length:
                handler.send_header("Content-Length", str(len(self.body)))
            handler.end_headers()
        for start in range(0, len(self.body), self.chunk):
            if self.pause and server.stopping.wait(self.pause):
                return
            piece = self.body[start : start + self.chunk]
            handler.wfile.write(piece)
            server.record_sent(path, len(piece))


def reply(status: int, body: bytes | str, headers: dict[str, str] | None = None) -> Reply:
    """An ordinary answer with a truthful Content-Length; JSON unless ``headers`` say."""
    raw = body.encode() if isinstance(body, str) else body
    return Reply(raw, status, dict(headers or JSON_HEADERS))


NOT_FOUND = reply(404, b'{"error":"not_found"}')


def dribble(data: bytes, *, pause: float, raw: bool = False) -> Reply:
    """Send ``data`` one byte per ``pause`` seconds. ``raw``: ``data`` is the whole
    answer, status line and headers included (a slow-loris header block)."""
    return Reply(data, headers=dict(JSON_HEADERS), chunk=1, pause=pause, raw=raw)


def stream(total: int, *, declare_length: bool, chunk: bytes = b" " * 65536) -> Responder:
    """A ``total``-byte body written chunk by chunk (never held in memory at once)."""

    def respond(handler: BaseHTTPRequestHandler, server: LoopbackServer, path: str) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if declare_length:
            handler.send_header("Content-Length", str(total))
        handler.end_headers()
        written = 0
        while written < total and not server.stopping.is_set():
            piece = chunk[: total - written]
            handler.wfile.write(piece)
            written += len(piece)
            server.record_sent(path, len(piece))

    return respond


def silent(seconds: float) -> Responder:
    """Accept the request and say nothing for ``seconds`` (or until the server closes)."""

    def respond(handler: BaseHTTPRequestHandler, server: LoopbackServer, path: str) -> None:
        server.stopping.wait(seconds)

    return respond
