"""Fetching a JSON document (a JWK Set, a discovery document) from a hostile network.

What :func:`get_json` guarantees, whatever the endpoint does:

* **One deadline** for connect, headers and body together. ``requests`` applies its
  timeouts per socket read, so the body is read one socket read at a time and the
  deadline is checked between reads; a caller that gives up on a fetch (see
  :class:`SocketTracker`) can also shut its sockets, which ends a read blocked on an
  endpoint that dribbles its status line or headers.
* **A size cap** on the body, checked against ``Content-Length`` first and then while
  reading (after decompression, so a gzip bomb is cut too).
* **No redirects** (a redirect could lead anywhere), **TLS always verified**, and
  **nothing of ours sent**: no credentials from ``~/.netrc``, no cookies (none is ever
  stored), only the ``Accept`` and ``Connection`` headers beside requests' defaults.
* **Strict JSON**: ``NaN``/``Infinity`` are refused.

A caller's ``requests.Session`` lends **transport settings only** (:class:`Transport`):
its proxies, its CA bundle path (never ``verify=False``), its client certificate, its
``trust_env``, and the retry policy of the ``HTTPAdapter`` s it mounted. The session
itself never sends a fetch: its ``auth``, ``cookies``, ``headers``, ``params`` and
``hooks`` are never used. Fetches go through a session of ours (:func:`new_session`)
whose every socket the fetch's tracker records, so each one can be abandoned.

Every failure is a :class:`FetchError` whose message is safe to log (it never echoes
the response body).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from types import TracebackType
from typing import TYPE_CHECKING
from typing import Any

import requests
import requests.adapters
from urllib3.connection import HTTPConnection
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import ConnectionPool
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from .errors import ConfigurationError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "FetchError",
    "SocketTracker",
    "Transport",
    "get_json",
    "new_session",
    "tracking",
]

ACCEPT = "application/jwk-set+json, application/json;q=0.9"


class FetchError(Exception):
    """A failed fetch: the reason is safe to log."""


class _NoNetrc(requests.auth.AuthBase):
    """Explicit empty auth: stops requests from sending ``.netrc`` credentials."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


# -- abandoning a fetch ------------------------------------------------------------------


class SocketTracker:
    """The sockets one fetch opened, so that whoever abandons the fetch can end it.

    Every connection a session from :func:`new_session` opens is recorded once it is
    up (TLS included; CPython bounds a handshake by the socket timeout). Shutting a
    recorded socket down ends a read blocked on it, wherever in the answer it is.
    """

    def __init__(self) -> None:
        self._sockets: list[socket.socket] = []
        self._abandoned = threading.Event()
        self._lock = threading.Lock()

    @property
    def abandoned(self) -> bool:
        """Whether :meth:`close` was called: the fetch has been given up for lost."""
        return self._abandoned.is_set()

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
        if self.abandoned:  # abandoned while it was still connecting
            self.close()

    def close(self) -> None:
        """Shut every recorded socket down: a read blocked on it returns at once."""
        self._abandoned.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the fetch is abandoned meanwhile."""
        self._abandoned.wait(seconds)


# The fetch running in the current thread: its tracker (set by tracking()) and its
# deadline (set by get_json()), read by the connections and retries below.
_current = threading.local()


@contextlib.contextmanager
def tracking(tracker: SocketTracker) -> Iterator[None]:
    """Record in ``tracker`` the sockets this thread opens while inside."""
    _current.tracker = tracker
    try:
        yield
    finally:
        _current.tracker = None


@contextlib.contextmanager
def _until(deadline: float) -> Iterator[None]:
    _current.deadline = deadline
    try:
        yield
    finally:
        _current.deadline = None


def _tracker() -> SocketTracker | None:
    tracker: SocketTracker | None = getattr(_current, "tracker", None)
    return tracker


def _time_left() -> float | None:
    """Seconds before this thread's fetch is over (``0`` once abandoned), or ``None``."""
    tracker = _tracker()
    if tracker is not None and tracker.abandoned:
        return 0.0
    deadline: float | None = getattr(_current, "deadline", None)
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _track(sock: socket.socket | None) -> None:
    tracker = _tracker()
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


class _OneUsePool(HTTPConnectionPool):
    """A pool that closes each connection handed back to it.

    A server may keep a connection open whatever ``Connection: close`` asked, and
    urllib3 hands a connection back to its pool as soon as the body has been read. The
    next fetch would then reuse a socket opened by an earlier fetch, so never recorded
    by its own tracker, and a stalled answer on it could not be abandoned. Closed here,
    the connection is opened again (and recorded) by the fetch that uses it next.
    """

    def _put_conn(self, conn: Any) -> None:  # urllib3 types it with a private Protocol
        if conn is not None:
            conn.close()
        super()._put_conn(conn)


class _TrackedHTTPPool(_OneUsePool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(_OneUsePool, HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class _TrackingAdapter(requests.adapters.HTTPAdapter):
    """Opens connections whose sockets the current fetch's tracker records."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _TrackedHTTPPool,
            "https": _TrackedHTTPSPool,
        }


class _FetchRetry(Retry):
    """A caller's retry policy, held to the deadline of the fetch it serves.

    Kept from the caller's ``Retry``: how many attempts (at most :attr:`MAX_RETRIES`
    retries), on which methods, and the backoff between them.

    Not kept: retries on an HTTP status (``status_forcelist``, ``Retry-After``). To
    retry on a status, urllib3 first reads the refused answer's body to its end, in
    memory and with no size cap, then sleeps as long as its ``Retry-After`` asks: a
    hostile endpoint would choose both.

    Bounded by the fetch: no attempt starts once the deadline has passed or the fetch
    was abandoned, and a backoff sleep ends by the deadline (or at the abandonment),
    so a fetch thread outlives its deadline by at most one attempt already under way.
    """

    _ADOPTED = ("total", "connect", "read", "other", "allowed_methods", "backoff_factor")
    _ADOPTED_IF_KNOWN = ("backoff_max", "backoff_jitter")  # urllib3 2 only
    #: At most this many retries per fetch, whatever the policy: urllib3 retries by
    #: recursion, so an unlimited policy facing a refusing port overflows the stack.
    MAX_RETRIES = 10

    @classmethod
    def adopt(cls, policy: Retry) -> _FetchRetry:
        """The attempt counts and backoff of ``policy``, without status retries."""
        known = inspect.signature(Retry.__init__).parameters
        names = cls._ADOPTED + tuple(n for n in cls._ADOPTED_IF_KNOWN if n in known)
        params = {name: getattr(policy, name) for name in names if hasattr(policy, name)}
        total = params.get("total")
        if total is not False:  # False: no retries, errors raised as they are
            params["total"] = cls.MAX_RETRIES if total is None else min(total, cls.MAX_RETRIES)
        return cls(**params, status_forcelist=None, respect_retry_after_header=False)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if _time_left() == 0:
            # The fetch is over: give up as urllib3 does when retries run out.
            raise MaxRetryError(_pool, url, error)  # type: ignore[arg-type]
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        pause = self.get_backoff_time()
        left = _time_left()
        if left is not None:
            pause = min(pause, left)
        if pause <= 0:
            return
        tracker = _tracker()
        if tracker is not None:
            tracker.wait(pause)
        else:
            time.sleep(pause)


# -- what a caller's session lends -----------------------------------------------------

# Methods through which an HTTPAdapter subclass would change how it connects or what
# it sends. An adapter that overrides one is a custom transport: it would open
# sockets no tracker records, so it cannot be used (its __init__ may differ freely).
_TRANSPORT_METHODS = frozenset(
    name
    for adapter_class in (requests.adapters.BaseAdapter, requests.adapters.HTTPAdapter)
    for name in vars(adapter_class)
    if not name.startswith("__")
)


def _custom_methods(adapter_class: type) -> list[str]:
    ours = requests.adapters.HTTPAdapter.__mro__
    return sorted(
        name
        for klass in adapter_class.__mro__
        if klass not in ours
        for name in vars(klass)
        if name in _TRANSPORT_METHODS
    )


def _serves_http(prefix: str) -> bool:
    """Whether ``requests`` could pick an adapter mounted on ``prefix`` for an http(s)
    URL (it picks the longest mounted prefix the URL starts with)."""
    lowered = prefix.lower()
    return any(lowered.startswith(s) or s.startswith(lowered) for s in ("http://", "https://"))


@dataclass(frozen=True)
class Transport:
    """What a key fetch takes from a caller's ``requests.Session``: where and how to
    connect, nothing that would be sent.

    * ``proxies`` and ``trust_env`` (``HTTPS_PROXY``, ``REQUESTS_CA_BUNDLE``; never
      ``~/.netrc``, which claimguard does not read either way);
    * ``verify`` when it is a CA bundle path; ``False`` (and ``""``, which requests also
      reads as false) become ``True``: TLS is always verified;
    * ``cert``, a client certificate for endpoints that ask for one (mutual TLS);
    * the retry policy of each ``HTTPAdapter`` mounted for http(s) URLs, kept per
      prefix (see :class:`_FetchRetry` for what of it is kept).

    Not taken: ``auth``, ``cookies``, ``headers``, ``params`` and ``hooks``. They exist
    to identify the caller to *its* services; the JWKS host is a third party, and keys
    are public.

    Mounted adapters are not used themselves: claimguard mounts its own adapter, whose
    sockets are tracked so that a fetch can be abandoned at its deadline, on the same
    prefix. An adapter that overrides how ``HTTPAdapter`` connects or sends (a custom
    transport such as a Unix-socket or mocking adapter, or one that is not an
    ``HTTPAdapter`` at all) is refused with :class:`ConfigurationError`: its fetches
    could not be abandoned, and silently bypassing it could send key fetches on a route
    the operator did not choose.
    """

    proxies: tuple[tuple[str, str | None], ...] = ()
    verify: bool | str = True
    cert: str | tuple[str, str] | None = None
    trust_env: bool = True
    retries: tuple[tuple[str, _FetchRetry], ...] = ()

    @classmethod
    def of(cls, session: requests.Session) -> Transport:
        """Read the transport settings of ``session`` (once: later changes are not seen).

        :raises ConfigurationError: a custom transport adapter, or settings of a type
            requests would not accept either.
        """
        return cls(
            proxies=_proxies_of(session),
            verify=session.verify if isinstance(session.verify, str) and session.verify else True,
            cert=_cert_of(session.cert),
            trust_env=bool(session.trust_env),
            retries=tuple(
                (prefix, _retry_of(prefix, adapter))
                for prefix, adapter in session.adapters.items()
                if _serves_http(prefix)
            ),
        )


def _proxies_of(session: requests.Session) -> tuple[tuple[str, str | None], ...]:
    proxies = session.proxies
    if not isinstance(proxies, dict) or not all(
        isinstance(key, str) and (value is None or isinstance(value, str))
        for key, value in proxies.items()
    ):
        raise ConfigurationError("session.proxies must map URL schemes or hosts to proxy URLs")
    return tuple(proxies.items())


def _cert_of(cert: object) -> str | tuple[str, str] | None:
    if cert is None or (isinstance(cert, str) and cert):
        return cert
    if isinstance(cert, tuple | list) and len(cert) == 2 and all(isinstance(p, str) for p in cert):
        return (cert[0], cert[1])
    raise ConfigurationError("session.cert must be a path, or a (certificate, key) pair of paths")


def _retry_of(prefix: str, adapter: requests.adapters.BaseAdapter) -> _FetchRetry:
    custom = _custom_methods(type(adapter))
    if not isinstance(adapter, requests.adapters.HTTPAdapter) or custom:
        what = f"overrides {', '.join(custom)}" if custom else "is not a requests HTTPAdapter"
        raise ConfigurationError(
            f"the session's adapter for {prefix!r} ({type(adapter).__qualname__}) {what}: "
            "claimguard cannot end such a transport's fetches at their deadline. Mount "
            "a plain requests HTTPAdapter there (its max_retries are kept), or pass no "
            "session."
        )
    return _FetchRetry.adopt(adapter.max_retries)


def new_session(transport: Transport | None = None) -> requests.Session:
    """A session for key fetches, with ``transport``'s settings (the defaults otherwise).

    Environment proxies and CA bundle apply unless ``transport.trust_env`` is false;
    ``.netrc`` is never read and cookies are never kept.
    """
    transport = transport or Transport()
    session = requests.Session()
    session.trust_env = transport.trust_env
    # An explicit auth object keeps requests from reading credentials out of ~/.netrc.
    session.auth = _NoNetrc()
    session.headers["Accept"] = ACCEPT
    # Fetches are rare (once per TTL): a fresh connection each time means every socket
    # is opened, and so recorded, by the fetch that uses it. The pools close each
    # connection after use too (_OneUsePool), for servers that keep it open regardless.
    session.headers["Connection"] = "close"
    # Keys need no state (RFC 6265 cookies): a cookie a key endpoint sets is refused,
    # so it is never sent back to it.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    session.proxies = dict(transport.proxies)  # type: ignore[arg-type]
    session.verify = transport.verify
    session.cert = transport.cert
    adapter = _TrackingAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    for prefix, retry in transport.retries:
        session.mount(prefix, _TrackingAdapter(max_retries=retry))
    return session


# -- the fetch -------------------------------------------------------------------------


def get_json(
    session: requests.Session, url: str, *, deadline: float, max_bytes: int, timeout: float
) -> Any:
    """GET ``url`` and parse its JSON body, within ``deadline`` (``time.monotonic()``).

    ``session`` comes from :func:`new_session`: only its sockets can be tracked.

    :raises FetchError: anything but a 200 with strict JSON in time and within the cap.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError(f"{url}: timed out")
    # TLS is always verified: a CA bundle path set on the session is kept (an explicit
    # ``True`` here would override it), ``verify=False`` is not.
    session_verify = session.verify
    verify: bool | str = True
    if isinstance(session_verify, str) and session_verify:  # "" would mean no check
        verify = session_verify
    try:
        with _until(deadline):
            response = session.get(
                url,
                timeout=(remaining, remaining),
                allow_redirects=False,  # a redirect could lead anywhere
                stream=True,
                verify=verify,
                headers={"Accept": ACCEPT},
                # Per request, so that nothing can bring ~/.netrc (or any credentials)
                # back: keys are public, nothing is ever sent.
                auth=_NoNetrc(),
            )
    except (requests.RequestException, OSError, ValueError) as exc:
        # requests raises OSError for a CA bundle or client certificate path that does
        # not exist, and urllib3 may let a ValueError through for a malformed URL.
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
