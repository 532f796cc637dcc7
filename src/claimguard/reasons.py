"""Reason codes: why a request was refused, as a stable, machine-readable name.

Every error claimguard raises carries one in ``error.reason``. The code is what logs
(``reason=token.audience``), tests and tools rely on; :data:`REASONS` maps each code to
the HTTP status of the answer, the fixed sentence the client is sent as
``error_description`` (``str(error)``), and the fix, for the operator. Codes are stable:
a new cause gets a new code, a code never changes meaning.

Several codes may share one sentence (``token.expired`` and ``token.max_age``): the
client learns no more than the sentence says, the log and the tools learn exactly which
check failed.

A code names the part of the exchange at fault, then the fault:

* ``request.*``: the ``Authorization`` header (RFC 6750 §2.1);
* ``token.*``: the token itself (shape, header, signature, claims);
* ``key.*``: the one key the token names; ``keys.*``: the issuer's key set as a whole;
* ``roles.*``, ``scopes.*``, ``permissions.*``: what the route requires of a valid token;
* ``config.*``, ``server.*``: our side.

This module imports nothing: :mod:`claimguard.errors` builds on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["REASONS", "Reason", "sentence"]


@dataclass(frozen=True)
class Reason:
    """One cause of refusal."""

    #: The stable code, e.g. ``token.audience``.
    code: str
    #: The HTTP status of the answer.
    status: int
    #: The public sentence: ``error_description`` in the answer, and ``str(error)``.
    sentence: str
    #: What to change, for the operator (logs, documentation, tools); never sent.
    fix: str


_ALGORITHM = "The access token uses an unsupported algorithm."
_EXPIRED = "The access token expired."
_MALFORMED = "The access token is malformed."
_UNAUTHORIZED = "The request could not be authorized."
_INVALID_PROOF = "The DPoP proof is invalid."
_NONCE = "The DPoP proof must carry a fresh server nonce."

#: The reason codes of DPoP refusals: code, HTTP status, public sentence, fix.

_TABLE = (
    # -- our side ------------------------------------------------------------------------
    Reason(
        "server.error",
        500,
        _UNAUTHORIZED,
        "An unexpected failure on the server: read the log line of this request.",
    ),
    Reason(
        "config.invalid",
        500,
        "The server's authorization settings are misconfigured.",
        "Read the ConfigurationError in the log and correct that CLAIMGUARD_* setting.",
    ),
    Reason(
        "keys.unavailable",
        503,
        "The signing keys are temporarily unavailable.",
        "The issuer's key set cannot be fetched: check the network path to its JWKS URL. "
        "Clients may retry after Retry-After.",
    ),
    # -- the Authorization header (RFC 6750 §2.1, §3.1) ------------------------------------
    Reason(
        "request.unauthorized",
        401,
        _UNAUTHORIZED,
        "A refusal raised without a more precise reason: read the log detail.",
    ),
    Reason(
        "request.no_credentials",
        401,
        "An access token is required.",
        "Send the header 'Authorization: Bearer <access token>'.",
    ),
    Reason(
        "request.malformed",
        400,
        "The Authorization header is malformed.",
        "Send exactly 'Bearer', one space and the token, with no other characters.",
    ),
    Reason(
        "request.empty_token",
        400,
        "The Authorization header has no token.",
        "The client sent 'Bearer' without a token: check that it obtained one.",
    ),
    Reason(
        "request.several_credentials",
        400,
        "The request carries more than one credential.",
        "Send one Authorization header with one credential; a proxy may add a second.",
    ),
    Reason(
        "request.several_methods",
        400,
        "The access token was sent in more than one way.",
        "Send the token in the Authorization header only, not also as ?access_token=.",
    ),
    # -- the token -------------------------------------------------------------------------
    Reason(
        "token.invalid",
        401,
        "The access token is invalid.",
        "A refusal raised without a more precise reason: read the log detail.",
    ),
    Reason(
        "token.too_large",
        401,
        "The access token is too large.",
        "Tokens are limited to 8 KiB: trim the custom claims an Action adds.",
    ),
    Reason(
        "token.malformed",
        401,
        _MALFORMED,
        "Not a well-formed signed JWT (an opaque token?): request the token with this "
        "API's identifier as audience.",
    ),
    Reason(
        "token.encrypted",
        401,
        _MALFORMED,
        "An encrypted token (JWE), which Auth0 issues when no audience was requested: "
        "request the token with this API's identifier as audience.",
    ),
    Reason(
        "token.algorithm",
        401,
        _ALGORITHM,
        "Sign with an algorithm listed in CLAIMGUARD_ALGORITHMS (Auth0: RS256).",
    ),
    Reason(
        "token.type",
        401,
        "The access token has an unsupported type.",
        "The typ header names another kind of JWT (an ID token, a logout token, a DPoP "
        "proof): send the access token. CLAIMGUARD_STRICT_TYP demands at+jwt.",
    ),
    Reason(
        "token.issuer",
        401,
        "The access token was issued by an untrusted issuer.",
        "Set CLAIMGUARD_ISSUER (or CLAIMGUARD_DOMAIN) to the token's exact iss, "
        "trailing slash included.",
    ),
    Reason(
        "key.unknown_kid",
        401,
        "The access token was signed by an unknown key.",
        "The kid is not in the issuer's key set, even after a refetch: a token of "
        "another tenant, or of a retired key.",
    ),
    Reason(
        "key.algorithm",
        401,
        _ALGORITHM,
        "The key the token names cannot verify its alg: check the key's type and alg.",
    ),
    Reason(
        "token.signature",
        401,
        "The access token signature is invalid.",
        "The token was altered, or signed by another key than the one its kid names.",
    ),
    Reason(
        "token.claims",
        401,
        "The access token has invalid claims.",
        "A required claim (sub, aud, exp, iat) is missing or not of its type.",
    ),
    Reason(
        "token.audience",
        401,
        "The access token is not meant for this API.",
        "Request the token with this API's identifier (CLAIMGUARD_AUDIENCE) as "
        "audience; an ID token is not an access token.",
    ),
    Reason(
        "token.expired",
        401,
        _EXPIRED,
        "Get a new token. If fresh tokens fail too, check this server's clock.",
    ),
    Reason(
        "token.max_age",
        401,
        _EXPIRED,
        "Issued longer ago than CLAIMGUARD_MAX_TOKEN_AGE allows: get a new token.",
    ),
    Reason(
        "token.not_yet_valid",
        401,
        "The access token is not valid yet.",
        "nbf or iat lies ahead: this server's clock is behind the issuer's (check NTP, "
        "or raise CLAIMGUARD_LEEWAY a little).",
    ),
    Reason(
        "token.client",
        401,
        "The access token was issued to a client that is not allowed.",
        "Call from a client listed in CLAIMGUARD_ALLOWED_CLIENTS, or list this one.",
    ),
    Reason(
        "token.bound",
        401,
        "The access token is bound to a key and cannot be used as a bearer token.",
        "The token carries cnf (DPoP or mTLS binding), which a Bearer API cannot honour.",
    ),
    # -- DPoP (RFC 9449): the proof, the DPoP header, the binding -------------------------
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
    Reason(
        "dpop.with_bearer",
        400,
        "A DPoP proof was sent with the Bearer scheme.",
        "Send a DPoP-bound token as 'Authorization: DPoP <token>' with its proof; a "
        "Bearer token needs no DPoP header.",
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
        "dpop.header",
        401,
        _INVALID_PROOF,
        "The proof's header may not carry crit, b64 or zip: no JWS extension is "
        "implemented for proofs.",
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
    Reason(
        "token.dpop_required",
        401,
        "This API requires a DPoP-bound access token.",
        "Request a DPoP-bound token (the client sends a DPoP proof to the token "
        "endpoint) and send it as 'Authorization: DPoP <token>' with a proof.",
    ),
    # -- our side ------------------------------------------------------------------------
    Reason(
        "dpop.store_unavailable",
        503,
        "The DPoP proof cannot be checked right now.",
        "The replay store (Redis) does not answer: check the server's connection to it. "
        "Clients may retry after Retry-After.",
    ),
    # -- what the route requires (RFC 6750 §3.1 insufficient_scope) ------------------------
    Reason(
        "roles.missing",
        403,
        "The access token lacks a required role.",
        "Assign the role, and have the Post-Login Action write the roles to the access "
        "token under CLAIMGUARD_ROLES_CLAIM.",
    ),
    Reason(
        "scopes.missing",
        403,
        "The access token lacks a required scope.",
        "Request the scope when getting the token, and allow it for the client.",
    ),
    Reason(
        "permissions.missing",
        403,
        "The access token lacks a required permission.",
        "Grant the permission, and turn on RBAC with permissions in the access token.",
    ),
)

#: Every reason code, mapped to its status, public sentence and fix.
REASONS: Mapping[str, Reason] = MappingProxyType({reason.code: reason for reason in _TABLE})
# Looked up on every refusal: a plain dict is the cheapest way there.
_SENTENCES = {reason.code: reason.sentence for reason in _TABLE}


def sentence(code: str) -> str:
    """The public sentence of ``code``.

    :raises ValueError: ``code`` is no reason code.
    """
    try:
        return _SENTENCES[code]
    except KeyError:
        raise ValueError(f"unknown reason code {code!r}") from None
