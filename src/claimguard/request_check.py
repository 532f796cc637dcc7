"""The request-time check that every way of protecting a route shares.

The decorators, ``ClaimGuard.protect`` and ``ClaimGuard.verify_request`` all end in
:func:`verify_current_request`; :mod:`claimguard.context` reads what it stored. This
module sits below all of them, so imports go one way: the extension and the decorators
import it, it imports neither.

Where a verified token is kept, and why:

* In the request's WSGI environ, not on ``flask.g``. ``g`` belongs to the app context,
  and an app context that is already pushed (a test fixture, a nested dispatch) is
  reused by the next request: a token kept there would authenticate that request as the
  previous caller.
* Bound to the validator that verified it. One environ can pass through several apps
  (a dispatcher that hands the same request to a second Flask app), and each app has
  its own issuers and audiences: a token verified for one API proves nothing to
  another. Each app therefore only ever reads the token its own validator stored, and
  verifies the request again otherwise.

It also sends :mod:`claimguard.signals`: one per call that verifies the request (or
finds no credentials on an optional route), and ``request_refused`` for a call that
refuses it, also when the token was verified by an earlier call in the same request. A
later call that passes on a stored token sends nothing, so a protected blueprint and a
decorated view answer one signal for one request. Each send is guarded by the signal's
``receivers``: with no receiver, nothing is built.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import MutableMapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from flask import current_app
from flask import request

from .bearer import BEARER
from .bearer import parse_authorization
from .bearer import parse_credentials
from .dpop import DPoPVerifier
from .dpop_errors import DPoPTokenError
from .dpop_nonce import DPoPNonces
from .dpop_request import DPOP_ENVIRON_KEY
from .dpop_request import RequestDPoP
from .dpop_request import authenticate_bearer
from .dpop_request import authenticate_dpop
from .errors import ClaimGuardError
from .errors import MissingTokenError
from .requirements import Requirement
from .requirements import check_optional
from .settings import Settings
from .signals import request_authorized
from .signals import request_refused
from .token import VerifiedToken
from .validation import TokenValidator

__all__ = [
    "ENVIRON_KEY",
    "EXTENSION_KEY",
    "AppState",
    "app_state",
    "find_app_state",
    "is_preflight",
    "store_token",
    "stored_token",
    "verify_current_request",
]

#: The key of ``app.extensions`` under which the extension keeps its per-app state.
EXTENSION_KEY = "claimguard"
#: The environ key of the request's verified tokens: ``{validator: VerifiedToken}``.
ENVIRON_KEY = "claimguard.tokens"


#: Authorization values remembered per app (see :attr:`AppState.bearer_tokens`).
BEARER_MEMO_SIZE = 1024


@dataclass
class AppState:
    """Per-app state, stored in ``app.extensions["claimguard"]``."""

    settings: Settings
    validator: TokenValidator
    #: The token each recently accepted ``Authorization`` value carried (the result of
    #: :func:`~claimguard.bearer.parse_authorization`, a pure function of the value).
    #: A repeated header skips the parse, and hands the validator the very string
    #: object its cache holds. The validator still runs every check on it: the key
    #: must still be held, and the time window is checked again now.
    bearer_tokens: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    #: The DPoP proof verifier, with its replay store (RFC 9449).
    dpop_verifier: DPoPVerifier | None = field(default=None, init=False, repr=False)
    #: Server nonces, when ``CLAIMGUARD_DPOP_NONCE_SECRET`` is set.
    dpop_nonces: DPoPNonces | None = field(default=None, init=False, repr=False)
    #: Called (then cleared) when a route's own mode first checks DPoP in an app whose
    #: mode is ``off``: the start-up checks about DPoP were skipped for such an app.
    dpop_first_use: Callable[[], None] | None = field(default=None, init=False, repr=False)


def find_app_state() -> AppState | None:
    """The current app's state, or ``None`` when claimguard is not set up on it."""
    state = current_app.extensions.get(EXTENSION_KEY)
    return state if isinstance(state, AppState) else None


def app_state() -> AppState:
    """The current app's state.

    :raises RuntimeError: claimguard is not set up on the current app (fail closed: a
        protected route never runs unchecked).
    """
    state = find_app_state()
    if state is None:
        raise RuntimeError(
            "claimguard is not set up on this app: call ClaimGuard(app) or "
            "ClaimGuard().init_app(app) before serving protected routes"
        )
    return state


def _entry(environ: MutableMapping[str, Any], validator: TokenValidator | None) -> object:
    """What this request's entry for ``validator`` holds (``None``: nothing yet)."""
    tokens = environ.get(ENVIRON_KEY)
    if type(tokens) is not dict or validator is None:
        return None
    return tokens.get(validator)


def _set_entry(environ: MutableMapping[str, Any], validator: TokenValidator, value: object) -> None:
    tokens = environ.get(ENVIRON_KEY)
    if type(tokens) is not dict:
        tokens = environ[ENVIRON_KEY] = {}
    tokens[validator] = value


def stored_token(
    environ: MutableMapping[str, Any], validator: TokenValidator | None
) -> VerifiedToken | None:
    """The token ``validator`` verified for this request, if any."""
    token = _entry(environ, validator)
    return token if isinstance(token, VerifiedToken) else None


def store_token(
    environ: MutableMapping[str, Any], validator: TokenValidator, token: VerifiedToken
) -> None:
    """Remember that ``validator`` verified ``token`` for this request."""
    _set_entry(environ, validator, token)


#: Stands, in the environ's token map, for "passed an optional check without a token".
_ANONYMOUS = object()


def _anonymous_before(environ: MutableMapping[str, Any], validator: TokenValidator) -> bool:
    return _entry(environ, validator) is _ANONYMOUS


def _mark_anonymous(environ: MutableMapping[str, Any], validator: TokenValidator) -> None:
    _set_entry(environ, validator, _ANONYMOUS)


def is_preflight() -> bool:
    """Whether the current request is a CORS preflight (Fetch standard §3.2.2)."""
    return (
        request.method == "OPTIONS"
        and "HTTP_ORIGIN" in request.environ
        and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.environ
    )


def _has_query_token(query_string: str) -> bool:
    """Whether the query string carries an ``access_token`` parameter (RFC 6750 §2.3).

    The substring test only skips parsing when the answer cannot be yes: a name can also be
    percent-encoded (``access%5Ftoken``, ``%61ccess_token``), which decodes to the same
    parameter, so any ``%`` sends the query string to the real parser.
    """
    if "access_token" not in query_string and "%" not in query_string:
        return False
    return "access_token" in request.args


def verify_current_request(
    requirements: tuple[Requirement, ...] = (),
    *,
    optional: bool = False,
    environ: dict[str, Any] | None = None,
    dpop: str | None = None,
) -> VerifiedToken | None:
    """Authenticate the current request and check ``requirements``; see
    :meth:`ClaimGuard.verify_request <claimguard.ClaimGuard.verify_request>`.
    ``environ`` is the request's, when the caller already holds it; ``dpop`` the
    route's DPoP mode, when it overrides the app's."""
    if optional and requirements:  # refused at set-up; checked again, failing closed
        check_optional(optional, requirements)
    state = app_state()
    validator = state.validator
    if environ is None:
        environ = request.environ
    # Only a token this app's validator verified counts: another app that the same
    # environ passed through has other issuers and audiences.
    token = stored_token(environ, validator)
    # A token verified earlier in this request already had its signal sent: a later
    # check that passes sends nothing, one that refuses sends request_refused.
    reused = token is not None
    try:
        mode = dpop or state.settings.dpop.mode
        if token is None:
            if mode == "off":
                token = _authenticate(state, validator, environ, optional)
            else:
                token = _authenticate_dpop(state, validator, environ, optional, mode)
        elif mode == "required" and not token.dpop_bound:
            _refuse_stored_bearer(state, environ)
        if token is not None:
            for requirement in requirements:
                requirement.check(token, validator.rules)
    except ClaimGuardError as error:
        if request_refused.receivers:
            request_refused.send(
                current_app._get_current_object(),  # type: ignore[attr-defined]
                token=token,
                reason=error.reason,
                requirements=requirements,
                optional=optional,
            )
        raise
    if reused:
        return token
    if token is not None:
        # Written only after every check passed (the token verified, the requirements met).
        store_token(environ, validator, token)
    elif _anonymous_before(environ, validator):
        return None  # an earlier optional check of this request already signalled it
    else:
        _mark_anonymous(environ, validator)
    if request_authorized.receivers:
        request_authorized.send(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            token=token,
            reason=None,
            requirements=requirements,
            optional=optional,
        )
    return token


def _authenticate(
    state: AppState,
    validator: TokenValidator,
    environ: MutableMapping[str, Any],
    optional: bool,
) -> VerifiedToken | None:
    """The request's verified token; ``None`` when ``optional`` and it has no credentials.

    :raises ClaimGuardError: the credentials are missing, malformed or invalid, or the
        keys cannot be obtained.
    """
    # WSGI hands over one value per header: servers (and Werkzeug's test client)
    # fold repeated Authorization fields into one comma-joined value (RFC 9110
    # §5.3), which the parser refuses as several credentials.
    header = environ.get("HTTP_AUTHORIZATION")
    query_token = _has_query_token(environ.get("QUERY_STRING", ""))
    memo = state.bearer_tokens
    # Exact str only: a subclass could redefine the equality the lookup relies on.
    raw = memo.get(header) if type(header) is str and not query_token else None
    if raw is None:
        try:
            raw = parse_authorization(header, query_token=query_token)
        except MissingTokenError:
            if optional:
                return None
            raise
        token = validator.validate(raw)
        if type(header) is str and not query_token:
            if len(memo) >= BEARER_MEMO_SIZE:
                memo.clear()  # bounded; cheaper than tracking recency
            memo[header] = raw
        return token
    return validator.validate(raw)


def _refuse_stored_bearer(state: AppState, environ: MutableMapping[str, Any]) -> None:
    """An earlier check of this request (a blueprint's, in another mode) accepted its
    token as a bearer token, and this one requires DPoP: no layer may downgrade another.

    :raises DPoPTokenError: always (``token.dpop_required``).
    """
    context = environ.get(DPOP_ENVIRON_KEY)
    if isinstance(context, RequestDPoP):
        context.mode = "required"  # the answer's challenges: DPoP only
    elif state.dpop_verifier is not None:
        environ[DPOP_ENVIRON_KEY] = RequestDPoP("required", state.dpop_verifier.algs, BEARER)
    raise DPoPTokenError(
        reason="token.dpop_required",
        detail="Bearer scheme, accepted by an earlier check, where DPoP is required",
    )


def _authenticate_dpop(
    state: AppState,
    validator: TokenValidator,
    environ: MutableMapping[str, Any],
    optional: bool,
    mode: str,
) -> VerifiedToken | None:
    """:func:`_authenticate` where DPoP is ``allowed`` or ``required`` (RFC 9449 §7)."""
    verifier = state.dpop_verifier
    if verifier is None:  # pragma: no cover - init_app always builds it
        raise RuntimeError("claimguard's DPoP verifier is not set up")
    first_use, state.dpop_first_use = state.dpop_first_use, None
    if first_use is not None:
        first_use()
    context = RequestDPoP(mode, verifier.algs)
    # Read by the answer, refusal or not: its challenges and DPoP-Nonce depend on it.
    environ[DPOP_ENVIRON_KEY] = context
    header = environ.get("HTTP_AUTHORIZATION")
    query_token = _has_query_token(environ.get("QUERY_STRING", ""))
    try:
        scheme, raw = parse_credentials(header, query_token=query_token, dpop=True)
    except MissingTokenError:
        if optional:
            return None
        raise
    context.scheme = scheme
    if scheme == BEARER:
        return authenticate_bearer(validator, raw, environ, context)
    return authenticate_dpop(
        validator,
        verifier,
        state.dpop_nonces,
        raw,
        environ,
        public_url=state.settings.dpop.public_url,
        context=context,
        trusted_hosts=current_app.config.get("TRUSTED_HOSTS"),
    )
