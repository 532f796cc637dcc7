"""Replay stores: remember which DPoP proofs were used, for as long as they could be.

RFC 9449 §11.1: a resource server stops a captured proof from being replayed by keeping
each proof's ``jti`` for as long as the proof would be accepted, and refusing it when it
comes back. A store answers one question, atomically: "is this key new? then remember
it for ``ttl`` seconds".

* :class:`MemoryReplayStore`: in one process. Enough for one process; with several
  (gunicorn workers, replicas), a proof refused by one would be accepted by another.
* :class:`RedisReplayStore`: shared by every process using one Redis, with one atomic
  ``SET key 1 NX EX ttl`` per proof.

A store that cannot answer raises :class:`~claimguard.dpop_errors.DPoPStoreUnavailableError`
(503): a proof whose novelty is unknown is never accepted.
"""

from __future__ import annotations

import heapq
import importlib
import threading
import time
from collections.abc import Callable
from typing import Any
from typing import Protocol
from typing import runtime_checkable

from .dpop_errors import DPoPStoreUnavailableError
from .errors import ConfigurationError
from .errors import loggable

__all__ = ["MemoryReplayStore", "RedisReplayStore", "ReplayStore"]

#: Default bound of a :class:`MemoryReplayStore`.
DEFAULT_MAX_ENTRIES = 100_000
#: Seconds a Redis connect or command may take before the store counts as unavailable.
DEFAULT_REDIS_TIMEOUT = 0.5


@runtime_checkable
class ReplayStore(Protocol):
    """What the DPoP verifier needs of a replay store."""

    def claim(self, key: str, ttl: int) -> bool:
        """Record ``key`` for ``ttl`` seconds if it is new.

        :returns: ``True`` the first time a key is claimed within its ``ttl``; ``False``
            while it is still remembered (a replay).
        :raises DPoPStoreUnavailableError: the store cannot answer.
        """
        ...


def _check_ttl(ttl: int) -> None:
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
        raise ValueError(f"ttl must be a whole number of seconds >= 1, got {ttl!r}")


class MemoryReplayStore:
    """A bounded, thread-safe replay store in this process's memory.

    Each key is kept until its ``ttl`` has passed, then forgotten (lazily, on later
    claims: a heap ordered by expiry finds what has expired without scanning).

    **When full.** If ``max_entries`` keys are all still live, a new claim raises
    :class:`~claimguard.dpop_errors.DPoPStoreUnavailableError` (503) instead of
    evicting one. Evicting a live key would make its proof replayable again, silently;
    refusing is loud, and recovers by itself as keys expire (within the proof window,
    5 minutes by default). The bound is there so that a flood of proofs costs a
    bounded amount of memory; size it above the proofs you accept per window (100,000
    by default: about 30 MB).

    **One client's share.** A claim for a client that already holds
    ``max_per_client`` live keys is refused the same way (keys of the form
    ``dpop:<client>:<proof>``, as :func:`claimguard.dpop.replay_key` makes them): one
    client flooding the store is refused before it fills the store for everyone.

    :param max_entries: the most keys remembered at once.
    :param max_per_client: the most keys one client may hold at once (by default an
        eighth of ``max_entries``).
    :param clock: monotonic seconds (a seam for tests).
    """

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        *,
        max_per_client: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_per_client is None:
            max_per_client = max(1, max_entries // 8) if isinstance(max_entries, int) else 0
        for name, value in (("max_entries", max_entries), ("max_per_client", max_per_client)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"MemoryReplayStore {name} must be a positive integer")
        self.max_entries = max_entries
        self.max_per_client = max_per_client
        self._per_client: dict[str, int] = {}
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        """The keys remembered now (expired ones included until the next claim)."""
        return len(self._expiry)

    def claim(self, key: str, ttl: int) -> bool:
        """Remember ``key`` for ``ttl`` seconds; ``False`` if it is still remembered.

        :raises DPoPStoreUnavailableError: the store is full of live keys.
        """
        _check_ttl(ttl)
        with self._lock:
            now = self._clock()
            self._forget_expired(now)
            if key in self._expiry:
                return False
            if len(self._expiry) >= self.max_entries:
                raise DPoPStoreUnavailableError(
                    detail=f"in-memory replay store full: {self.max_entries} live proofs "
                    "(raise max_entries, or use a shared RedisReplayStore)",
                    retry_after=ttl,
                )
            client = _client_of(key)
            held = self._per_client.get(client, 0) if client else 0
            if client and held >= self.max_per_client:
                raise DPoPStoreUnavailableError(
                    detail=f"one client key holds {held} live proofs in the in-memory "
                    "replay store, its limit (max_per_client)",
                    retry_after=ttl,
                )
            expiry = now + ttl
            self._expiry[key] = expiry
            heapq.heappush(self._heap, (expiry, key))
            if client:
                self._per_client[client] = held + 1
            return True

    def _forget_expired(self, now: float) -> None:
        # Each key is pushed once per claim and popped once: the heap never outgrows the
        # dict by more than the keys claimed since they expired.
        heap = self._heap
        while heap and heap[0][0] <= now:
            expiry, key = heapq.heappop(heap)
            if self._expiry.get(key) == expiry:
                del self._expiry[key]
                self._release(_client_of(key))

    def _release(self, client: str) -> None:
        if not client:
            return
        left = self._per_client[client] - 1
        if left:
            self._per_client[client] = left
        else:
            del self._per_client[client]


def _client_of(key: str) -> str:
    """The client part of a ``dpop:<client>:<proof>`` key; ``""`` for any other key."""
    prefix, _, rest = key.partition(":")
    client, separator, _ = rest.partition(":")
    return client if prefix == "dpop" and separator else ""


def _import_redis() -> Any:
    """redis-py, imported on first use: the core does not depend on it."""
    try:
        return importlib.import_module("redis")
    except ImportError as exc:
        raise ConfigurationError(
            "RedisReplayStore needs the redis package: pip install 'flask-claimguard[redis]'"
        ) from exc


class RedisReplayStore:
    """A replay store in Redis, shared by every process and host that uses it.

    One command per proof, atomic on the server: ``SET <key> 1 NX EX <ttl>`` sets the key
    only if it does not exist, with its expiry, and says whether it did. Two processes
    claiming one key at once cannot both win.

    Redis must keep keys until they expire: with ``maxmemory-policy`` ``noeviction``
    (writes then fail, and proofs are refused with 503) or a ``volatile-ttl`` policy,
    never an ``allkeys-*`` one, which could evict a live key.

    :param url_or_client: a ``redis://`` / ``rediss://`` / ``unix://`` URL, or a
        ``redis.Redis`` client you configured (its timeouts and retries are then
        yours: keep them short, a proof waits for this answer).
    :param timeout: seconds for connecting and for each command, when given a URL.
    :raises ConfigurationError: redis-py is not installed.
    """

    def __init__(self, url_or_client: Any, *, timeout: float = DEFAULT_REDIS_TIMEOUT) -> None:
        redis = _import_redis()
        self._errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
        if isinstance(url_or_client, str):
            # No retries: a retry after a timeout would double the wait, and a proof
            # that cannot be checked quickly is better refused with 503.
            no_retry = redis.retry.Retry(redis.backoff.NoBackoff(), 0)
            self._client = redis.Redis.from_url(
                url_or_client,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry_on_timeout=False,
                retry=no_retry,
            )
            self._owned = True
        else:
            self._client = url_or_client
            self._owned = False

    @property
    def client(self) -> Any:
        """The ``redis.Redis`` client used."""
        return self._client

    def claim(self, key: str, ttl: int) -> bool:
        """Remember ``key`` for ``ttl`` seconds in Redis; ``False`` if it is already there.

        :raises DPoPStoreUnavailableError: Redis cannot be reached, timed out or refused
            the write.
        """
        _check_ttl(ttl)
        try:
            created = self._client.set(key, b"1", nx=True, ex=ttl)
        except self._errors as exc:
            raise DPoPStoreUnavailableError(
                detail=f"Redis replay store unavailable: {type(exc).__name__}: {loggable(str(exc))}"
            ) from exc
        # SET … NX answers OK (True) when it set the key and nil (None) when it existed.
        return bool(created)

    def close(self) -> None:
        """Close the connections of a client this store built (not one passed in)."""
        if self._owned:
            self._client.close()
