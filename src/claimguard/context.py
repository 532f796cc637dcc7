"""The current request's verified token: ``get_current_token()`` and ``current_token``.

The token is kept in the request's WSGI environ, bound to the validator of the app that
verified it (see :mod:`claimguard.request_check` for why): each app only ever sees the
token its own validator verified.
"""

from __future__ import annotations

from typing import cast

from flask import has_request_context
from flask import request
from werkzeug.local import LocalProxy

from .request_check import find_app_state
from .request_check import stored_token
from .token import VerifiedToken

__all__ = ["current_token", "get_current_token"]


def get_current_token() -> VerifiedToken | None:
    """The request's :class:`~claimguard.VerifiedToken`, or ``None``.

    ``None`` means this app verified no token for this request: the view is not
    protected, or it uses ``requires_auth(optional=True)`` and no token was sent. Use this
    function (not the proxy) for presence checks::

        token = get_current_token()
        if token is None:
            ...
    """
    if not has_request_context():
        return None
    state = find_app_state()
    return stored_token(request.environ, None if state is None else state.validator)


#: A proxy to :func:`get_current_token` for convenient attribute access in views:
#: ``current_token.subject``, ``current_token.roles``. It is falsy when no token was
#: verified; ``current_token is None`` is never true, so test with ``if not
#: current_token`` or use :func:`get_current_token`.
current_token: VerifiedToken = cast(VerifiedToken, LocalProxy(get_current_token))
