"""``JWKSCache``: one issuer's signing keys, fetched over HTTP and kept fresh.

The rules, in the order a request meets them:

* **Fresh** for ``ttl`` seconds after a successful fetch. A good answer (200, within
  ``max_bytes``, valid JSON, at least one usable key) *replaces* the set, so keys the
  issuer removed disappear. Anything else is a failed fetch and keeps the previous set.
* **Stale-while-revalidate.** Past the TTL, a request whose ``kid`` is cached is served
  at once while one background refresh runs. **Stale-if-error**: the last good set keeps
  serving until ``ttl + max_stale`` after its fetch; then requests get
  :class:`~claimguard.errors.KeySetUnavailableError` (503).
* **Back-off.** After a failed fetch, no new attempt starts for ``cooldown`` seconds.
* **Unknown kid.** A ``kid`` missing from the set triggers one refetch, unless a
  kid-triggered refetch already ran within ``cooldown``. The first fetch and TTL
  refreshes do not arm this cooldown, so a key published just after our last fetch is
  accepted on first sight, while a flood of random ``kid`` values costs at most one
  request per cooldown.
* **Single-flight.** Concurrent requests that need a fetch share one HTTP request and
  wait for it at most ``timeout`` seconds in total.
* **Hostile endpoints.** No redirects, TLS always verified, a size cap, one deadline
  for connect + read + body, and no credentials from ``.netrc`` or from a caller's
  session (which lends transport settings only: see :class:`~claimguard.fetching.Transport`).
* **Hostile discovery.** A discovered ``jwks_uri`` must be ``https://`` and may not aim
  at loopback, private or other special-purpose addresses (unless the issuer itself is
  on loopback, for development); one on another host than the issuer's is logged once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from .discovery import auth0_jwks_url
from .discovery import check_discovered_jwks_uri
from .discovery import check_issuer_url
from .discovery import check_url
from .discovery import discovery_url
from .discovery import on_issuer_host
from .errors import ConfigurationError
from .errors import InvalidTokenError
from .errors import KeySetUnavailableError
from .errors import loggable
from .fetching import FetchError
from .fetching import SocketTracker
from .fetching import Transport
from .fetching import get_json
from .fetching import new_session
from .fetching import tracking
from .forking import reset_after_fork
from .keys import KeySet
from .keys import VerificationKey
from .keys import load_jwks
from .options import HTTP_TIMEOUT
from .options import JWKS_CACHE_TTL
from .options import JWKS_COOLDOWN
from .options import JWKS_MAX_STALE
from .options import check_number

__all__ = ["JWKSCache", "KeySetStatus"]

log = logging.getLogger("claimguard")


@dataclass(frozen=True)
class KeySetStatus:
    """A snapshot of a key set's state, for readiness probes and operators."""

    #: Where keys are fetched (``None`` until discovery has found the ``jwks_uri``).
    url: str | None
    #: Whether a usable key set is held (fresh, or stale within ``max_stale``).
    loaded: bool
    #: Whether the held set is within its TTL.
    fresh: bool
    #: Seconds since the last successful fetch, or ``None``.
    age: float | None
    key_count: int
    #: Why the last fetch failed, if it failed after the last success.
    last_error: str | None
    #: Whether fetching is paused (back-off after a failure, or the unknown-kid cooldown).
    cooling_down: bool
    #: Whether a fetch is in flight.
    refreshing: bool
    #: HTTP fetches attempted so far (JWKS documents, not discovery).
    fetches: int


class _Flight:
    def __init__(self, deadline: float) -> None:
        self.done = threading.Event()
        self.error: str | None = None
        #: ``time.monotonic()`` after which the fetch is given up for lost.
        self.deadline = deadline
        self.abandoned = False
        #: The sockets this fetch opened, shut down when it is abandoned so that its
        #: thread, blocked in a read, ends too.
        self.sockets = SocketTracker()


# How long past its timeout a fetch may run before it is abandoned. The body read
# enforces the deadline itself, but requests' timeouts apply per socket read, so an
# endpoint that dribbles its status line and headers could hold a fetch open forever.
_ABANDON_SLACK = 0.25


_all_caches: weakref.WeakSet[JWKSCache] = weakref.WeakSet()
reset_after_fork(_all_caches, lambda cache: cache._reset_after_fork())


class JWKSCache:
    """The signing keys of one issuer, fetched from its JWKS URL and cached.

    :param url: the JWKS URL. Use :meth:`from_discovery` to find it from the issuer, or
        :meth:`for_auth0_domain` for an Auth0 tenant.
    :param ttl: seconds a fetched set is fresh.
    :param cooldown: minimum seconds between unknown-``kid`` refetches, and the back-off
        after a failed fetch.
    :param max_stale: seconds past the TTL during which the last good set keeps serving
        while the issuer cannot be reached.
    :param timeout: seconds for one fetch, connect + read + body together (discovery
        included); also the longest a request waits for a fetch.
    :param max_bytes: largest response body accepted.
    :param session: a ``requests.Session`` whose transport settings fetches use: its
        proxies, CA bundle path, client certificate, ``trust_env`` and the retry policy of
        its mounted ``HTTPAdapter`` s, read once here. It never sends a fetch itself: its
        ``auth``, ``cookies``, ``headers`` and ``hooks`` are not used, redirects are
        never followed and TLS is always verified, whatever it says. A mounted custom
        transport adapter raises :class:`~claimguard.errors.ConfigurationError` (see
        :class:`~claimguard.fetching.Transport`).
    :param clock: monotonic clock for TTL, cooldown and staleness (a seam for tests).
    :raises ConfigurationError: a setting outside its range (the ranges of the
        ``CLAIMGUARD_JWKS_*`` and ``CLAIMGUARD_HTTP_TIMEOUT`` settings).

    Creating a cache does no I/O: keys are fetched on first use, or by :meth:`refresh`.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        issuer: str | None = None,
        ttl: float = JWKS_CACHE_TTL.default,
        cooldown: float = JWKS_COOLDOWN.default,
        max_stale: float = JWKS_MAX_STALE.default,
        timeout: float = HTTP_TIMEOUT.default,
        max_bytes: int = 1_048_576,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if url is None and issuer is None:
            raise TypeError("JWKSCache needs a JWKS url, or an issuer to discover it from")
        self._jwks_url = check_url(url, "JWKS URL") if url is not None else None
        self._discovery_issuer = issuer if url is None else None
        if self._discovery_issuer is not None:
            check_issuer_url(self._discovery_issuer, "issuer")
        self.ttl = JWKS_CACHE_TTL.number(ttl)
        self.cooldown = JWKS_COOLDOWN.number(cooldown)
        self.max_stale = JWKS_MAX_STALE.number(max_stale)
        self.timeout = HTTP_TIMEOUT.number(timeout)
        self.max_bytes = int(check_number("max_bytes=", max_bytes, 1, None, whole=True))
        self._transport = Transport.of(session) if session is not None else None
        self._session = new_session(self._transport)
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._loaded_at: float | None = None
        #: ``(keys, loaded_at)`` in one attribute, for readers that take no lock.
        self._snapshot: tuple[KeySet, float] | None = None
        self._failed_at: float | None = None
        self._last_error: str | None = None
        self._kid_refetch_at: float | None = None
        self._flight: _Flight | None = None
        self._fetches = 0
        self._listeners: list[Callable[[KeySet], None]] = []
        #: The last cross-host jwks_uri warned about, so that it is logged once.
        self._warned_jwks_uri: str | None = None
        _all_caches.add(self)

    @classmethod
    def from_discovery(cls, issuer: str, **options: Any) -> JWKSCache:
        """A cache whose JWKS URL is read from the issuer's OIDC discovery document."""
        return cls(None, issuer=issuer, **options)

    @classmethod
    def for_auth0_domain(cls, domain: str, **options: Any) -> JWKSCache:
        """A cache for an Auth0 tenant or custom domain (``https://DOMAIN/.well-known/jwks.json``)."""
        return cls(auth0_jwks_url(domain, "domain="), **options)

    def _reset_after_fork(self) -> None:
        # A lock held by another thread at fork time would stay held forever in the
        # child, and a shared connection pool would mix two processes' traffic.
        self._lock = threading.Lock()
        self._flight = None
        self._session = new_session(self._transport)

    # -- public API ---------------------------------------------------------------

    @property
    def url(self) -> str | None:
        """The JWKS URL, or ``None`` while discovery has not run yet."""
        return self._jwks_url

    @property
    def transport(self) -> Transport | None:
        """The transport settings lent by the session this cache was given, or ``None``
        for the defaults: for tools that fetch from the same place the same way."""
        return self._transport

    def add_listener(self, callback: Callable[[KeySet], None]) -> None:
        """Call ``callback(key_set)`` after every successful fetch (e.g. to drop cached
        tokens whose key left the set). It runs in the fetching thread; keep it quick."""
        self._listeners.append(callback)

    def get_key(self, kid: str | None) -> VerificationKey:
        """The usable key for ``kid`` (or the only key, for a token without ``kid``).

        May block on a fetch for at most ``timeout`` seconds: on the first use, when the
        set is older than ``ttl + max_stale``, or for an unknown ``kid``.

        :raises InvalidTokenError: the ``kid`` is not in the set and may not be fetched
            again yet, or is absent from a freshly fetched set.
        :raises KeySetUnavailableError: no usable set can be obtained.
        """
        now = self._clock()
        # Lock-free on the hot path: a fresh set (younger than its TTL) that holds the
        # kid answers at once, exactly as the locked path below would.
        snapshot = self._snapshot
        if snapshot is not None and now - snapshot[1] < self.ttl:
            key = snapshot[0].find(kid)
            if key is not None:
                return key
        with self._lock:
            keys = self._usable(now)
            if keys is not None:
                key = keys.find(kid)
                if key is not None:
                    if now - self._loaded_at >= self.ttl:  # type: ignore[operator]
                        self._start_flight(now)  # stale-while-revalidate: nobody waits
                    return key
                flight = self._flight_for_unknown_kid(now, kid)
            else:
                pending = self._start_flight(now)
                if pending is None:
                    raise self._unavailable(now, "no usable key set; fetching is backing off")
                flight = pending
        return self._await(flight, kid)

    def holds(self, thumbprint: str) -> bool:
        """Whether the key with this thumbprint is in the usable set now.

        Used by the verified-token cache. Like :meth:`get_key`, it starts a background
        refresh once the set is past its TTL, so a removed key is noticed.
        """
        # Lock-free on the hot path: a fetch publishes the set and its time as one tuple.
        snapshot = self._snapshot
        if snapshot is None:
            return False
        keys, loaded_at = snapshot
        now = self._clock()
        age = now - loaded_at
        if age >= self.ttl + self.max_stale:
            return False
        if age >= self.ttl:
            with self._lock:
                self._start_flight(now)  # stale-while-revalidate
        return thumbprint in keys.thumbprints

    def refresh(self) -> bool:
        """Fetch the key set now, ignoring TTL, cooldown and back-off; wait for it.

        :returns: whether the fetch succeeded.
        """
        with self._lock:
            flight = self._start_flight(self._clock(), force=True)
        assert flight is not None
        if not flight.done.wait(max(0.0, flight.deadline - time.monotonic())):
            with self._lock:
                self._live_flight(self._clock())  # past its deadline: abandon it
        return flight.done.is_set() and flight.error is None and not flight.abandoned

    def status(self) -> KeySetStatus:
        """A snapshot of the cache state."""
        now = self._clock()
        with self._lock:
            age = None if self._loaded_at is None else now - self._loaded_at
            keys = self._usable(now)
            return KeySetStatus(
                url=self._jwks_url,
                loaded=keys is not None,
                fresh=age is not None and age < self.ttl,
                age=age,
                key_count=len(keys.keys) if keys is not None else 0,
                last_error=self._last_error,
                cooling_down=self._backing_off(now) or self._kid_cooling(now),
                refreshing=self._flight is not None,
                fetches=self._fetches,
            )

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Wait for a fetch in flight to finish (for tests and graceful shutdown).

        A fetch still running past its deadline is abandoned rather than waited for.
        """
        flight = self._flight
        if flight is None:
            return True
        end = time.monotonic() + (self.timeout + 1 if timeout is None else timeout)
        while not flight.done.is_set():
            now = time.monotonic()
            if now >= end:
                return False
            if now > flight.deadline:
                with self._lock:
                    self._live_flight(self._clock())
                continue
            flight.done.wait(min(end, flight.deadline + 0.01) - now)
        return True

    # -- state, all called with the lock held -------------------------------------

    def _usable(self, now: float) -> KeySet | None:
        if self._keys is None or self._loaded_at is None:
            return None
        if now - self._loaded_at >= self.ttl + self.max_stale:
            return None
        return self._keys

    def _backing_off(self, now: float) -> bool:
        return self._failed_at is not None and now - self._failed_at < self.cooldown

    def _kid_cooling(self, now: float) -> bool:
        return self._kid_refetch_at is not None and now - self._kid_refetch_at < self.cooldown

    def _flight_for_unknown_kid(self, now: float, kid: str | None) -> _Flight:
        live = self._live_flight(now)
        if live is not None:
            # Join the fetch in flight without arming the cooldown: if it is the first
            # fetch or a TTL refresh, it may have left before the issuer published this
            # kid, and the next request must still be allowed its one refetch.
            return live
        if self._kid_cooling(now) or self._backing_off(now):
            # A success clears _failed_at, so its presence means the last fetch failed.
            # (Comparing it with _loaded_at instead breaks when both fall on the same
            # clock tick: time.monotonic is coarse on some platforms.) We cannot tell
            # whether the kid is bad, so this is a 503, not a 401.
            if self._failed_at is not None:
                raise self._unavailable(now, "kid unknown and the last fetch failed")
            raise InvalidTokenError(
                reason="key.unknown_kid",
                detail=f"kid {loggable(kid)} not in key set; refetch cooling down",
            )
        self._kid_refetch_at = now
        flight = self._start_flight(now)
        assert flight is not None
        return flight

    def _live_flight(self, now: float) -> _Flight | None:
        """The fetch in flight, unless it outlived its deadline: that one is abandoned
        (counted as a failed fetch, so back-off applies) and a new one may start."""
        flight = self._flight
        if flight is not None and time.monotonic() > flight.deadline:
            flight.abandoned = True
            flight.sockets.close()
            flight.error = f"no answer within {self.timeout:g}s (abandoned)"
            self._flight = None
            self._failed_at = now
            self._last_error = flight.error
            log.warning("key set fetch from %s abandoned: %s", self._describe_url(), flight.error)
            flight.done.set()
            return None
        return flight

    def _start_flight(self, now: float, *, force: bool = False) -> _Flight | None:
        current = self._live_flight(now)
        if current is not None:
            return current
        if not force and self._backing_off(now):
            return None
        flight = self._flight = _Flight(time.monotonic() + self.timeout + _ABANDON_SLACK)
        thread = threading.Thread(
            target=self._run_flight, args=(flight,), name="claimguard-jwks", daemon=True
        )
        thread.start()
        return flight

    def _unavailable(self, now: float, detail: str) -> KeySetUnavailableError:
        wait = self.cooldown
        if self._failed_at is not None:
            wait = self.cooldown - (now - self._failed_at)
        reason = f"; last error: {self._last_error}" if self._last_error else ""
        return KeySetUnavailableError(
            detail=f"{detail} ({self._describe_url()}){reason}",
            retry_after=max(1, math.ceil(wait)),
        )

    def _describe_url(self) -> str:
        return self._jwks_url or f"discovery of {self._discovery_issuer}"

    # -- waiting and fetching -----------------------------------------------------

    def _await(self, flight: _Flight, kid: str | None) -> VerificationKey:
        # A request waits for a fetch at most ``timeout`` (HTTP_TIMEOUT) in total.
        wait = min(self.timeout, flight.deadline - time.monotonic())
        if not flight.done.wait(max(0.0, wait)):
            with self._lock:
                now = self._clock()
                self._live_flight(now)  # past its deadline: abandon it
                raise self._unavailable(now, "key set fetch did not finish in time")
        now = self._clock()
        with self._lock:
            keys = self._usable(now)
            key = keys.find(kid) if keys is not None else None
            if key is not None:
                return key
            if flight.error is not None:
                raise self._unavailable(now, "key set fetch failed")
            if keys is None:  # pragma: no cover - a successful fetch leaves a usable set
                raise self._unavailable(now, "no usable key set")
        raise InvalidTokenError(
            reason="key.unknown_kid",
            detail=f"kid {loggable(kid)} not in key set after refresh ({self._describe_url()})",
        )

    def _run_flight(self, flight: _Flight) -> None:
        try:
            with tracking(flight.sockets):
                keys = self._fetch()
        except FetchError as exc:
            flight.error = str(exc)
        except Exception as exc:  # never let a fetch thread die silently
            flight.error = f"unexpected {type(exc).__name__}"
            log.exception("claimguard: unexpected error while fetching keys")
        try:
            now = self._clock()
            with self._lock:
                if flight.abandoned:
                    return  # given up for lost: a late answer changes nothing
                if flight.error is None:
                    self._keys = keys
                    self._loaded_at = now
                    self._snapshot = (keys, now)
                    self._failed_at = None
                    self._last_error = None
                else:
                    self._failed_at = now
                    self._last_error = flight.error
                self._flight = None
                serving_stale = self._usable(now) is not None
            if flight.error is None:
                log.debug("fetched %d usable keys from %s", len(keys.keys), self._jwks_url)
                for listener in self._listeners:
                    try:
                        listener(keys)
                    except Exception:
                        # A broken listener must neither undo the fetch nor keep the
                        # waiters blocked until their timeout.
                        log.exception("claimguard: a key set listener failed")
            else:
                log.warning(
                    "key set fetch from %s failed: %s%s",
                    self._describe_url(),
                    flight.error,
                    "; serving the last good keys" if serving_stale else "",
                )
        finally:
            # Whatever happened above, the waiters are released and a new flight may start.
            with self._lock:
                if self._flight is flight:
                    self._flight = None
            flight.done.set()

    def _fetch(self) -> KeySet:
        deadline = time.monotonic() + self.timeout
        with self._lock:
            self._fetches += 1
        url = self._jwks_url or self._discover(deadline)
        try:
            document = self._get_json(url, deadline)
            keys = load_jwks(document, source=url)
        except ValueError as exc:
            raise FetchError(f"{url}: {exc}") from None
        except FetchError:
            if self._discovery_issuer is not None:
                self._jwks_url = None  # discover again next time: the URL may have moved
            raise
        if not keys.keys:
            raise FetchError(f"{url}: no usable signing key in the set")
        return keys

    def _get_json(self, url: str, deadline: float) -> Any:
        return get_json(
            self._session, url, deadline=deadline, max_bytes=self.max_bytes, timeout=self.timeout
        )

    def _discover(self, deadline: float) -> str:
        issuer = self._discovery_issuer
        assert issuer is not None
        where = discovery_url(issuer)
        document = self._get_json(where, deadline)
        if not isinstance(document, dict):
            raise FetchError(f"{where}: discovery document is not a JSON object")
        # OpenID Connect Discovery 1.0 §4.3: the issuer value MUST match exactly.
        if document.get("issuer") != issuer:
            raise FetchError(
                f"{where}: discovery issuer {loggable(document.get('issuer'))} "
                f"does not equal the configured issuer {issuer!r}"
            )
        try:
            url = check_discovered_jwks_uri(document.get("jwks_uri"), issuer)
        except ConfigurationError as exc:  # its message is log-safe
            raise FetchError(f"{where}: {exc}") from None
        except Exception as exc:  # pragma: no cover - fail closed on any surprise
            raise FetchError(f"{where}: jwks_uri refused ({type(exc).__name__})") from None
        self._note_cross_host(url, issuer)
        self._jwks_url = url
        return url

    def _note_cross_host(self, url: str, issuer: str) -> None:
        """Log, once per cache and URL, a jwks_uri on another host than the issuer's.

        Legitimate (Google's keys live on www.googleapis.com) but worth an operator's
        glance: the keys that verify every token come from a host the configuration
        never named.
        """
        if on_issuer_host(url, issuer):
            return
        with self._lock:
            if self._warned_jwks_uri == url:
                return
            self._warned_jwks_uri = url
        log.warning(
            "the discovery document of issuer %s names keys on another host: jwks_uri %s",
            loggable(issuer),
            loggable(url),
        )
