"""The current request's verified token: ``get_current_token()`` and ``current_token``.

Where it is kept, and why:

* In the request's WSGI environ, not on ``flask.g``. ``g`` belongs to the app context,
  and an app context that is already pushed (a test fixture, a nested dispatch) is
  reused by the next request: a token kept there would authenticate that request as the
  previous caller.
* Bound to the validator that verified it. One environ can pass through several apps
  (a dispatcher that hands the same request to a second Flask app), and each app has
  its own issuers and audiences: a token verified for one API proves nothing to
  another. Each app therefore only ever reads the token its own validator stored, and
  verifies the request again otherwise.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any
from typing import cast

from flask import current_app
from flask import has_request_context
from flask import request
from werkzeug.local import LocalProxy

from .validation import TokenValidator
from .validation import VerifiedToken

__all__ = ["current_token", "get_current_token"]

#: The key of ``app.extensions`` under which the extension keeps its per-app state.
EXTENSION_KEY = "claimguard"
#: The environ key of the request's verified tokens: ``{validator: VerifiedToken}``.
ENVIRON_KEY = "claimguard.tokens"


def stored_token(
    environ: MutableMapping[str, Any], validator: TokenValidator | None
) -> VerifiedToken | None:
    """The token ``validator`` verified for this request, if any."""
    tokens = environ.get(ENVIRON_KEY)
    if type(tokens) is not dict or validator is None:
        return None
    token = tokens.get(validator)
    return token if isinstance(token, VerifiedToken) else None


def store_token(
    environ: MutableMapping[str, Any], validator: TokenValidator, token: VerifiedToken
) -> None:
    """Remember that ``validator`` verified ``token`` for this request."""
    tokens = environ.get(ENVIRON_KEY)
    if type(tokens) is not dict:
        tokens = environ[ENVIRON_KEY] = {}
    tokens[validator] = token


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
    state = current_app.extensions.get(EXTENSION_KEY)
    return stored_token(request.environ, getattr(state, "validator", None))


#: A proxy to :func:`get_current_token` for convenient attribute access in views:
#: ``current_token.subject``, ``current_token.roles``. It is falsy when no token was
#: verified; ``current_token is None`` is never true, so test with ``if not
#: current_token`` or use :func:`get_current_token`.
current_token: VerifiedToken = cast(VerifiedToken, LocalProxy(get_current_token))
