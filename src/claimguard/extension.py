"""``ClaimGuard``: the Flask extension that binds the core to an app.

It reads ``CLAIMGUARD_*`` once in :meth:`ClaimGuard.init_app`, builds one
:class:`~claimguard.TokenValidator` per app, and turns claimguard errors into RFC 6750
answers. This is the only place where core errors become HTTP responses.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import requests
from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import has_request_context
from flask import jsonify
from flask import request

from . import decorators
from .bearer import BEARER
from .bearer import DPOP
from .dpop_errors import DPoPChallenge
from .dpop_errors import DPoPNonceError
from .dpop_request import DPOP_ENVIRON_KEY
from .dpop_request import RequestDPoP
from .dpop_request import scheme_of
from .dpop_settings import several_workers_likely
from .errors import ClaimGuardError
from .errors import ConfigurationError
from .errors import MissingTokenError
from .errors import loggable
from .jwks import KeySetStatus
from .reasons import sentence
from .request_check import EXTENSION_KEY
from .request_check import AppState
from .request_check import app_state
from .request_check import find_app_state
from .request_check import is_preflight
from .request_check import verify_current_request
from .requirements import Requirement
from .requirements import check_optional
from .requirements import names
from .requirements import route_dpop_mode
from .settings import DEFAULTS
from .settings import Settings
from .token import VerifiedToken

__all__ = ["ClaimGuard"]

log = logging.getLogger("claimguard")

ErrorCallback = Callable[[ClaimGuardError], Response]
C = TypeVar("C", bound=ErrorCallback)


@dataclass
class _AppState(AppState):
    """Per-app state, and the extension that renders this app's refusals."""

    guard: ClaimGuard


class ClaimGuard:
    """Protect a Flask app's routes with access tokens.

    ::

        guard = ClaimGuard()          # in extensions.py
        guard.init_app(app)           # in create_app()

    :param app: the app to set up at once (same as calling :meth:`init_app`).
    :param session: a ``requests.Session`` lending its transport settings to discovery
        and JWKS fetches: proxies, CA bundle path, client certificate, ``trust_env`` and
        its ``HTTPAdapter`` retries. Its auth, cookies, headers and hooks are never
        sent, and ``verify=False`` is ignored; a custom transport adapter mounted on it
        is a :class:`ConfigurationError`. By default the environment's settings apply.
    """

    def __init__(self, app: Flask | None = None, *, session: requests.Session | None = None):
        self._session = session
        self._error_callback: ErrorCallback | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read and validate the app's ``CLAIMGUARD_*`` settings and register the
        error rendering. Does no network I/O: keys are fetched on first use.

        Every setting is in the configuration table of the documentation, made from
        :data:`claimguard.options.OPTIONS`; ``CLAIMGUARD_AUDIENCE`` is required.
        Changes to the config after this call are not reflected.

        :raises ConfigurationError: a setting is missing or unusable.
        :raises RuntimeError: claimguard is already set up on this app.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                "claimguard is already set up on this app; call init_app once per app"
            )
        for key, default in DEFAULTS.items():
            app.config.setdefault(key, default)
        settings = Settings.from_mapping(app.config)
        validator = settings.build_validator(self._session)
        state = _AppState(settings, validator, self)
        # One nonce issuer: the one the verifier demands nonces of, and sends out.
        state.dpop_nonces = settings.dpop.build_nonces()
        state.dpop_verifier = settings.dpop.build_verifier(state.dpop_nonces)
        app.extensions[EXTENSION_KEY] = state
        trusted_hosts = app.config.get("TRUSTED_HOSTS")
        if settings.dpop.mode != "off":
            _dpop_start_up_warnings(settings, trusted_hosts)
        else:
            # A route's dpop= can still turn DPoP on: warn on its first DPoP check.
            state.dpop_first_use = functools.partial(
                _dpop_start_up_warnings, settings, trusted_hosts
            )
        if state.dpop_nonces is not None:
            app.after_request(_send_dpop_nonce)
        # An app's own errorhandler(ClaimGuardError), registered before or after this
        # call, wins; so does any handler for a narrower class (Flask looks up the MRO).
        if ClaimGuardError not in app.error_handler_spec[None][None]:
            app.register_error_handler(ClaimGuardError, _render)

    # -- callbacks -----------------------------------------------------------------

    def error_handler(self, callback: C) -> C:
        """Register ``callback(error) -> Response`` to render every claimguard refusal.

        The error carries ``status_code``, ``error``, ``description``,
        ``www_authenticate(realm)`` and ``body()``; for
        :class:`~claimguard.KeySetUnavailableError` also ``retry_after``. Returns the
        callback, so it can be used as a decorator.
        """
        self._error_callback = callback
        return callback

    # -- plain-call checks ---------------------------------------------------------

    def verify_request(
        self,
        *,
        roles: Iterable[str] | None = None,
        any_roles: Iterable[str] | None = None,
        scopes: Iterable[str] | None = None,
        any_scopes: Iterable[str] | None = None,
        permissions: Iterable[str] | None = None,
        any_permissions: Iterable[str] | None = None,
        optional: bool = False,
        dpop: str | None = None,
    ) -> VerifiedToken | None:
        """Do the decorators' checks as a plain call, e.g. in ``before_request``.

        Each keyword takes one name or a list of names; ``roles``, ``scopes`` and
        ``permissions`` need every one, the ``any_`` forms at least one. A keyword given
        with no names (``roles=[]``) raises ``TypeError``, as ``optional=True`` together
        with a requirement does: neither may quietly turn a check into "any token".
        ``dpop`` (``"off"``, ``"allowed"``, ``"required"``) overrides
        ``CLAIMGUARD_DPOP_MODE`` for this check.

        :returns: the verified token, or ``None`` when ``optional`` and no credentials.
        :raises BearerError: the request is refused (400/401/403).
        :raises KeySetUnavailableError: keys cannot be obtained (503).
        :raises ClaimGuardError: ``DPoPStoreUnavailableError``, when the DPoP replay store
            cannot be reached (503).
        :raises TypeError: an empty requirement, or ``optional`` misused.
        """
        checks, is_optional, mode = _route_checks(
            optional,
            dpop,
            roles=roles,
            any_roles=any_roles,
            scopes=scopes,
            any_scopes=any_scopes,
            permissions=permissions,
            any_permissions=any_permissions,
        )
        return verify_current_request(checks, optional=is_optional, dpop=mode)

    def protect(
        self,
        blueprint: Blueprint,
        *,
        roles: Iterable[str] | None = None,
        any_roles: Iterable[str] | None = None,
        scopes: Iterable[str] | None = None,
        any_scopes: Iterable[str] | None = None,
        permissions: Iterable[str] | None = None,
        any_permissions: Iterable[str] | None = None,
        optional: bool = False,
        dpop: str | None = None,
    ) -> None:
        """Require a token, and what the keywords name, on every route of ``blueprint``.

        The keywords are :meth:`verify_request`'s, checked here, when the blueprint is
        set up: an empty requirement or ``optional=True`` beside one raises
        ``TypeError`` at import time. CORS preflights pass, as with the decorators.
        ``dpop`` overrides ``CLAIMGUARD_DPOP_MODE`` for the blueprint's routes.
        """
        checks, is_optional, mode = _route_checks(
            optional,
            dpop,
            roles=roles,
            any_roles=any_roles,
            scopes=scopes,
            any_scopes=any_scopes,
            permissions=permissions,
            any_permissions=any_permissions,
        )

        def guard_blueprint() -> Response | None:
            if is_preflight():
                # Answer the preflight here: letting dispatch go on would run a view
                # that handles OPTIONS itself, without a token.
                return current_app.make_default_options_response()
            verify_current_request(checks, optional=is_optional, dpop=mode)
            return None

        # Read by ``flask claimguard routes``: the blueprint's routes require this.
        setattr(guard_blueprint, decorators.MARKER, (checks, is_optional, mode))
        blueprint.before_request(guard_blueprint)

    # -- operators -----------------------------------------------------------------

    def key_set_status(self) -> dict[str, KeySetStatus]:
        """The state of each issuer's key set in the current app: ``{issuer: status}``."""
        validator = app_state().validator
        return {issuer: keys.status() for issuer, keys in validator.issuers.items()}

    def refresh_keys(self) -> bool:
        """Fetch every issuer's keys now (e.g. after an announced rotation).

        :returns: whether every fetch succeeded.
        """
        validator = app_state().validator
        unique = {id(keys): keys for keys in validator.issuers.values()}
        return all([keys.refresh() for keys in unique.values()])

    def warm_up(self, app: Flask) -> bool:
        """Fetch discovery and keys now, so the first request does not wait for them.

        Optional: call it after :meth:`init_app`, in each worker process (gunicorn:
        ``post_fork``, or ``create_app`` without ``--preload``). A failure is logged and
        not raised: the app still starts, and requests fetch the keys on demand.

        :returns: whether every key set was fetched.
        """
        with app.app_context():
            loaded = self.refresh_keys()
        if not loaded:
            log.warning("warm-up could not fetch every key set; requests will retry")
        return loaded

    # The decorators, as methods, for apps that prefer ``@guard.requires_role(...)``.
    requires_auth = staticmethod(decorators.requires_auth)
    requires_role = staticmethod(decorators.requires_role)
    requires_any_role = staticmethod(decorators.requires_any_role)
    requires_scope = staticmethod(decorators.requires_scope)
    requires_any_scope = staticmethod(decorators.requires_any_scope)
    requires_permission = staticmethod(decorators.requires_permission)
    requires_any_permission = staticmethod(decorators.requires_any_permission)


_KINDS = {
    "roles": ("roles", "all"),
    "any_roles": ("roles", "any"),
    "scopes": ("scopes", "all"),
    "any_scopes": ("scopes", "any"),
    "permissions": ("permissions", "all"),
    "any_permissions": ("permissions", "any"),
}


def _route_checks(
    optional: object, dpop: object, **groups: Iterable[str] | None
) -> tuple[tuple[Requirement, ...], bool, str | None]:
    """What ``verify_request`` and ``protect`` check, validated once, at set-up: the
    requirements the keywords name, ``optional`` and the route's DPoP mode."""
    checks = _requirements(**groups)
    return checks, check_optional(optional, checks), route_dpop_mode(dpop)


def _requirements(**groups: Iterable[str] | None) -> tuple[Requirement, ...]:
    """The requirements named by ``verify_request``/``protect`` keywords.

    A keyword left out (``None``) requires nothing; one given must name at least one
    non-empty string: ``roles=[]`` on an admin-only blueprint would otherwise let any
    valid token in.
    """
    result = []
    for key, values in groups.items():
        if values is None:
            continue
        if isinstance(values, str):
            values = (values,)
        if not isinstance(values, Iterable):
            raise TypeError(f"{key}= takes a name or a list of names, got {values!r}")
        values = tuple(values)
        if not values:
            raise TypeError(
                f"{key}= needs at least one name, e.g. {key}=['admin']; leave it out to "
                "require nothing of that kind"
            )
        kind, match = _KINDS[key]
        result.append(Requirement(kind, names(values, f"{key}="), match))
    return tuple(result)


def _render(error: ClaimGuardError) -> Response:
    """Turn a claimguard error into its RFC 6750 answer."""
    state = find_app_state()
    realm = state.settings.realm if state is not None else "api"
    _log_refusal(error)
    if isinstance(state, _AppState) and state.guard._error_callback is not None:
        return state.guard._error_callback(error)
    if isinstance(error, ConfigurationError):
        # Its description is the operator's message: the client gets the fixed sentence.
        body: dict[str, object] = {
            "error": "server_error",
            "error_description": sentence(error.reason),
        }
    else:
        body = error.body()
    response = jsonify(body)
    response.status_code = error.status_code
    for challenge in _challenges(error, realm):
        response.headers.add("WWW-Authenticate", challenge)
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, int):  # 503: keys or the DPoP replay store unavailable
        response.headers["Retry-After"] = str(retry_after)
    nonce = error.nonce if isinstance(error, DPoPNonceError) else None
    if nonce:
        # RFC 9449 §9: the nonce the client must put in its next proof.
        response.headers["DPoP-Nonce"] = nonce
    # RFC 6750 §3 / RFC 6749 §5.1 practice: authorization answers are never cached.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _log_refusal(error: ClaimGuardError) -> None:
    """One line per refusal: the request, the status, ``reason=<code>`` and the detail."""
    where = f"{request.method} {loggable(request.path, 120)}"
    if isinstance(error, ConfigurationError):
        log.error(
            "claimguard is misconfigured (%s) reason=%s: %s", where, error.reason, error.detail
        )
        return
    # Our failure (503) is worth a warning; a client's refusal is routine.
    level = logging.WARNING if error.status_code >= 500 else logging.INFO
    log.log(
        level, "refused %s: %d reason=%s: %s", where, error.status_code, error.reason, error.detail
    )


def _challenges(error: ClaimGuardError, realm: str) -> list[str]:
    """The ``WWW-Authenticate`` values of a refusal.

    The challenge uses the scheme the client used (``DPoP`` for a proof's failure, and
    wherever DPoP is required). Where both schemes are allowed, a 401 also names the
    other one, bare (RFC 9449 §7.1, RFC 9110 §11.6.1: one challenge per scheme).
    """
    context = request.environ.get(DPOP_ENVIRON_KEY) if has_request_context() else None
    if not isinstance(context, RequestDPoP):
        challenge = error.www_authenticate(realm)
        return [] if challenge is None else [challenge]
    scheme = DPOP if isinstance(error, DPoPChallenge) else scheme_of(context)
    own = error.www_authenticate(realm, scheme=scheme, algs=context.algs)
    if own is None:
        return []
    challenges = [own]
    if context.mode == "allowed" and error.status_code == 401:
        other = BEARER if scheme == DPOP else DPOP
        challenges.append(
            MissingTokenError().www_authenticate(realm, scheme=other, algs=context.algs)
        )
    return challenges


def _send_dpop_nonce(response: Response) -> Response:
    """Give a DPoP request's answer a fresh server nonce (RFC 9449 §8.2), when nonces
    are on and the answer has none yet."""
    context = request.environ.get(DPOP_ENVIRON_KEY)
    if isinstance(context, RequestDPoP) and context.nonce and "DPoP-Nonce" not in response.headers:
        response.headers["DPoP-Nonce"] = context.nonce
    return response


_warned_about_replays = False


def _dpop_start_up_warnings(settings: Settings, trusted_hosts: object) -> None:
    """What an operator should know once DPoP is in use: see the two functions below."""
    _warn_if_replays_escape(settings)
    _warn_if_hosts_untrusted(settings, trusted_hosts)


def _warn_if_hosts_untrusted(settings: Settings, trusted_hosts: object) -> None:
    """Without ``CLAIMGUARD_PUBLIC_URL`` (or ``TRUSTED_HOSTS``), the URL a proof must
    name takes its host from the request: the client's choice."""
    if settings.dpop.public_url is None and not trusted_hosts:
        log.warning(
            "DPoP is on but CLAIMGUARD_PUBLIC_URL is not set: proofs are checked against "
            "the Host the client sends, so a proof made for another API that accepts the "
            "same tokens (another region, a staging copy) is accepted here too. Set "
            "CLAIMGUARD_PUBLIC_URL to this API's public URL, or Flask's TRUSTED_HOSTS."
        )


def _warn_if_replays_escape(settings: Settings) -> None:
    """Say once per process that a per-process replay store misses cross-worker replays."""
    global _warned_about_replays
    if settings.dpop.shared_store or _warned_about_replays or not several_workers_likely():
        return
    _warned_about_replays = True
    log.warning(
        "CLAIMGUARD_DPOP_REPLAY_STORE is 'memory': each worker remembers only the DPoP "
        "proofs it saw, so a proof replayed to another worker or instance is not caught. "
        "Set it to a redis:// URL shared by every worker (pip install "
        "'flask-claimguard[redis]')."
    )
