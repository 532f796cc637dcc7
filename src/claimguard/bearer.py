"""Read a bearer token from an ``Authorization`` header value (RFC 6750 §2.1).

The grammar is::

    credentials = "Bearer" 1*SP b64token
    b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="

This module tells three situations apart, because RFC 6750 §3.1 answers them
differently:

* no credentials at all (no header, an empty one, another scheme such as ``Basic``, or
  ``DPoP`` where DPoP is off) → :class:`~claimguard.errors.MissingTokenError` (401, bare
  challenge);
* a malformed request (``Bearer`` with no token, extra parts, characters outside
  b64token, several credentials folded into one value, a token both in the query
  string and in the header) → :class:`~claimguard.errors.InvalidRequestError` (400);
* a well-formed token that is too large → :class:`~claimguard.errors.InvalidTokenError`.
"""

from __future__ import annotations

import re

from .errors import InvalidRequestError
from .errors import InvalidTokenError
from .errors import MissingTokenError

__all__ = ["BEARER", "DPOP", "MAX_TOKEN_BYTES", "parse_authorization", "parse_credentials"]

#: The schemes, as :func:`parse_credentials` names them.
BEARER = "Bearer"
DPOP = "DPoP"
# Auth-scheme names are case-insensitive (RFC 9110 §11.1).
_SCHEMES = {"bearer": BEARER}
_SCHEMES_WITH_DPOP = {"bearer": BEARER, "dpop": DPOP}

#: Largest token accepted, in bytes (check order, step 1). Larger ones are refused before
#: any parsing, so a huge header costs a length check only.
MAX_TOKEN_BYTES = 8192

# RFC 6750 §2.1 b64token.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# RFC 9110 §11.1: auth-scheme = token (tchar); the rest of the credentials follows.
_CREDENTIALS = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]*)(.*)", re.DOTALL)
# Optional white space around a field value (RFC 9110 §5.5): SP and HTAB.
_OWS = " \t"
# The common shape, "Bearer <b64token>" with one space: matched in one step. Anything
# else (other spacing, another scheme, folded values) takes the general path below.
_PLAIN_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9\-._~+/]+=*)")


def parse_authorization(value: str | bytes | None, *, query_token: bool = False) -> str:
    """Return the bearer token carried by an ``Authorization`` header value.

    The ``Bearer`` scheme only: see :func:`parse_credentials` for ``DPoP`` as well.

    :param value: the header value as received, or ``None`` when the header is absent.
        Servers fold repeated headers into one comma-separated value; such a value is
        refused as several credentials. Raw ``bytes`` (as ASGI servers hand them over)
        are read as ISO-8859-1 (RFC 9110 §5.5), so any non-ASCII byte then fails the
        b64token grammar.
    :param query_token: whether the request also carried an ``access_token`` query
        parameter. claimguard reads tokens from the header only; a query token beside
        a header token makes the request ambiguous (RFC 6750 §2: clients "MUST NOT use
        more than one method to transmit the token").
    :raises MissingTokenError: no bearer credentials were sent.
    :raises InvalidRequestError: the header is malformed.
    :raises InvalidTokenError: the token exceeds :data:`MAX_TOKEN_BYTES`.
    """
    return parse_credentials(value, query_token=query_token)[1]


def parse_credentials(
    value: str | bytes | None, *, query_token: bool = False, dpop: bool = False
) -> tuple[str, str]:
    """Return the scheme (``"Bearer"`` or ``"DPoP"``) and the token of an
    ``Authorization`` header value.

    With ``dpop=False`` the ``DPoP`` scheme counts as no credentials, as any other
    scheme. With ``dpop=True`` it takes the same token grammar as ``Bearer`` (RFC 9449
    §7.1: ``token68``), and the same refusals apply to it.

    :raises MissingTokenError: no credentials of an accepted scheme were sent.
    :raises InvalidRequestError: the header is malformed.
    :raises InvalidTokenError: the token exceeds :data:`MAX_TOKEN_BYTES`.
    """
    if type(value) is str and not query_token and len(value) <= MAX_TOKEN_BYTES + 7:
        plain = _PLAIN_BEARER.fullmatch(value)
        if plain is not None:
            return BEARER, plain.group(1)
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    elif value is not None and not isinstance(value, str):
        raise InvalidRequestError(detail=f"Authorization value of type {type(value).__name__}")
    if value is None or not value.strip(_OWS):
        raise MissingTokenError(detail="no Authorization header")
    value = value.strip(_OWS)
    accepted = _SCHEMES_WITH_DPOP if dpop else _SCHEMES
    scheme, rest = _split_scheme(value)
    known = accepted.get(scheme.lower())

    if "," in value:
        # Several credentials in one value: repeated headers folded by the server
        # (RFC 9110 §5.3), or a client sending two schemes at once.
        if known is not None or _mentions(value, accepted):
            raise InvalidRequestError(
                reason="request.several_credentials",
                detail="several credentials in the Authorization header",
            )
        raise MissingTokenError(detail="Authorization header uses another scheme")
    if known is None:
        raise MissingTokenError(detail="Authorization header uses another scheme")
    if query_token:
        raise InvalidRequestError(
            reason="request.several_methods",
            detail="token both in the Authorization header and the access_token parameter",
        )
    if not rest:
        raise InvalidRequestError(
            reason="request.empty_token", detail=f"{known} scheme without a token"
        )
    # RFC 6750 §2.1: "Bearer" 1*SP b64token (RFC 9449 §7.1: the same for DPoP). At least
    # one space must separate the scheme from the token. The scheme ends at the first
    # character that is not a tchar, and "/" is a b64token character but no tchar:
    # without this check "Bearer/abc" would yield the token "/abc". A tab, a line break
    # or anything else after the spaces is left in place and fails the grammar below.
    if not rest.startswith(" "):
        raise InvalidRequestError(
            reason="request.malformed",
            detail=f"no space between the {known} scheme and the token",
        )
    token = rest.lstrip(" ")
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidTokenError(
            reason="token.too_large",
            detail=f"token of {len(token)} characters exceeds {MAX_TOKEN_BYTES}",
        )
    if _B64TOKEN.fullmatch(token) is None:
        raise InvalidRequestError(
            reason="request.malformed",
            detail="token has characters outside RFC 6750 b64token, or extra parts",
        )
    return known, token


def _split_scheme(value: str) -> tuple[str, str]:
    """Split credentials into the auth-scheme and everything after it."""
    match = _CREDENTIALS.match(value)
    assert match is not None  # both groups accept the empty string
    return match.group(1), match.group(2)


def _mentions(value: str, accepted: dict[str, str]) -> bool:
    return any(_split_scheme(part.strip(_OWS))[0].lower() in accepted for part in value.split(","))
