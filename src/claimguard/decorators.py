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

from .requirements import Requirement
from .requirements import check_optional
from .requirements import names

__all__ = [
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


def is_preflight() -> bool:
    """Whether the current request is a CORS preflight (Fetch standard §3.2.2)."""
    return (
        request.method == "OPTIONS"
        and "HTTP_ORIGIN" in request.environ
        and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.environ
    )


def _options_answer(requirements: tuple[Requirement, ...], optional: bool) -> Any:
    """The answer to an ``OPTIONS`` on a protected view.

    A CORS preflight carries no credentials by design (Fetch standard): it gets Flask's
    default ``OPTIONS`` response without a token. Any other ``OPTIONS`` is
    authenticated like every other method, then gets the same default response. The
    view itself never runs for ``OPTIONS``.
    """
    from .extension import verify_current_request

    if not is_preflight():
        verify_current_request(requirements, optional=optional)
    return current_app.make_default_options_response()


def _protect(view: F, requirements: tuple[Requirement, ...], optional: bool) -> F:
    from .extension import verify_current_request

    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            environ = request.environ
            if environ.get("REQUEST_METHOD", "").upper() == "OPTIONS":
                return _options_answer(requirements, optional)
            verify_current_request(requirements, optional=optional, environ=environ)
            return await view(*args, **kwargs)

        wrapped: Any = async_wrapper
    else:

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            environ = request.environ
            if environ.get("REQUEST_METHOD", "").upper() == "OPTIONS":
                return _options_answer(requirements, optional)
            verify_current_request(requirements, optional=optional, environ=environ)
            return view(*args, **kwargs)

        wrapped = wrapper
    # Route OPTIONS to the wrapper instead of Flask's automatic answer, which would
    # skip the check (Flask reads both attributes in add_url_rule).
    wrapped.provide_automatic_options = False
    wrapped.required_methods = {"OPTIONS"}
    return wrapped  # type: ignore[no-any-return]


@overload
def requires_auth(view: F, /) -> F: ...
@overload
def requires_auth(*, optional: bool = False) -> Callable[[F], F]: ...
def requires_auth(view: F | None = None, /, *, optional: bool = False) -> F | Callable[[F], F]:
    """Require a valid access token. Works bare (``@requires_auth``) or called.

    :param optional: let a request *without* credentials through
        (:func:`~claimguard.get_current_token` is then ``None``). A token that is
        present but fails, or cannot be checked because keys are unavailable, is still
        refused: optional auth fails closed. It must be a real ``bool``: a string such
        as ``"false"`` read from the environment raises ``TypeError``.
    """
    if view is not None:
        if not callable(view):
            raise TypeError("requires_auth takes only keyword arguments: optional=True")
        return _protect(view, (), optional=False)
    is_optional = check_optional(optional, ())
    return lambda fn: _protect(fn, (), optional=is_optional)


def _factory(kind: str, match: str, decorator: str) -> Callable[..., Callable[[F], F]]:
    def make(*values: str) -> Callable[[F], F]:
        requirement = Requirement(kind, names(values, decorator), match)
        return lambda view: _protect(view, (requirement,), optional=False)

    make.__name__ = make.__qualname__ = decorator
    return make


requires_role = _factory("roles", "all", "requires_role")
requires_role.__doc__ = (
    """Require a token that carries **every** listed role: ``@requires_role("admin")``."""
)
requires_any_role = _factory("roles", "any", "requires_any_role")
requires_any_role.__doc__ = """Require a token that carries **at least one** listed role."""
requires_scope = _factory("scopes", "all", "requires_scope")
requires_scope.__doc__ = """Require every listed scope (the ``scope`` claim)."""
requires_any_scope = _factory("scopes", "any", "requires_any_scope")
requires_any_scope.__doc__ = """Require at least one listed scope."""
requires_permission = _factory("permissions", "all", "requires_permission")
requires_permission.__doc__ = """Require every listed permission (Auth0 RBAC ``permissions``)."""
requires_any_permission = _factory("permissions", "any", "requires_any_permission")
requires_any_permission.__doc__ = """Require at least one listed permission."""
