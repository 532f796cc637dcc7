"""Route decorators: ``@requires_auth``, ``@requires_role("admin")`` and friends.

Each decorator finds the app's :class:`~claimguard.ClaimGuard` at request time through
``current_app.extensions``; without one it raises ``RuntimeError`` (fail closed, never
skip the check). They work on sync and ``async def`` views, and answer a CORS
preflight (an ``OPTIONS`` request with ``Origin`` and ``Access-Control-Request-Method``)
with Flask's default ``OPTIONS`` response, without a token and without calling the view.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any
from typing import TypeVar
from typing import overload

from flask import current_app
from flask import request

from .request_check import is_preflight
from .request_check import verify_current_request
from .requirements import Requirement
from .requirements import check_optional
from .requirements import names
from .requirements import route_dpop_mode

__all__ = [
    "MARKER",
    "is_preflight",
    "requires_any_permission",
    "requires_any_role",
    "requires_any_scope",
    "requires_auth",
    "requires_permission",
    "requires_role",
    "requires_scope",
]

F = TypeVar("F", bound=Callable[..., Any])


def _options_answer(requirements: tuple[Requirement, ...], optional: bool, dpop: str | None) -> Any:
    """The answer to an ``OPTIONS`` on a protected view.

    A CORS preflight carries no credentials by design (Fetch standard): it gets Flask's
    default ``OPTIONS`` response without a token. Any other ``OPTIONS`` is
    authenticated like every other method, then gets the same default response. The
    view itself never runs for ``OPTIONS``.
    """
    if not is_preflight():
        verify_current_request(requirements, optional=optional, dpop=dpop)
    return current_app.make_default_options_response()


def _protect(
    view: F, requirements: tuple[Requirement, ...], optional: bool, dpop: str | None = None
) -> F:
    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            environ = request.environ
            if environ.get("REQUEST_METHOD", "").upper() == "OPTIONS":
                return _options_answer(requirements, optional, dpop)
            verify_current_request(requirements, optional=optional, environ=environ, dpop=dpop)
            return await view(*args, **kwargs)

        wrapped: Any = async_wrapper
    else:

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            environ = request.environ
            if environ.get("REQUEST_METHOD", "").upper() == "OPTIONS":
                return _options_answer(requirements, optional, dpop)
            verify_current_request(requirements, optional=optional, environ=environ, dpop=dpop)
            return view(*args, **kwargs)

        wrapped = wrapper
    # Route OPTIONS to the wrapper instead of Flask's automatic answer, which would
    # skip the check (Flask reads both attributes in add_url_rule).
    wrapped.provide_automatic_options = False
    wrapped.required_methods = {"OPTIONS"}
    wrapped.__claimguard__ = _marker(view, requirements, optional, dpop)
    return wrapped  # type: ignore[no-any-return]


#: The attribute that records what a protected view (or a blueprint's guard) requires:
#: ``(requirements, optional, dpop)``. ``flask claimguard routes`` reads it from the view
#: Flask registered, so a decorator applied after ``@app.get`` shows as public.
MARKER = "__claimguard__"


def _marker(
    view: Callable[..., Any],
    requirements: tuple[Requirement, ...],
    optional: bool,
    dpop: str | None,
) -> tuple[tuple[Requirement, ...], bool, str | None]:
    """What the wrapper of ``view`` requires: its own checks and those of a protected
    view it wraps (stacked decorators all run; the request is optional only if every
    layer is; the outermost DPoP mode given is the one that applies first)."""
    inner = getattr(view, MARKER, None)
    if isinstance(inner, tuple) and len(inner) == 3:
        return (*inner[0], *requirements), bool(inner[1]) and optional, dpop or inner[2]
    return requirements, optional, dpop


@overload
def requires_auth(view: F, /) -> F: ...
@overload
def requires_auth(*, optional: bool = False, dpop: str | None = None) -> Callable[[F], F]: ...
def requires_auth(
    view: F | None = None, /, *, optional: bool = False, dpop: str | None = None
) -> F | Callable[[F], F]:
    """Require a valid access token. Works bare (``@requires_auth``) or called.

    :param optional: let a request *without* credentials through
        (:func:`~claimguard.get_current_token` is then ``None``). A token that is
        present but fails, or cannot be checked because keys are unavailable, is still
        refused: optional auth fails closed. It must be a real ``bool``: a string such
        as ``"false"`` read from the environment raises ``TypeError``.
    :param dpop: ``"off"``, ``"allowed"`` or ``"required"``: this route's DPoP mode, in
        place of ``CLAIMGUARD_DPOP_MODE``.
    """
    if view is not None:
        if not callable(view):
            raise TypeError("requires_auth takes only keyword arguments: optional=True")
        return _protect(view, (), optional=False)
    is_optional = check_optional(optional, ())
    mode = route_dpop_mode(dpop)
    return lambda fn: _protect(fn, (), optional=is_optional, dpop=mode)


def _requiring(
    kind: str, match: str, values: tuple[str, ...], decorator: str, dpop: str | None = None
) -> Callable[[F], F]:
    """The decorator that requires ``values`` of ``kind``; the names are checked now."""
    requirement = Requirement(kind, names(values, decorator), match)
    mode = route_dpop_mode(dpop)
    return lambda view: _protect(view, (requirement,), optional=False, dpop=mode)


def requires_role(*roles: str, dpop: str | None = None) -> Callable[[F], F]:
    """Require a token that carries **every** listed role: ``@requires_role("admin")``.

    Roles are read from ``CLAIMGUARD_ROLES_CLAIM``. A token without them is answered
    403 ``insufficient_scope`` (reason ``roles.missing``).

    :param roles: one or more role names, matched exactly.
    :param dpop: this route's DPoP mode (``"off"``, ``"allowed"``, ``"required"``) in
        place of ``CLAIMGUARD_DPOP_MODE``; the other decorators take it too.
    :raises TypeError: no role, a role that is not a non-empty string, or the decorator
        used without parentheses.
    """
    return _requiring("roles", "all", roles, "requires_role", dpop)


def requires_any_role(*roles: str, dpop: str | None = None) -> Callable[[F], F]:
    """Require a token that carries **at least one** listed role:
    ``@requires_any_role("editor", "admin")``.

    :param roles: one or more role names, matched exactly.
    :raises TypeError: as :func:`requires_role`.
    """
    return _requiring("roles", "any", roles, "requires_any_role", dpop)


def requires_scope(*scopes: str, dpop: str | None = None) -> Callable[[F], F]:
    """Require a token that grants **every** listed scope (the ``scope`` claim, or
    ``CLAIMGUARD_SCOPE_CLAIM``): ``@requires_scope("read:products")``.

    A token without them is answered 403 ``insufficient_scope`` with the ``scope``
    attribute naming what is needed (reason ``scopes.missing``).

    :param scopes: one or more scope names, matched exactly.
    :raises TypeError: as :func:`requires_role`.
    """
    return _requiring("scopes", "all", scopes, "requires_scope", dpop)


def requires_any_scope(*scopes: str, dpop: str | None = None) -> Callable[[F], F]:
    """Require a token that grants **at least one** listed scope, for instance a read
    scope or the broader one that includes it:
    ``@requires_any_scope("read:products", "admin:products")``.

    :param scopes: one or more scope names, matched exactly; a refusal's challenge
        names them all in its ``scope`` attribute (RFC 6750 §3).
    :raises TypeError: as :func:`requires_role`.
    """
    return _requiring("scopes", "any", scopes, "requires_any_scope", dpop)


def requires_permission(*permissions: str, dpop: str | None = None) -> Callable[[F], F]:
    """Require a token that carries **every** listed permission (Auth0 RBAC's
    ``permissions`` claim, or ``CLAIMGUARD_PERMISSIONS_CLAIM``):
    ``@requires_permission("delete:products")``.

    A token without them is answered 403 ``insufficient_scope`` (reason
    ``permissions.missing``).

    :param permissions: one or more permission names, matched exactly.
    :raises TypeError: as :func:`requires_role`.
    """
    return _requiring("permissions", "all", permissions, "requires_permission", dpop)


def requires_any_permission(*permissions: str, dpop: str | None = None) -> Callable[[F], F]:
    """Require a token that carries **at least one** listed permission.

    :param permissions: one or more permission names, matched exactly.
    :raises TypeError: as :func:`requires_role`.
    """
    return _requiring("permissions", "any", permissions, "requires_any_permission", dpop)
