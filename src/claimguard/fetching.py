"""Fetching a JSON document (a JWK Set, a discovery document) from a hostile network.

What :func:`get_json` guarantees, whatever the endpoint does:

* **One deadline** for connect, headers and body together. ``requests`` applies its
  timeouts per socket read, so the body is read one socket read at a time and the
  deadline is checked between reads; a caller that gives up on a fetch (see
  :class:`SocketTracker`) can also shut its sockets, which ends a read blocked on an
  endpoint that dribbles its status line or headers.
* **A size cap** on the body, checked against ``Content-Length`` first and then while
  reading (after decompression, so a gzip bomb is cut too).
* **No redirects** (a redirect could lead anywhere), **TLS always verified** (a CA
  bundle path on a caller's session is kept, ``verify=False`` is not), and **no
  credentials**: not from ``~/.netrc``, not from a caller's session.
* **Strict JSON**: ``NaN``/``Infinity`` are refused.

Every failure is a :class:`FetchError` whose message is safe to log (it never echoes
the response body).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
import requests.adapters
from urllib3.connection import HTTPConnection
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.connectionpool import HTTPSConnectionPool

__all__ = ["FetchError", "SocketTracker", "get_json", "new_session", "tracking"]

ACCEPT = "application/jwk-set+json, application/json;q=0.9"


class FetchError(Exception):
    """A failed fetch: the reason is safe to log."""


class _NoNetrc(requests.auth.AuthBase):
    """Explicit empty auth: stops requests from sending ``.netrc`` credentials."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class SocketTracker:
    """The sockets one fetch opened, so that whoever abandons the fetch can end it.

    Only connections made by a session from :func:`new_session` are recorded.
    """

    def __init__(self) -> None:
        self._sockets: list[socket.socket] = []
        self._closed = False
        self._lock = threading.Lock()

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            closed = self._closed
        if closed:  # abandoned while it was still connecting
            self.close()

    def close(self) -> None:
        """Shut every recorded socket down: a read blocked on it returns at once."""
        with self._lock:
            self._closed = True
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


# The tracker of the fetch running in the current thread, for the connections below.
_current = threading.local()


@contextlib.contextmanager
def tracking(tracker: SocketTracker) -> Iterator[None]:
    """Record in ``tracker`` the sockets this thread opens while inside."""
    _current.tracker = tracker
    try:
        yield
    finally:
        _current.tracker = None


def _track(sock: socket.socket | None) -> None:
    tracker = getattr(_current, "tracker", None)
    if tracker is not None and sock is not None:
        tracker.track(sock)


class _TrackedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _track(self.sock)


class _TrackedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _track(self.sock)


class _TrackedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class _TrackingAdapter(requests.adapters.HTTPAdapter):
    """Opens connections whose sockets the current fetch's tracker records."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _TrackedHTTPPool,
            "https": _TrackedHTTPSPool,
        }


def new_session() -> requests.Session:
    """A session for key fetches: environment proxies and CA bundle, no ``.netrc``."""
    session = requests.Session()
    # trust_env stays on for HTTPS_PROXY and REQUESTS_CA_BUNDLE; an explicit auth
    # object keeps requests from reading credentials out of ~/.netrc.
    session.auth = _NoNetrc()
    session.headers["Accept"] = ACCEPT
    # Fetches are rare (once per TTL): a fresh connection each time means every socket
    # is opened, and so recorded, by the fetch that uses it.
    session.headers["Connection"] = "close"
    adapter = _TrackingAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def get_json(
    session: requests.Session, url: str, *, deadline: float, max_bytes: int, timeout: float
) -> Any:
    """GET ``url`` and parse its JSON body, within ``deadline`` (``time.monotonic()``).

    :raises FetchError: anything but a 200 with strict JSON in time and within the cap.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError(f"{url}: timed out")
    # TLS is always verified: a CA bundle path set on a caller's session is kept (an
    # explicit ``True`` here would override it), ``verify=False`` is not.
    session_verify = session.verify
    verify: bool | str = True
    if isinstance(session_verify, str) and session_verify:  # "" would mean no check
        verify = session_verify
    try:
        response = session.get(
            url,
            timeout=(remaining, remaining),
            allow_redirects=False,  # a redirect could lead anywhere
            stream=True,
            verify=verify,
            headers={"Accept": ACCEPT},
            # Per request, so that a caller's session cannot bring ~/.netrc (or its own
            # credentials) back: keys are public, nothing is ever sent.
            auth=_NoNetrc(),
        )
    except requests.RequestException as exc:
        raise FetchError(f"{url}: request failed ({type(exc).__name__})") from None
    with response:
        if 300 <= response.status_code < 400:
            raise FetchError(f"{url}: HTTP {response.status_code} redirect not followed")
        if response.status_code != 200:
            raise FetchError(f"{url}: HTTP {response.status_code}")
        body = _read_body(response, url, deadline, max_bytes, timeout)
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise FetchError(f"{url}: body is not JSON") from None


def _read_body(
    response: requests.Response, url: str, deadline: float, max_bytes: int, timeout: float
) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"{url}: body of {declared} bytes exceeds {max_bytes}")
    raw = response.raw
    read = getattr(raw, "read1", None)  # one socket read at a time (urllib3 2)
    body = bytearray()
    try:
        while True:
            chunk = (
                read(65536, decode_content=True) if read else raw.read(4096, decode_content=True)
            )
            if not chunk:
                break
            body += chunk
            if len(body) > max_bytes:
                raise FetchError(f"{url}: body exceeds {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise FetchError(f"{url}: body not received within {timeout}s")
    except FetchError:
        raise
    except Exception as exc:  # socket, urllib3 and decoding errors alike
        raise FetchError(f"{url}: reading the body failed ({type(exc).__name__})") from None
    return bytes(body)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
