"""Everything claimguard raises, and what each error means on the wire.

Our exception hierarchy::

    ClaimGuardError                 base for everything the package raises
    ├── ConfigurationError          unusable settings, raised at start-up
    ├── KeySetUnavailableError      keys cannot be obtained        → 503 + Retry-After
    └── BearerError                 RFC 6750 §3 answers
        ├── MissingTokenError       no credentials                 → 401, bare challenge
        ├── InvalidRequestError     malformed request              → 400 invalid_request
        ├── InvalidTokenError       token refused                  → 401 invalid_token
        │   └── ExpiredTokenError   token past ``exp``             → 401 invalid_token
        └── InsufficientScopeError  valid token, missing privilege → 403 insufficient_scope

Every error carries a reason code and two texts:

``reason``
    The stable, machine-readable cause (``token.audience``, ``roles.missing``, …), for
    logs, tests and tools. :data:`claimguard.reasons.REASONS` maps it to the answer's
    status, its public sentence and the fix.
``description``
    The reason's fixed sentence, chosen by claimguard. It is safe to send to the client
    and goes into the ``error_description`` of the challenge and the JSON body. It never
    contains bytes from the request.
``detail``
    The operator's explanation for logs: what exactly was wrong ("aud mismatch: …").
    Values taken from an unverified token are escaped and truncated with
    :func:`claimguard.errors.loggable` before they get here. Never sent to clients.

``str(error)`` is the ``description``, never the ``detail``: an app whose catch-all
handler answers with ``str(error)`` (``errorhandler(Exception)``, a framework that
renders exception messages) sends the client the public sentence and nothing of the
configured audiences, the subject or its roles. Log ``error.detail`` explicitly.

This module imports nothing from Flask: the Flask layer turns these into responses.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Iterable

from .reasons import sentence

__all__ = [
    "BearerError",
    "ClaimGuardError",
    "ConfigurationError",
    "ExpiredTokenError",
    "InsufficientScopeError",
    "InvalidRequestError",
    "InvalidTokenError",
    "KeySetUnavailableError",
    "MissingTokenError",
    "loggable",
]

# RFC 6750 §3: error_description and scope values are limited to
# %x20-21 / %x23-5B / %x5D-7E (printable ASCII without `"` and `\`).
_UNSAFE_CHALLENGE_CHARS = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def _challenge_safe(text: str) -> str:
    return _UNSAFE_CHALLENGE_CHARS.sub("", text)


def _escape(char: str) -> str:
    if char == "\\" or char == '"':
        return "\\" + char
    if " " <= char <= "~":
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def loggable(value: object, limit: int = 80) -> str:
    """Render an untrusted value for a log line: escaped, quoted and truncated.

    Backslashes, quotes, control characters and non-ASCII come out as escapes, so a
    value from a token can neither forge a log line (or the end of its own quoted
    value) nor flood it. Longer values are cut at ``limit`` characters, marked ``...``
    after the closing quote.
    """
    text = value if isinstance(value, str) else _short_repr(value, limit)
    cut = len(text) > limit
    escaped = "".join(_escape(char) for char in text[:limit])
    return '"' + escaped + '"' + ("..." if cut else "")


def _short_repr(value: object, limit: int) -> str:
    # reprlib bounds the work and the size for nested containers; a recursion or any
    # other failure of a hostile value's repr still gives a log line.
    short = reprlib.Repr()
    short.maxlevel = 3
    short.maxstring = short.maxother = limit
    try:
        return short.repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


class ClaimGuardError(Exception):
    """Base class of every exception claimguard raises.

    :param description: the public sentence; by default the reason's.
    :param detail: the operator's explanation, for logs only; by default the sentence.
    :param reason: a code of :data:`claimguard.reasons.REASONS`; by default the class's
        :attr:`default_reason`.
    :raises ValueError: ``reason`` is no reason code, when no ``description`` is given
        (the sentence is then looked up by the reason).
    """

    #: HTTP status the Flask layer answers with.
    status_code: int = 500
    #: RFC 6750 / RFC 6749 error code for the body and challenge, if any.
    error: str | None = None
    #: The reason code of an error raised without one.
    default_reason: str = "server.error"
    #: Fixed, client-safe sentence.
    default_description: str = sentence("server.error")

    def __init__(
        self,
        description: str | None = None,
        *,
        detail: str | None = None,
        reason: str | None = None,
    ) -> None:
        #: Why: a code of :data:`claimguard.reasons.REASONS`.
        self.reason = reason or self.default_reason
        # RFC 6750 §3: error_description is restricted to a safe ASCII subset; a text
        # that strips to nothing falls back to the fixed sentence. The table's sentences
        # are within it already (a test checks), so a refusal costs no second pass.
        text = _challenge_safe(description) if description else ""
        if not text:
            text = sentence(reason) if reason else _challenge_safe(self.default_description)
        self.description = text
        #: The operator's explanation, for logs only (see the module docstring).
        self.detail = detail or self.description
        # str(error) is the public sentence: a handler that renders exception messages
        # must not send the log-only detail to the client.
        super().__init__(self.description)

    def www_authenticate(
        self, realm: str, scheme: str | None = None, algs: str | None = None
    ) -> str | None:
        """The ``WWW-Authenticate`` value for this error, or ``None`` for no header.

        :param scheme: the challenge's auth-scheme, ``Bearer`` (RFC 6750 §3) or ``DPoP``
            (RFC 9449 §7.1); by default the error's own.
        :param algs: for ``DPoP``, the proof algorithms accepted.
        """
        return None

    def body(self) -> dict[str, object]:
        """The JSON body of the answer."""
        return {"error": self.error or "server_error", "error_description": self.description}


class ConfigurationError(ClaimGuardError):
    """The settings cannot work: raised at start-up with a message that says what to fix."""

    default_reason = "config.invalid"
    default_description = "claimguard is misconfigured."

    def __init__(self, message: str) -> None:
        super().__init__(None, detail=message)
        # Raised to the operator at start-up, not answered to a client (the Flask layer
        # renders it as a generic 500): its message is the whole point.
        self.description = message
        self.args = (message,)


class KeySetUnavailableError(ClaimGuardError):
    """The issuer's signing keys cannot be obtained: our failure, not the client's.

    Raised when no usable key set is cached (never fetched, or older than the allowed
    staleness) and fetching failed, or when the refetch for an unknown ``kid`` failed.
    Answered with 503 and a ``Retry-After`` header.
    """

    status_code = 503
    error = "temporarily_unavailable"
    default_reason = "keys.unavailable"
    default_description = sentence("keys.unavailable")

    def __init__(
        self,
        description: str | None = None,
        *,
        detail: str | None = None,
        reason: str | None = None,
        retry_after: int = 30,
    ) -> None:
        super().__init__(description, detail=detail, reason=reason)
        #: Whole seconds until a retry may succeed (the ``Retry-After`` header, RFC 9110
        #: §10.2.3: a non-negative integer; we never send 0, which invites a retry storm).
        self.retry_after = _whole_seconds(retry_after)


def _whole_seconds(value: float) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 30
    if isinstance(value, float) and not math.isfinite(value):
        return 30 if math.isnan(value) or value > 0 else 1
    return max(1, math.ceil(value))


class BearerError(ClaimGuardError):
    """An RFC 6750 §3 answer: it knows its status, error code and challenge."""

    status_code = 401
    default_reason = "request.unauthorized"
    #: The auth-scheme of the challenge (``Bearer``; the DPoP errors say ``DPoP``).
    scheme: str = "Bearer"
    #: For the ``DPoP`` scheme, the ``algs`` parameter (RFC 9449 §7.1), when known.
    algs: str | None = None

    def www_authenticate(
        self, realm: str, scheme: str | None = None, algs: str | None = None
    ) -> str:
        scheme = scheme or self.scheme
        parts = [f'{scheme} realm="{_challenge_safe(realm)}"']
        if self.error is not None:
            # RFC 6750 §3 (and RFC 9449 §7.1 for DPoP): error, error_description and
            # scope are auth-params.
            parts.append(f'error="{self.error}"')
            parts.append(f'error_description="{self.description}"')
            parts.extend(self._extra_params())
        algs = algs or self.algs
        if scheme == "DPoP" and algs:
            parts.append(f'algs="{_challenge_safe(algs)}"')
        return ", ".join(parts)

    def body(self) -> dict[str, object]:
        return {"error": self.error or "unauthorized", "error_description": self.description}

    def _extra_params(self) -> list[str]:
        return []


class MissingTokenError(BearerError):
    """No credentials: no ``Authorization`` header, or another scheme.

    RFC 6750 §3.1: "If the request lacks any authentication information …, the
    resource server SHOULD NOT include an error code or other error information."
    """

    status_code = 401
    error = None
    default_reason = "request.no_credentials"
    default_description = sentence("request.no_credentials")


class InvalidRequestError(BearerError):
    """Malformed request: RFC 6750 §3.1 ``invalid_request`` (400)."""

    status_code = 400
    error = "invalid_request"
    default_reason = "request.malformed"
    default_description = sentence("request.malformed")


class InvalidTokenError(BearerError):
    """The token is refused: RFC 6750 §3.1 ``invalid_token`` (401)."""

    status_code = 401
    error = "invalid_token"
    default_reason = "token.invalid"
    default_description = sentence("token.invalid")


class ExpiredTokenError(InvalidTokenError):
    """The token's ``exp`` has passed (RFC 7519 §4.1.4)."""

    default_reason = "token.expired"
    default_description = sentence("token.expired")


_KINDS = ("roles", "scopes", "permissions")


class InsufficientScopeError(BearerError):
    """A valid token that lacks a required role, scope or permission (403).

    :param kind: ``"roles"``, ``"scopes"`` or ``"permissions"``.
    :param required: what the route requires.
    :param match: ``"all"`` or ``"any"``.
    """

    status_code = 403
    error = "insufficient_scope"
    default_description = "The access token lacks a required privilege."

    def __init__(
        self,
        kind: str,
        required: Iterable[str],
        match: str = "all",
        *,
        detail: str | None = None,
    ) -> None:
        if kind not in _KINDS:
            raise ValueError(f"unknown requirement kind {kind!r}")
        if match not in ("all", "any"):
            raise ValueError(f"match must be 'all' or 'any', got {match!r}")
        # The reason is the kind's: roles.missing, scopes.missing, permissions.missing.
        super().__init__(detail=detail, reason=f"{kind}.missing")
        self.kind = kind
        self.required = tuple(required)
        self.match = match

    def _extra_params(self) -> list[str]:
        # RFC 6750 §3: the scope attribute names the scopes needed; we send it only for
        # scope failures, since roles and permissions are not OAuth scopes.
        if self.kind == "scopes":
            return [f'scope="{_challenge_safe(" ".join(self.required))}"']
        return []

    def body(self) -> dict[str, object]:
        result = super().body()
        result[f"required_{self.kind}"] = list(self.required)
        result["match"] = self.match
        return result
