"""A tiny JSON server on 127.0.0.1 for tests that need real HTTP but no network.

::

    with JSONServer() as server:
        url = server.serve({"keys": [...]})      # a fresh path, so hits are per document
        ...
        assert server.hits(url) == 1
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["JSONServer"]


class JSONServer:
    """Serves JSON documents from a background thread on a free loopback port.

    Answers are HTTP/1.0 (the server closes each connection), so clients keep no
    pooled sockets open after a test.
    """

    def __init__(self) -> None:
        self._routes: dict[str, tuple[int, bytes]] = {}
        self._hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def serve(self, document: Any, *, path: str | None = None, status: int = 200) -> str:
        """Serve ``document`` as JSON at ``path`` (default: a new unique path); its URL."""
        if path is None:
            path = f"/doc-{next(self._ids)}/.well-known/jwks.json"
        with self._lock:
            self._routes[path] = (status, json.dumps(document).encode("utf-8"))
        return self.base_url + path

    def hits(self, url: str) -> int:
        """How many GET requests the URL (or path) has answered."""
        with self._lock:
            return self._hits[urlsplit(url).path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> JSONServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _answer(self, path: str) -> tuple[int, bytes]:
        with self._lock:
            self._hits[path] += 1
            return self._routes.get(path, (404, b'{"error":"not_found"}'))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = server._answer(urlsplit(self.path).path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler
