"""What a refused DPoP proof (RFC 9449) means on the wire, and the reason codes for it.

The classes here extend :mod:`claimguard.errors`::

    InvalidRequestError
    └── DPoPRequestError            no, several or unreadable DPoP headers → 400 invalid_request
    InvalidTokenError
    ├── DPoPProofError              the proof is refused            → 401 invalid_dpop_proof
    │   └── DPoPNonceError          a (fresh) server nonce is needed → 401 use_dpop_nonce
    └── DPoPTokenError              the token is not DPoP-bound      → 401 invalid_token
    ClaimGuardError
    └── DPoPStoreUnavailableError   the replay store cannot answer   → 503 + Retry-After

Each refusal carries a ``dpop.*`` (or ``token.unbound``) reason code of
:data:`DPOP_REASONS`, whose fixed sentence is the public ``description``, exactly as
for the bearer refusals. Their challenges use the ``DPoP`` scheme (RFC 9449 §7.1), with
the ``algs`` parameter when the verifier set :attr:`DPoPChallenge.algs`.

:data:`DPOP_REASONS` lists their rows of :data:`claimguard.reasons.REASONS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .errors import ClaimGuardError
from .errors import InvalidRequestError
from .errors import InvalidTokenError
from .errors import _whole_seconds
from .reasons import REASONS
from .reasons import Reason

__all__ = [
    "DPOP_REASONS",
    "DPoPNonceError",
    "DPoPProofError",
    "DPoPRequestError",
    "DPoPStoreUnavailableError",
    "DPoPTokenError",
]

# The token-side codes of DPoP: the validator refuses an unbound token sent with the DPoP
# scheme (token.unbound, and a bound one sent as Bearer as token.bound); the Flask layer
# refuses a Bearer token where DPoP is required (token.dpop_required).
_TOKEN_CODES = frozenset({"token.unbound", "token.dpop_required"})

#: The reason codes of DPoP refusals (rows of :data:`claimguard.reasons.REASONS`).
DPOP_REASONS: tuple[Reason, ...] = tuple(
    row for code, row in REASONS.items() if code.startswith("dpop.") or code in _TOKEN_CODES
)

_ROWS: Mapping[str, Reason] = MappingProxyType({row.code: row for row in DPOP_REASONS})


def _row(code: str, status: int) -> Reason:
    """The row of ``code``, which must answer ``status``.

    :raises ValueError: ``code`` is no DPoP reason, or one of another status.
    """
    row = _ROWS.get(code)
    if row is None:
        raise ValueError(f"unknown DPoP reason code {code!r}")
    if row.status != status:
        raise ValueError(f"reason {code!r} answers {row.status}, not {status}")
    return row


class DPoPChallenge:
    """Marks the errors answered with a ``WWW-Authenticate: DPoP …`` challenge (RFC 9449
    §7.1), which names the proof algorithms in ``algs`` once the verifier set them."""

    scheme = "DPoP"
    #: Space-separated algorithms the server accepts for proofs (the ``algs`` parameter).
    algs: str | None = None
    # Given by the error class each subclass also derives from.
    status_code: int
    default_reason: str

    def __init__(self, *, reason: str | None = None, detail: str | None = None) -> None:
        # The code must be a DPoP row of the reason table, answering the class's status.
        row = _row(reason or self.default_reason, self.status_code)
        super().__init__(row.sentence, detail=detail, reason=row.code)  # type: ignore[call-arg]


class DPoPRequestError(DPoPChallenge, InvalidRequestError):
    """No DPoP header, several, or one that is not a compact JWS (400 ``invalid_request``)."""

    default_reason = "dpop.malformed"
    default_description = _ROWS["dpop.malformed"].sentence


class DPoPProofError(DPoPChallenge, InvalidTokenError):
    """The DPoP proof is refused (RFC 9449 §7.1: 401 ``invalid_dpop_proof``)."""

    error = "invalid_dpop_proof"
    default_reason = "dpop.invalid"
    default_description = _ROWS["dpop.invalid"].sentence


class DPoPNonceError(DPoPProofError):
    """The proof lacks a server nonce, or carries a stale one (RFC 9449 §9:
    401 ``use_dpop_nonce``). :attr:`nonce` is the fresh nonce to send in the answer's
    ``DPoP-Nonce`` header."""

    error = "use_dpop_nonce"
    default_reason = "dpop.nonce"
    default_description = _ROWS["dpop.nonce"].sentence

    def __init__(
        self, *, reason: str | None = None, detail: str | None = None, nonce: str | None = None
    ) -> None:
        super().__init__(reason=reason, detail=detail)
        #: The nonce the client must use next (the ``DPoP-Nonce`` header, RFC 9449 §8.1).
        self.nonce = nonce


class DPoPTokenError(DPoPChallenge, InvalidTokenError):
    """The access token cannot be used with DPoP: it is not bound to a key (401
    ``invalid_token``)."""

    default_reason = "token.unbound"
    default_description = _ROWS["token.unbound"].sentence


class DPoPStoreUnavailableError(ClaimGuardError):
    """The replay store cannot say whether a proof is new: our failure, answered 503 with
    ``Retry-After``. Never a pass: an unchecked proof could be a replayed one."""

    status_code = 503
    error = "temporarily_unavailable"
    default_reason = "dpop.store_unavailable"
    default_description = _ROWS["dpop.store_unavailable"].sentence

    def __init__(self, *, detail: str | None = None, retry_after: int = 5) -> None:
        row = _ROWS[self.default_reason]
        super().__init__(row.sentence, detail=detail, reason=row.code)
        #: Whole seconds until a retry may succeed (RFC 9110 §10.2.3), at least 1.
        self.retry_after = _whole_seconds(retry_after)
