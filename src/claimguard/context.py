"""The current request's verified token: ``get_current_token()`` and ``current_token``."""

from __future__ import annotations

from typing import cast

from flask import has_request_context
from flask import request
from werkzeug.local import LocalProxy

from .validation import VerifiedToken

__all__ = ["current_token", "get_current_token"]

#: Where the request's verified token is kept: in the WSGI environ of that request.
#: Not on ``flask.g``, which belongs to the app context: an app context that is already
#: pushed (a test fixture, a nested dispatch) is reused by the next request, and a
#: token kept there would authenticate it as the previous caller.
ENVIRON_KEY = "claimguard.token"


def get_current_token() -> VerifiedToken | None:
    """The request's :class:`~claimguard.VerifiedToken`, or ``None``.

    ``None`` means no token was verified for this request: the view is not protected,
    or it uses ``requires_auth(optional=True)`` and no token was sent. Use this
    function (not the proxy) for presence checks::

        token = get_current_token()
        if token is None:
            ...
    """
    if not has_request_context():
        return None
    token = request.environ.get(ENVIRON_KEY)
    return token if isinstance(token, VerifiedToken) else None


#: A proxy to :func:`get_current_token` for convenient attribute access in views:
#: ``current_token.subject``, ``current_token.roles``. It is falsy when no token was
#: verified; ``current_token is None`` is never true, so test with ``if not
#: current_token`` or use :func:`get_current_token`.
current_token: VerifiedToken = cast(VerifiedToken, LocalProxy(get_current_token))
