"""DPoP (RFC 9449) in a request: which scheme the client used, the URL its proof must
name, and the proof check, between the ``Authorization`` header and the route.

The mode comes from ``CLAIMGUARD_DPOP_MODE`` or a route's ``dpop=``:

* ``off``: the ``DPoP`` scheme counts as no credentials, and a token bound to a key
  (``cnf``) is refused, as a bearer token;
* ``allowed``: ``Bearer`` and ``DPoP`` both, each held to its own rules;
* ``required``: ``DPoP`` only.

No mode lets a bound token through as a bearer token (RFC 9449 §7.2): the validator
refuses ``cnf`` on the ``Bearer`` path whatever the mode. A proof sent with the
``Bearer`` scheme is a malformed request, and an unbound token with the ``DPoP``
scheme is refused.

The URL a proof must name (``htu``) is ``CLAIMGUARD_PUBLIC_URL`` plus the request path
when that is set (behind a proxy, the only trustworthy source), else the request's own
scheme, ``Host`` and path. A ``Host`` that is not a plain ``host[:port]`` is refused: a
path smuggled into it must not move a proof to another endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from urllib.parse import unquote_to_bytes

from werkzeug.sansio.utils import host_is_trusted

from .bearer import BEARER
from .bearer import DPOP
from .dpop import DPoPVerifier
from .dpop_errors import DPoPNonceError
from .dpop_errors import DPoPProofError
from .dpop_errors import DPoPRequestError
from .dpop_errors import DPoPTokenError
from .dpop_nonce import DPoPNonces
from .errors import loggable
from .token import VerifiedToken
from .validation import TokenValidator

__all__ = [
    "DPOP_ENVIRON_KEY",
    "RequestDPoP",
    "authenticate_bearer",
    "authenticate_dpop",
    "request_url",
]

#: The environ key of the request's :class:`RequestDPoP`.
DPOP_ENVIRON_KEY = "claimguard.dpop"

# RFC 9110 §7.2 Host = uri-host [ ":" port ]; uri-host as a registered name or an IP
# literal (RFC 3986 §3.2.2). Nothing else: no path, query, user info or white space.
# A reg-name may hold "_" and "~" (unreserved): container and service names often do.
_HOST = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_~](?:[A-Za-z0-9.\-_~]*[A-Za-z0-9_~])?)(?::[0-9]{1,5})?"
)
# RFC 3986 §3.3: what a path segment may hold unescaped (pchar) and the "/" between.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_DOT_SEGMENTS = frozenset({".", ".."})


@dataclass
class RequestDPoP:
    """What the answer to this request needs to know of DPoP."""

    #: The route's mode: ``off``, ``allowed`` or ``required``.
    mode: str
    #: The ``algs`` challenge parameter (RFC 9449 §7.1).
    algs: str
    #: The scheme the client used, once known (``Bearer`` or ``DPoP``).
    scheme: str | None = None
    #: A nonce to send in ``DPoP-Nonce`` (RFC 9449 §8.1).
    nonce: str | None = None


def request_url(
    environ: MutableMapping[str, Any],
    public_url: str | None,
    trusted_hosts: Collection[str] | None = None,
) -> str:
    """The URL a proof for this request must name: ``scheme://host[:port]/path``.

    The path is the one the app routes (``SCRIPT_NAME`` + ``PATH_INFO``), in the
    client's own encoding when the server passed the raw request target along
    (``RAW_URI``, ``REQUEST_URI``) and it decodes to that path, else re-encoded. A path
    with ``.`` or ``..`` segments is refused: the router sees them as names
    (``/orders/%2e%2e/cancel`` routes to an order called ``..``), while URL
    normalisation removes them (RFC 3986 §5.2.4), so a proof for one endpoint could be
    used on another.

    :param trusted_hosts: Flask's ``TRUSTED_HOSTS``: without a public URL, the
        ``Host`` must be one of them when set.
    :raises DPoPProofError: the path has dot segments, or the ``Host`` is not a plain
        ``host[:port]`` (or not a trusted one).
    """
    script = str(environ.get("SCRIPT_NAME", ""))
    path = str(environ.get("PATH_INFO", "")) or "/"
    if not _DOT_SEGMENTS.isdisjoint((script + path).split("/")):
        raise DPoPProofError(reason="dpop.url", detail="the request path has . or .. segments")
    if public_url is not None:
        return public_url + _encoded(path)
    host = environ.get("HTTP_HOST") or _server_host(environ)
    if not isinstance(host, str) or _HOST.fullmatch(host) is None:
        raise DPoPProofError(
            reason="dpop.url",
            detail=f"Host {loggable(host, 60)} is not host[:port]; set CLAIMGUARD_PUBLIC_URL",
        )
    # Flask's own rules for TRUSTED_HOSTS (Flask 3.1 checks every request with them).
    if trusted_hosts and not host_is_trusted(host, trusted_hosts):
        raise DPoPProofError(
            reason="dpop.url", detail=f"Host {loggable(host, 60)} is not in TRUSTED_HOSTS"
        )
    scheme = environ.get("wsgi.url_scheme", "http")
    return f"{scheme}://{host}{_raw_or_encoded(environ, script + path)}"


def _encoded(path: str) -> str:
    # WSGI strings carry the request's bytes as latin-1 (PEP 3333).
    return quote(path, safe=_PATH_SAFE, encoding="latin-1")


def _raw_or_encoded(environ: MutableMapping[str, Any], routed: str) -> str:
    """The client's encoding of ``routed`` when the server kept it (so a ``%2F`` in a
    proof's htu matches), else ``routed`` encoded."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw.startswith("/") and raw.isascii():
        raw_path = raw.partition("?")[0].partition("#")[0]
        if unquote_to_bytes(raw_path).decode("latin-1") == routed:
            return raw_path
    return _encoded(routed)


def _server_host(environ: MutableMapping[str, Any]) -> str:
    # PEP 3333's URL reconstruction, for a request without Host (HTTP/1.0).
    name, port = environ.get("SERVER_NAME", ""), environ.get("SERVER_PORT", "")
    default = "443" if environ.get("wsgi.url_scheme") == "https" else "80"
    return name if port in ("", default) else f"{name}:{port}"


def _proofs(environ: MutableMapping[str, Any]) -> list[str] | None:
    """Every ``DPoP`` header value, or ``None`` without one. WSGI servers fold repeated
    headers into one value joined by commas, which a compact JWS never contains."""
    value = environ.get("HTTP_DPOP")
    if value is None:
        return None
    return [part.strip(" \t") for part in str(value).split(",")]


def authenticate_bearer(
    validator: TokenValidator, raw: str, environ: MutableMapping[str, Any], context: RequestDPoP
) -> VerifiedToken:
    """A token sent with the ``Bearer`` scheme, where DPoP is ``allowed`` or ``required``.

    :raises DPoPRequestError: a DPoP proof came with it (400).
    :raises DPoPTokenError: the route requires DPoP (401).
    """
    if "HTTP_DPOP" in environ:
        raise DPoPRequestError(
            reason="dpop.with_bearer",
            detail="a DPoP header came with the Bearer scheme: send the DPoP scheme",
        )
    if context.mode == "required":
        raise DPoPTokenError(
            reason="token.dpop_required", detail="Bearer scheme where DPoP is required"
        )
    return validator.validate(raw)


def authenticate_dpop(
    validator: TokenValidator,
    verifier: DPoPVerifier,
    nonces: DPoPNonces | None,
    raw: str,
    environ: MutableMapping[str, Any],
    *,
    public_url: str | None,
    context: RequestDPoP,
    trusted_hosts: Collection[str] | None = None,
) -> VerifiedToken:
    """A token sent with the ``DPoP`` scheme: the token, then its proof.

    The request's shape is checked first (one proof, no more), then the token (it must
    be bound: ``cnf.jkt``), then the proof against it (RFC 9449 §4.3, §7.1).
    """
    proofs = _proofs(environ)
    if proofs is None:
        raise DPoPRequestError(reason="dpop.missing", detail="DPoP scheme without a DPoP header")
    if len(proofs) > 1:
        raise DPoPRequestError(reason="dpop.several", detail=f"{len(proofs)} DPoP proofs")
    token = validator.validate(raw, dpop=True)
    now = verifier.clock()
    try:
        verifier.verify(
            proofs,
            method=str(environ.get("REQUEST_METHOD", "")),
            url=request_url(environ, public_url, trusted_hosts),
            access_token=raw,
            cnf=token.claims.get("cnf"),
            now=now,
        )
    except DPoPNonceError as error:
        # RFC 9449 §9: the answer must carry the nonce to use, whoever renders it (an
        # app's own error handler too): the answer's DPoP-Nonce comes from the context.
        context.nonce = error.nonce
        raise
    if nonces is not None:
        context.nonce = nonces.issue(now)  # RFC 9449 §8.2: a fresh nonce with the answer
    return token


def scheme_of(context: RequestDPoP | None) -> str:
    """The scheme an answer's challenge uses."""
    if context is None or context.mode == "off":
        return BEARER
    if context.mode == "required" or context.scheme == DPOP:
        return DPOP
    return BEARER
