"""The verified-token cache: a repeated token costs a hash and a lookup.

A proxy such as a Next.js route sends the same access token for its whole lifetime, so
most requests carry a token that was verified before. The cache remembers, per
validator (never shared between apps):

* keyed by the whole token string itself (the string the entry's token holds anyway),
  so two tokens that differ in any character never share an entry: a lookup compares
  the full string once the hashes match;
* the :class:`~claimguard.VerifiedToken` (deeply frozen claims) and the thumbprint of
  the key that verified it, plus its ``exp``/``nbf``/``iat`` as numbers.

It never weakens a check:

* a hit counts only while the verifying key is still in its issuer's usable set, and
  the time checks (``exp``, ``nbf``, ``iat``, max age) run again *now*, on every hit;
* role, scope and permission checks are not cached at all: they run per request;
* failures are never cached;
* a successful key-set refresh drops the entries whose key left the set.

Its size is bounded (least recently used entries go first); ``0`` turns it off.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING
from typing import NamedTuple

from .forking import reset_after_fork
from .token import VerifiedToken

if TYPE_CHECKING:
    from .jwks import JWKSCache
    from .keys import KeySet

__all__ = ["CachedToken", "TokenCache"]


class CachedToken(NamedTuple):
    """One verified token and what a hit must re-check (one tuple per entry)."""

    token: VerifiedToken
    key_set: JWKSCache
    exp: float
    nbf: float | None
    iat: float
    #: Accepted as DPoP-bound (with the DPoP scheme), not as a bearer token.
    bound: bool = False


_all_caches: weakref.WeakSet[TokenCache] = weakref.WeakSet()


class TokenCache:
    """A bounded, thread-safe LRU of verified tokens keyed by the token string.

    An ``OrderedDict`` (in C) keeps the recency order: a hit and an insertion are a few
    dictionary operations, with no Python-level bookkeeping per entry.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, CachedToken] = OrderedDict()
        self._lock = threading.Lock()
        _all_caches.add(self)

    def _reset_after_fork(self) -> None:
        # A lock held by another thread at fork time (a key-set listener pruning entries)
        # would stay held forever in the child.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> CachedToken | None:
        """The entry for ``token`` if its key is still held, else ``None``."""
        entries = self._entries
        with self._lock:
            entry = entries.get(token)
            if entry is None:
                return None
            entries.move_to_end(token)
        if not entry.key_set.holds(entry.token.key_thumbprint):
            self.forget(token)
            return None
        return entry

    def put(self, token: str, entry: CachedToken) -> None:
        entries = self._entries
        with self._lock:
            entries[token] = entry
            entries.move_to_end(token)
            if len(entries) > self._size:
                entries.popitem(last=False)  # the least recently used

    def forget(self, token: str) -> None:
        with self._lock:
            self._entries.pop(token, None)

    def drop_removed_keys(self, source: JWKSCache, keys: KeySet) -> None:
        """Drop the entries ``source`` verified with a key no longer in ``keys``.

        Registered as a key-set listener: it runs in the fetching thread and must not
        raise.
        """
        current = keys.thumbprints
        with self._lock:
            gone = [
                token
                for token, entry in list(self._entries.items())
                if entry.key_set is source and entry.token.key_thumbprint not in current
            ]
            for token in gone:
                self._entries.pop(token, None)


reset_after_fork(_all_caches, TokenCache._reset_after_fork)
