"""The ``flask claimguard`` group, and how its commands reach the app.

Each command loads the app itself, so that a failure to load it (no ``--app``, an app
factory refusing its ``CLAIMGUARD_*`` settings, an import error) is one line saying
what to fix, never a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from typing import TypeVar

import click
from flask import Flask
from flask import current_app
from flask.cli import NoAppException
from flask.cli import ScriptInfo

from ..errors import ConfigurationError
from ..request_check import AppState
from ..request_check import find_app_state

__all__ = ["ClaimGuardGroup", "cli", "guarded_app"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _with_app(function: _F) -> _F:
    """Run ``function`` inside the app's context, loading the app first when needed."""

    @click.pass_context
    @functools.wraps(function)
    def wrapper(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        if not current_app:
            try:
                app = ctx.ensure_object(ScriptInfo).load_app()
            except (click.ClickException, NoAppException):
                raise
            except ConfigurationError as exc:
                raise click.ClickException(f"the app refused its settings: {exc}") from None
            except Exception as exc:  # the user's factory: anything can go wrong there
                raise click.ClickException(
                    f"the app could not be loaded: {type(exc).__name__}: {exc}"
                ) from None
            ctx.with_resource(app.app_context())
        return ctx.invoke(function, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class ClaimGuardGroup(click.Group):
    """A command group whose commands run with the app loaded (see :func:`_with_app`)."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], click.Command]:  # type: ignore[override]
        def decorator(function: Callable[..., Any]) -> click.Command:
            return super(ClaimGuardGroup, self).command(*args, **kwargs)(_with_app(function))  # type: ignore[no-any-return]

        return decorator


cli = ClaimGuardGroup("claimguard", help="claimguard's tools for operators and developers.")


def guarded_app() -> tuple[Flask, AppState]:
    """The current app and its claimguard state.

    :raises click.ClickException: claimguard is not set up on the app.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    state = find_app_state()
    if state is None:
        raise click.ClickException(
            "claimguard is not set up on this app: call ClaimGuard(app) or "
            "guard.init_app(app) in the app factory"
        )
    return app, state
