"""What the tests expect of claimguard, shared by several suites: the fixed sentences
of the RFC 6750 answers (the only descriptions a client may ever see) and a clock the test moves
by hand (the ``clock=`` seams of ``TokenValidator`` and ``JWKSCache``)."""

from __future__ import annotations

ALGORITHM = "The access token uses an unsupported algorithm."
MALFORMED = "The access token is malformed."
ISSUER = "The access token was issued by an untrusted issuer."
SIGNATURE = "The access token signature is invalid."
UNKNOWN_KEY = "The access token was signed by an unknown key."
CLAIMS = "The access token has invalid claims."
AUDIENCE_MISMATCH = "The access token is not meant for this API."
NOT_YET = "The access token is not valid yet."
TYPE = "The access token has an unsupported type."
CLIENT = "The access token was issued to a client that is not allowed."
BOUND = "The access token is bound to a key and cannot be used as a bearer token."
TOO_LARGE = "The access token is too large."
EXPIRED = "The access token expired."

#: A fixed "now" (2027-01-15) for wall-clock tests.
T0 = 1_800_000_000.0


class ManualClock:
    """A clock that moves only when the test says so (wall or monotonic alike)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
