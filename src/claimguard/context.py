"""The current request's verified token: ``get_current_token()`` and ``current_token``."""

from __future__ import annotations

from typing import cast

from flask import g
from werkzeug.local import LocalProxy

from .validation import VerifiedToken

__all__ = ["current_token", "get_current_token"]

_G_TOKEN = "_claimguard_token"


def get_current_token() -> VerifiedToken | None:
    """The request's :class:`~claimguard.VerifiedToken`, or ``None``.

    ``None`` means no token was verified for this request: the view is not protected,
    or it uses ``requires_auth(optional=True)`` and no token was sent. Use this
    function (not the proxy) for presence checks::

        token = get_current_token()
        if token is None:
            ...
    """
    token = g.get(_G_TOKEN)
    return token if isinstance(token, VerifiedToken) else None


def _set_current_token(token: VerifiedToken | None) -> None:
    # Written only after every check passed (the token verified, the requirements met).
    setattr(g, _G_TOKEN, token)


#: A proxy to :func:`get_current_token` for convenient attribute access in views:
#: ``current_token.subject``, ``current_token.roles``. It is falsy when no token was
#: verified; ``current_token is None`` is never true, so test with ``if not
#: current_token`` or use :func:`get_current_token`.
current_token: VerifiedToken = cast(VerifiedToken, LocalProxy(get_current_token))
