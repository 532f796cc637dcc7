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
