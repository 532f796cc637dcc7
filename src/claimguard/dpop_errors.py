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

:data:`DPOP_REASONS` lists the rows these codes add to :data:`claimguard.reasons.REASONS`;
until they are merged into that table, the classes here read their sentences from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .errors import ClaimGuardError
from .errors import InvalidRequestError
from .errors import InvalidTokenError
from .errors import _challenge_safe
from .errors import _whole_seconds
from .reasons import Reason

__all__ = [
    "DPOP_REASONS",
    "DPoPNonceError",
    "DPoPProofError",
    "DPoPRequestError",
    "DPoPStoreUnavailableError",
    "DPoPTokenError",
]

_INVALID_PROOF = "The DPoP proof is invalid."
_NONCE = "The DPoP proof must carry a fresh server nonce."

#: The reason codes of DPoP refusals: code, HTTP status, public sentence, fix.
DPOP_REASONS: tuple[Reason, ...] = (
    # -- the DPoP header (RFC 9449 §4.3 steps 1-2) → 400 invalid_request ---------------
    Reason(
        "dpop.missing",
        400,
        "The request has no DPoP proof.",
        "A DPoP-bound token needs a DPoP header holding a proof made for this request.",
    ),
    Reason(
        "dpop.several",
        400,
        "The request carries more than one DPoP proof.",
        "Send exactly one DPoP header; a proxy may have added a second one.",
    ),
    Reason(
        "dpop.malformed",
        400,
        "The DPoP proof is malformed.",
        "The DPoP header must hold one signed compact JWT (three base64url parts).",
    ),
    # -- the proof (RFC 9449 §4.3 steps 3-12) → 401 invalid_dpop_proof -----------------
    Reason(
        "dpop.invalid",
        401,
        _INVALID_PROOF,
        "A refusal raised without a more precise reason: read the log detail.",
    ),
    Reason(
        "dpop.type",
        401,
        _INVALID_PROOF,
        "The proof's typ header must be exactly 'dpop+jwt'.",
    ),
    Reason(
        "dpop.algorithm",
        401,
        "The DPoP proof uses an unsupported algorithm.",
        "Sign proofs with an allowed asymmetric algorithm (ES256 or EdDSA by default) "
        "that fits the key in the jwk header.",
    ),
    Reason(
        "dpop.key",
        401,
        _INVALID_PROOF,
        "The jwk header must be a usable public key (EC P-256/384/521, Ed25519 or RSA "
        "2048-8192 bits), never a private or symmetric one.",
    ),
    Reason(
        "dpop.signature",
        401,
        "The DPoP proof signature is invalid.",
        "Sign the proof with the private key of the jwk it carries.",
    ),
    Reason(
        "dpop.method",
        401,
        _INVALID_PROOF,
        "The proof's htm must be the request's HTTP method, exactly (e.g. 'POST').",
    ),
    Reason(
        "dpop.url",
        401,
        _INVALID_PROOF,
        "The proof's htu must be the URL the request was sent to, without query and "
        "fragment; behind a proxy, check the scheme and host the server sees.",
    ),
    Reason(
        "dpop.iat",
        401,
        "The DPoP proof is too old or not valid yet.",
        "Make a new proof for each request; if fresh proofs fail, check the clocks.",
    ),
    Reason(
        "dpop.jti",
        401,
        _INVALID_PROOF,
        "The proof's jti must be a unique string of 1 to 256 characters.",
    ),
    Reason(
        "dpop.ath",
        401,
        _INVALID_PROOF,
        "The proof's ath must be the base64url SHA-256 hash of the access token sent.",
    ),
    Reason(
        "dpop.binding",
        401,
        "The DPoP proof key does not match the access token.",
        "Sign proofs with the key the token was bound to when it was issued.",
    ),
    Reason(
        "dpop.replay",
        401,
        "The DPoP proof was already used.",
        "Make a new proof, with a new jti, for every request, retries included.",
    ),
    # -- server nonces (RFC 9449 §8, §9) → 401 use_dpop_nonce ---------------------------
    Reason(
        "dpop.nonce_required",
        401,
        _NONCE,
        "This server requires nonces: retry with the nonce of the DPoP-Nonce header.",
    ),
    Reason(
        "dpop.nonce",
        401,
        _NONCE,
        "The proof's nonce is stale or not this server's: retry with the nonce of the "
        "DPoP-Nonce header.",
    ),
    # -- the token -----------------------------------------------------------------------
    Reason(
        "token.unbound",
        401,
        "The access token is not bound to a DPoP key.",
        "The DPoP scheme needs a token whose cnf claim holds a jkt: request the token "
        "with a DPoP proof.",
    ),
    # -- our side ------------------------------------------------------------------------
    Reason(
        "dpop.store_unavailable",
        503,
        "The DPoP proof cannot be checked right now.",
        "The replay store (Redis) does not answer: check the server's connection to it. "
        "Clients may retry after Retry-After.",
    ),
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
    """The ``WWW-Authenticate: DPoP …`` challenge of RFC 9449 §7.1, for the classes below."""

    #: Space-separated algorithms the server accepts for proofs (the ``algs`` parameter).
    algs: str | None = None

    def www_authenticate(self, realm: str) -> str:
        parts = [f'DPoP realm="{_challenge_safe(realm)}"']
        error = getattr(self, "error", None)
        if error is not None:
            parts.append(f'error="{error}"')
            parts.append(f'error_description="{getattr(self, "description", "")}"')
        if self.algs:
            parts.append(f'algs="{_challenge_safe(self.algs)}"')
        return ", ".join(parts)


class DPoPRequestError(DPoPChallenge, InvalidRequestError):
    """No DPoP header, several, or one that is not a compact JWS (400 ``invalid_request``)."""

    default_reason = "dpop.malformed"
    default_description = _ROWS["dpop.malformed"].sentence

    def __init__(self, *, reason: str | None = None, detail: str | None = None) -> None:
        row = _row(reason or self.default_reason, self.status_code)
        super().__init__(row.sentence, detail=detail, reason=row.code)


class DPoPProofError(DPoPChallenge, InvalidTokenError):
    """The DPoP proof is refused (RFC 9449 §7.1: 401 ``invalid_dpop_proof``)."""

    error = "invalid_dpop_proof"
    default_reason = "dpop.invalid"
    default_description = _INVALID_PROOF

    def __init__(self, *, reason: str | None = None, detail: str | None = None) -> None:
        row = _row(reason or self.default_reason, self.status_code)
        super().__init__(row.sentence, detail=detail, reason=row.code)


class DPoPNonceError(DPoPProofError):
    """The proof lacks a server nonce, or carries a stale one (RFC 9449 §9:
    401 ``use_dpop_nonce``). :attr:`nonce` is the fresh nonce to send in the answer's
    ``DPoP-Nonce`` header."""

    error = "use_dpop_nonce"
    default_reason = "dpop.nonce"
    default_description = _NONCE

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

    def __init__(self, *, reason: str | None = None, detail: str | None = None) -> None:
        row = _row(reason or self.default_reason, self.status_code)
        super().__init__(row.sentence, detail=detail, reason=row.code)


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
