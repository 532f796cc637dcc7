"""Stateless DPoP server nonces (RFC 9449 §8, §9).

A server that wants proofs to be fresh by its own clock, not the client's, hands out a
nonce in the ``DPoP-Nonce`` header and demands it in the next proofs. Keeping every
nonce issued would need shared state across processes; instead a nonce here is a MAC of
the current *time step*::

    nonce = base64url(HMAC-SHA256(secret, "claimguard-dpop-nonce:" || step))
    step  = floor(now / step_seconds)

Every process sharing the secret computes the same nonce for the same step, and checks
one by recomputing the MACs of the current and the previous step: a nonce lives from
one to two steps (60-120 s by default). Nothing is stored, nothing to share but the
secret.

The nonce tells nothing but "this server made it recently". It is not tied to a client:
RFC 9449 §8 leaves the content to the server, and freshness is what it is for here. The
replay store (:mod:`claimguard.replay`) still stops the same proof being used twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math

from .errors import ConfigurationError

__all__ = ["MIN_SECRET_BYTES", "DPoPNonces"]

#: Shortest secret accepted: 256 bits, the output size of SHA-256 (RFC 2104 §3).
MIN_SECRET_BYTES = 32
_LABEL = b"claimguard-dpop-nonce:"


class DPoPNonces:
    """Issue and check stateless DPoP nonces.

    ::

        nonces = DPoPNonces(secret)          # the same secret in every process
        response.headers["DPoP-Nonce"] = nonces.issue(time.time())
        ...
        nonces.check(proof_nonce, time.time())   # True for this step's or the last one's

    :param secret: at least :data:`MIN_SECRET_BYTES` random bytes (``secrets.token_bytes``).
        Changing it invalidates every nonce out there: clients get ``use_dpop_nonce``
        once and retry with a new one.
    :param step: seconds per time step; a nonce is accepted for one to two steps.
    :raises ConfigurationError: the secret is short or the step not a positive number.
    """

    def __init__(self, secret: bytes, *, step: float = 60.0) -> None:
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                f"the DPoP nonce secret must be at least {MIN_SECRET_BYTES} random bytes "
                "(e.g. secrets.token_bytes(32)), the same in every process"
            )
        if isinstance(step, bool) or not isinstance(step, (int, float)):
            raise ConfigurationError("the DPoP nonce step must be a number of seconds")
        if not math.isfinite(step) or step <= 0:
            raise ConfigurationError("the DPoP nonce step must be a positive number of seconds")
        self._secret = secret
        self.step = float(step)

    def _step_of(self, now: float) -> int:
        return math.floor(now / self.step)

    def _mac(self, step: int) -> bytes:
        message = _LABEL + str(step).encode("ascii")
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=")

    def issue(self, now: float) -> str:
        """The nonce for the step ``now`` (seconds since the epoch) falls in.

        Its characters are base64url, within RFC 9449 §8.1's ``NQCHAR``.
        """
        return self._mac(self._step_of(now)).decode("ascii")

    def valid_until(self, nonce: object, now: float) -> float | None:
        """When ``nonce`` stops being accepted, or ``None`` if it is not accepted now.

        Both candidate MACs are always computed and compared in constant time
        (:func:`hmac.compare_digest`), so timing does not tell how close a guess was, nor
        which step matched.
        """
        if not isinstance(nonce, str):
            return None
        try:
            given = nonce.encode("ascii")
        except UnicodeEncodeError:
            return None
        current = self._step_of(now)
        is_current = hmac.compare_digest(given, self._mac(current))
        is_previous = hmac.compare_digest(given, self._mac(current - 1))
        if is_current:
            return (current + 2) * self.step
        if is_previous:
            return (current + 1) * self.step
        return None

    def check(self, nonce: object, now: float) -> bool:
        """Whether ``nonce`` was issued in the current or the previous step."""
        return self.valid_until(nonce, now) is not None
